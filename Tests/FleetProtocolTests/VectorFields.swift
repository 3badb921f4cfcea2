/// A vector's `key = value` fields, read by type (Protocol/README.md, "Vector files"). Every key
/// must be read exactly once: `finish()` throws for one nobody asked for, so a misspelt or
/// stray field in a file fails the test instead of being ignored.
final class VectorFields {
    private let fields: [VectorFile.Field]
    private let prefix: String
    private let used: UsedKeys
    private let location: String

    final class UsedKeys { var keys: Set<String> = [] }

    init(_ vector: VectorFile.Vector) {
        fields = vector.fields
        prefix = ""
        used = UsedKeys()
        location = vector.location
    }

    private init(parent: VectorFields, prefix: String) {
        fields = parent.fields
        self.prefix = prefix
        used = parent.used
        location = parent.location
    }

    private func fail(_ problem: String) -> VectorFile.ParseError {
        VectorFile.ParseError(location: location, problem: problem)
    }

    private func raw(_ key: String) throws -> (Substring, String) {
        let full = prefix + key
        guard let f = fields.first(where: { $0.key == full }) else { throw fail("missing field \(full)") }
        used.keys.insert(full)
        return (f.value, f.location)
    }

    func has(_ key: String) -> Bool { fields.contains { $0.key == prefix + key } }

    /// A quoted string.
    func string(_ key: String) throws -> String {
        let (value, at) = try raw(key)
        guard value.first == "\"" else { throw VectorFile.ParseError(location: at, problem: "\(key): expected a quoted string") }
        let (s, rest) = try VectorFile.quoted(value, at: at)
        guard rest.allSatisfy({ $0 == " " || $0 == "\t" }) else { throw VectorFile.ParseError(location: at, problem: "\(key): text after the string") }
        return s
    }

    /// Bytes in the byte grammar (hex, quoted strings); an empty value is no bytes.
    func bytes(_ key: String) throws -> [UInt8] {
        let (value, at) = try raw(key)
        return try VectorFile.bytes(value, at: at)
    }

    /// An integer in decimal, `0x` hex, or with a leading `-`; it must fit `T`.
    func int<T: FixedWidthInteger>(_ key: String, as _: T.Type = T.self) throws -> T {
        let (value, at) = try raw(key)
        let text = value.trimmingSuffix(while: \.isWhitespace)
        let negative = text.hasPrefix("-")
        let digits = negative ? text.dropFirst() : text
        let magnitude = digits.hasPrefix("0x") ? UInt64(digits.dropFirst(2), radix: 16) : UInt64(digits, radix: 10)
        guard let magnitude,
              let n = negative ? (magnitude <= UInt64(Int64.max) ? T(exactly: -Int64(magnitude)) : nil) : T(exactly: magnitude)
        else { throw VectorFile.ParseError(location: at, problem: "\(key): \(text) is not a \(T.self)") }
        return n
    }

    /// `true` or `false`.
    func bool(_ key: String) throws -> Bool {
        let (value, at) = try raw(key)
        switch value.trimmingSuffix(while: \.isWhitespace) {
        case "true": return true
        case "false": return false
        default: throw VectorFile.ParseError(location: at, problem: "\(key): expected true or false")
        }
    }

    /// The items `key.0`, `key.1`, ... (none: an empty list). `item` reads one: a scalar list
    /// reads `""` from its reader (`key.N` itself), a list of records reads `key.N.field`.
    func list<T>(_ key: String, _ item: (VectorFields, String) throws -> T) throws -> [T] {
        var out: [T] = []
        while true {
            let itemKey = "\(key).\(out.count)"
            let full = prefix + itemKey
            guard fields.contains(where: { $0.key == full || $0.key.hasPrefix(full + ".") }) else { break }
            out.append(try item(self, itemKey))
        }
        return out
    }

    /// The record at `key.` (for `list`: a record's fields).
    func record(_ key: String) -> VectorFields { VectorFields(parent: self, prefix: prefix + key + ".") }

    /// Throws for the first field no reader asked for.
    func finish() throws {
        if let stray = fields.first(where: { !used.keys.contains($0.key) }) {
            throw VectorFile.ParseError(location: stray.location, problem: "field \(stray.key) is not part of this frame")
        }
    }
}

private extension Substring {
    func trimmingSuffix(while predicate: (Character) -> Bool) -> Substring {
        var s = self
        while let last = s.last, predicate(last) { s = s.dropLast() }
        return s
    }
}
