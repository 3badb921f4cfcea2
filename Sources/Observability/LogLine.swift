/// One log record rendered as one JSON line (no I/O here; ``FleetLogHandler`` writes it).
///
/// Metadata values are already strings (swift-log's nested dictionaries and arrays are
/// flattened by the handler); the keys `ts`, `level`, `logger`, `message`, `source` belong to
/// the record, so a metadata key of the same name is written as `meta.<key>` in JSON.
public struct LogLine: Sendable, Equatable {
    public var timestamp: String
    public var level: String
    public var logger: String
    public var message: String
    public var fields: [(String, String)]

    public init(timestamp: String, level: String, logger: String, message: String, fields: [(String, String)] = []) {
        self.timestamp = timestamp; self.level = level; self.logger = logger; self.message = message; self.fields = fields
    }

    public static func == (a: LogLine, b: LogLine) -> Bool {
        a.timestamp == b.timestamp && a.level == b.level && a.logger == b.logger && a.message == b.message
            && a.fields.elementsEqual(b.fields, by: { $0 == $1 })
    }

    static let reservedKeys: Set<String> = ["ts", "level", "logger", "message"]

    /// The JSON object, with its trailing newline.
    public var json: String {
        var out = "{\"ts\":" + JSONString.quoted(timestamp)
        out += ",\"level\":" + JSONString.quoted(level)
        out += ",\"logger\":" + JSONString.quoted(logger)
        out += ",\"message\":" + JSONString.quoted(message)
        var seen = Self.reservedKeys
        for (k, v) in fields {
            var key = k
            while seen.contains(key) { key = "meta." + key }  // never a duplicate key in one object
            seen.insert(key)
            out += "," + JSONString.quoted(key) + ":" + JSONString.quoted(v)
        }
        return out + "}\n"
    }
}

/// JSON string literals (RFC 8259 §7): quote, backslash and control characters escaped;
/// everything else, non-ASCII included, is written as UTF-8.
enum JSONString {
    static func quoted(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
