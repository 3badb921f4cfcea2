"""A reader for the golden vector files of Protocol/vectors (format: Protocol/README.md), in
plain Python: what an implementer in another language writes to use them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

VECTORS = Path(__file__).resolve().parents[2] / "Protocol" / "vectors"
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}


@dataclass
class Vector:
    name: str
    where: str
    kind: str = ""
    data: bytes = b""
    fields: dict[str, str] = field(default_factory=dict)  # key -> raw value text


def _quoted(text: str, i: int) -> tuple[str, int]:
    """The string starting at text[i] == '"', and the index after its closing quote."""
    out, i = [], i + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            i += 1
            out.append(_ESCAPES[text[i]])
        else:
            out.append(c)
        i += 1
    raise ValueError("unterminated string")


def _strip_comment(line: str) -> str:
    quoted = escaped = False
    for i, c in enumerate(line):
        if quoted:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                quoted = False
        elif c == "#":
            return line[:i]
        elif c == '"':
            quoted = True
    return line


def byte_string(text: str) -> bytes:
    """Hex runs ("00", "0102") and quoted strings (their UTF-8), separated by spaces."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] in " \t":
            i += 1
        elif text[i] == '"':
            s, i = _quoted(text, i)
            out += s.encode()
        else:
            token = re.match(r"[^ \t]*", text[i:]).group(0)
            assert len(token) % 2 == 0, f"odd hex run {token}"
            out += bytes.fromhex(token)
            i += len(token)
    return bytes(out)


def text(value: str) -> str:
    s, end = _quoted(value, 0)
    assert value[end:].strip() == "", value
    return s


def integer(value: str) -> int:
    return int(value, 0)


def boolean(value: str) -> bool:
    return {"true": True, "false": False}[value]


def items(fields: dict[str, str], key: str) -> list[str]:
    """The values of key.0, key.1, ... (a scalar list)."""
    out = []
    while f"{key}.{len(out)}" in fields:
        out.append(fields[f"{key}.{len(out)}"])
    return out


def records(fields: dict[str, str], key: str) -> int:
    """How many records a list of records has (key.0.x, key.1.x, ...)."""
    n = 0
    while any(k.startswith(f"{key}.{n}.") for k in fields):
        n += 1
    return n


def load(folder: str) -> list[Vector]:
    vectors: list[Vector] = []
    for path in sorted((VECTORS / folder).glob("*.txt")):
        section = None
        for n, raw in enumerate(path.read_text("utf-8").split("\n"), 1):
            line = _strip_comment(raw).strip()
            if not line:
                continue
            word, _, rest = line.partition(" ")
            if word == "vector":
                vectors.append(Vector(rest.strip(), f"{path.name}:{n}"))
                section = None
            elif word == "kind" and section is None:
                vectors[-1].kind = rest.strip()
            elif line == "bytes" and section is None:
                section = "bytes"
            elif line == "fields" and section == "bytes":
                section = "fields"
            elif section == "bytes":
                vectors[-1].data += byte_string(line)
            elif section == "fields":
                key, _, value = line.partition("=")
                assert key.strip() not in vectors[-1].fields, f"{path.name}:{n}: {key} twice"
                vectors[-1].fields[key.strip()] = value.strip()
            else:
                raise ValueError(f"{path.name}:{n}: unexpected {line!r}")
    return vectors
