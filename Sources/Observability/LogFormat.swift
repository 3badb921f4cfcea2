/// How an executable writes its log lines (`--log-format`, `log_format:` in a config file).
public enum LogFormat: String, Sendable, CaseIterable {
    /// swift-log's StreamLogHandler lines, as before the option existed:
    /// `2026-12-07T22:51:00+0000 info fleetgate-agent: [FleetAgent] message`.
    case text
    /// One JSON object per line: `ts`, `level`, `logger`, `message`, then the metadata as fields.
    case json

    /// "expected text or json": for config errors that name the flag or key.
    public static var expectation: String { "expected " + allCases.map(\.rawValue).joined(separator: " or ") }
}

import Logging

extension LogFormat {
    /// Makes every logger of the process write in this format at `level`: both executables call
    /// it once, before anything logs (swift-log allows one bootstrap per process).
    public func bootstrap(level: Logger.Level) {
        switch self {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        case .json:
            // Hummingbird's loggers as well as our own: every line of the process.
            LoggingSystem.bootstrap { label in FleetLogHandler(label: label, level: level) }
        }
    }
}
