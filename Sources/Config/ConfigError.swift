/// A configuration problem, named precisely enough to fix without guessing: the file, the line and
/// the key (or the flag) that is wrong.
public struct ConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String?
    public let line: Int?
    public let key: String
    public let message: String

    public init(file: String?, line: Int?, key: String, message: String) {
        self.file = file; self.line = line; self.key = key; self.message = message
    }

    public var description: String {
        var place = file ?? "command line"
        if let line { place += ":\(line)" }
        return "\(place): \(key): \(message)"
    }
}
