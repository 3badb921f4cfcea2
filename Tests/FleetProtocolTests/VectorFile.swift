import Foundation

/// Reads the language-neutral golden vector files under Protocol/vectors/ (the format is in
/// Protocol/README.md, "Vector files"). Only the text format lives here; which frame a vector's
/// fields describe is FleetGoldenVectors.swift's business.
struct VectorFile {
    struct Vector {
        var name: String
        var kind: String
        var bytes: [UInt8]
        var fields: [Field]
        /// "0001-hello.txt:5", for messages.
        var location: String
    }

    struct Field {
        var key: String
        var value: Substring
        var location: String
    }

    struct ParseError: Error, CustomStringConvertible {
        var location: String
        var problem: String
        var description: String { "\(location): \(problem)" }
    }

    /// The repository's Protocol/ folder, found from this source file so `swift test` works from
    /// any directory.
    static let protocolFolder: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Protocol")

    /// Every `*.txt` of `Protocol/vectors/<folder>` in file name order, each parsed on its own so
    /// one broken file does not hide the others.
    static func load(folder: String) throws -> [(file: String, vectors: Result<[Vector], any Error>)] {
        let dir = protocolFolder.appendingPathComponent("vectors").appendingPathComponent(folder)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".txt") }.sorted()
        return names.map { name in
            (name, Result { try parse(String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8), file: name) })
        }
    }

    private enum Section { case none, bytes, fields }

    static func parse(_ text: String, file: String) throws -> [Vector] {
        var vectors: [Vector] = []
        var section = Section.none
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let location = "\(file):\(index + 1)"
            let line = try stripComment(rawLine, at: location).trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let word = line.prefix { $0 != " " }
            let rest = line.dropFirst(word.count).trimmingCharacters(in: .whitespaces)
            switch word {
            case "vector":
                guard !rest.isEmpty else { throw ParseError(location: location, problem: "a vector needs a name") }
                vectors.append(Vector(name: rest, kind: "", bytes: [], fields: [], location: location))
                section = .none
            case "kind" where section == .none && !vectors.isEmpty:
                vectors[vectors.count - 1].kind = rest
            case "bytes" where rest.isEmpty && section == .none && !vectors.isEmpty:
                section = .bytes
            case "fields" where rest.isEmpty && section == .bytes:
                section = .fields
            default:
                switch section {
                case .bytes:
                    vectors[vectors.count - 1].bytes += try bytes(Substring(line), at: location)
                case .fields:
                    guard let eq = line.firstIndex(of: "=") else {
                        throw ParseError(location: location, problem: "expected `key = value`")
                    }
                    let key = line[..<eq].trimmingCharacters(in: .whitespaces)
                    let value = line[line.index(after: eq)...].drop { $0 == " " || $0 == "\t" }
                    guard !key.isEmpty, !key.contains(" ") else { throw ParseError(location: location, problem: "bad key") }
                    if vectors[vectors.count - 1].fields.contains(where: { $0.key == key }) {
                        throw ParseError(location: location, problem: "\(key) given twice")
                    }
                    vectors[vectors.count - 1].fields.append(Field(key: key, value: value, location: location))
                case .none:
                    throw ParseError(location: location, problem: "expected `vector`, `kind` or `bytes`, found \(word)")
                }
            }
        }
        for v in vectors where v.kind.isEmpty || v.bytes.isEmpty {
            throw ParseError(location: v.location, problem: "vector \(v.name) lacks its kind or bytes")
        }
        return vectors
    }

    /// The line without its `#` comment; a `#` inside a quoted string is text ("b/#").
    static func stripComment(_ line: Substring, at location: String) throws -> String {
        var out = ""
        var quoted = false
        var escaped = false
        for ch in line {
            if quoted {
                if escaped { escaped = false } else if ch == "\\" { escaped = true } else if ch == "\"" { quoted = false }
            } else if ch == "#" {
                break
            } else if ch == "\"" {
                quoted = true
            }
            out.append(ch)
        }
        if quoted { throw ParseError(location: location, problem: "unterminated string") }
        return out
    }

    /// The byte grammar: whitespace-separated tokens, each an even run of hex digits ("00",
    /// "0102") or a quoted string whose UTF-8 bytes are taken as they are. Empty text is no bytes.
    static func bytes(_ text: Substring, at location: String) throws -> [UInt8] {
        var out: [UInt8] = []
        var rest = text[...]
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            guard let first = rest.first else { return out }
            if first == "\"" {
                let (string, after) = try quoted(rest, at: location)
                out += Array(string.utf8)
                rest = after
            } else {
                let token = rest.prefix { $0 != " " && $0 != "\t" }
                guard token.count % 2 == 0, token.allSatisfy(\.isHexDigit) else {
                    throw ParseError(location: location, problem: "bad byte token \(token)")
                }
                var i = token.startIndex
                while i < token.endIndex {
                    let j = token.index(i, offsetBy: 2)
                    out.append(UInt8(token[i..<j], radix: 16)!)
                    i = j
                }
                rest = rest.dropFirst(token.count)
            }
        }
    }

    /// A quoted string at the start of `text` (escapes \\ \" \n \r \t), and what follows it.
    static func quoted(_ text: Substring, at location: String) throws -> (String, Substring) {
        var out = ""
        var i = text.index(after: text.startIndex)
        while i < text.endIndex {
            let ch = text[i]
            if ch == "\"" { return (out, text[text.index(after: i)...]) }
            if ch == "\\" {
                i = text.index(after: i)
                guard i < text.endIndex else { break }
                switch text[i] {
                case "\\": out.append("\\")
                case "\"": out.append("\"")
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                default: throw ParseError(location: location, problem: "unknown escape \\\(text[i])")
                }
            } else {
                out.append(ch)
            }
            i = text.index(after: i)
        }
        throw ParseError(location: location, problem: "unterminated string")
    }
}
