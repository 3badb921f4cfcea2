#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Logging

/// A swift-log handler that writes each record as one JSON object on one line of standard error
/// (`--log-format json`): `ts` (RFC 3339, UTC, milliseconds), `level`, `logger` (the label),
/// `message`, `source` (the module), then the metadata, each value a string (nested values
/// flattened with dotted keys). One `write(2)` per record, so lines from several threads never
/// interleave.
public struct FleetLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: @Sendable (String) -> Void

    public init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
                sink: @escaping @Sendable (String) -> Void = FleetLogHandler.writeStandardError) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error {
            merged["error.message"] = "\(error)"
            merged["error.type"] = "\(String(reflecting: type(of: error)))"
        }
        var fields: [(String, String)] = [("source", event.source)]
        for key in merged.keys.sorted() { Self.flatten(merged[key]!, key: key, into: &fields) }
        let line = LogLine(timestamp: Self.timestamp(), level: event.level.rawValue, logger: label,
                           message: event.message.description, fields: fields)
        sink(line.json)
    }

    @available(*, deprecated, renamed: "log(event:)")
    public func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
                    file: String, function: String, line: UInt) {
        log(event: LogEvent(level: level, message: message, metadata: metadata, source: source, file: file, function: function, line: line))
    }

    /// `a: [b: 1]` becomes `a.b = "1"`; an array becomes `a.0`, `a.1`, ...
    static func flatten(_ value: Logger.Metadata.Value, key: String, into fields: inout [(String, String)]) {
        switch value {
        case .string(let s): fields.append((key, s))
        case .stringConvertible(let c): fields.append((key, c.description))
        case .dictionary(let d): for k in d.keys.sorted() { flatten(d[k]!, key: key + "." + k, into: &fields) }
        case .array(let a): for (i, v) in a.enumerated() { flatten(v, key: key + ".\(i)", into: &fields) }
        }
    }

    /// "2026-12-07T22:51:00.123Z".
    public static func timestamp() -> String {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return timestamp(seconds: Int(ts.tv_sec), milliseconds: Int(ts.tv_nsec / 1_000_000))
    }

    static func timestamp(seconds: Int, milliseconds: Int) -> String {
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func pad(_ v: Int32, _ width: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(milliseconds), 3))Z"
    }

    /// The default sink: the whole line in one write to descriptor 2 (retried on a short write).
    @Sendable public static func writeStandardError(_ line: String) {
        var bytes = Array(line.utf8)
        var offset = 0
        bytes.withUnsafeMutableBytes { buffer in
            while offset < buffer.count {  // bounded: each pass writes >= 1 byte or stops
                let n = write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
    }

    /// A line that is not a log record of any logger (a config error before logging starts),
    /// in the same JSON shape, so a `--log-format json` process writes nothing else.
    public static func record(level: Logger.Level, logger: String, message: String, fields: [(String, String)] = []) -> String {
        LogLine(timestamp: timestamp(), level: level.rawValue, logger: logger, message: message, fields: fields).json
    }
}
