// A child's output as lines (ChildProcess.swift): bytes split at newlines with a bound on a line,
// and the last lines kept within a byte budget. Pure values; no I/O.

/// Splits one output stream into lines. A line longer than `maxLineBytes` is handed on in pieces
/// (cut at a UTF-8 boundary), so a child that never writes a newline costs bounded memory.
struct LineSplitter {
    /// Bytes since the last newline.
    private var pending: [UInt8] = []
    let maxLineBytes: Int

    init(maxLineBytes: Int) { self.maxLineBytes = max(4, maxLineBytes) }

    /// Every complete line in `pending + bytes`, without its "\n" (nor a "\r" before it).
    mutating func feed(_ bytes: UnsafeRawBufferPointer, _ line: (String) -> Void) {
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                line(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
                continue
            }
            pending.append(byte)
            if pending.count >= maxLineBytes {
                let cut = utf8PrefixLength(pending, atMost: maxLineBytes)
                line(String(decoding: pending[..<cut], as: UTF8.self))
                pending.removeFirst(cut)
            }
        }
    }

    /// The last line, if it had no newline (end of the stream).
    mutating func finish(_ line: (String) -> Void) {
        guard !pending.isEmpty else { return }
        line(String(decoding: pending, as: UTF8.self))
        pending = []
    }
}

/// The last lines of a child's output, joined with "\n", never more than `maxBytes` of UTF-8.
/// When the lines kept do not fit, the oldest are dropped and the first one kept loses its start,
/// cut at a character boundary, so the tail is always valid UTF-8 within the budget.
struct OutputTail {
    let maxBytes: Int
    private var lines: [String] = []
    /// UTF-8 bytes of `lines` joined with "\n".
    private var bytes = 0

    init(maxBytes: Int) { self.maxBytes = max(0, maxBytes) }

    mutating func append(_ line: String) {
        bytes += (lines.isEmpty ? 0 : 1) + line.utf8.count
        lines.append(line)
        // Lines wholly outside the budget go; the one that straddles it stays until `text`.
        while lines.count > 1, bytes - lines[0].utf8.count - 1 >= maxBytes {
            bytes -= lines[0].utf8.count + 1
            lines.removeFirst()
        }
    }

    var text: String {
        var joined = Array(lines.joined(separator: "\n").utf8)
        guard joined.count > maxBytes else { return String(decoding: joined, as: UTF8.self) }
        var start = joined.count - maxBytes
        // Skip continuation bytes (10xxxxxx): start on the first byte of a character.
        while start < joined.count, joined[start] & 0xC0 == 0x80 { start += 1 }
        joined.removeFirst(start)
        return String(decoding: joined, as: UTF8.self)
    }
}

/// The longest prefix of `bytes` of at most `limit` bytes that ends on a character boundary: it
/// neither splits the character after it nor ends inside an incomplete one. Falls back to `limit`
/// for bytes that are not UTF-8 at all.
func utf8PrefixLength(_ bytes: [UInt8], atMost limit: Int) -> Int {
    let n = min(bytes.count, limit)
    guard n > 0 else { return 0 }
    // The first byte of the last character that starts inside the prefix.
    var start = n - 1
    while start > 0, n - start < 4, bytes[start] & 0xC0 == 0x80 { start -= 1 }
    let lead = bytes[start]
    let length = lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
    if start + length <= n { return n }     // it ends inside the prefix
    return start > 0 ? start : n
}

/// `text` cut to at most `maxBytes` of UTF-8, keeping its end, at a character boundary.
public func utf8Suffix(_ text: String, maxBytes: Int) -> String {
    var tail = OutputTail(maxBytes: maxBytes)
    tail.append(text)
    return tail.text
}
