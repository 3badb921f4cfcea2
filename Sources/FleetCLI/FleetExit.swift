/// The process exit status of `fleetgate`: what failed, so a script can tell "the coordinator is
/// down" from "the token is wrong" from "no such gateway" without parsing messages. Documented in
/// `fleetgate --help` and the README; the values never change meaning.
public enum FleetExit: Int32, Sendable, CaseIterable {
    case ok = 0
    /// Bad arguments (argument-parser's usage errors are mapped here, not to its default 64).
    case usage = 1
    /// The coordinator could not be reached: refused, no route, DNS, TLS, timeout.
    case unreachable = 2
    /// 401 or 403: no token, a wrong one, or the read token on a write.
    case auth = 3
    /// 404: no such gateway, run, mapping, socket or client.
    case notFound = 4
    /// Any other 4xx: the request was refused as invalid or conflicting (400, 409, 413, ...).
    case refused = 5
    /// 5xx, or an answer the CLI cannot read.
    case server = 6
    /// The coordinator has no endpoint for this command yet (e.g. closing a socket).
    case unsupported = 7

    /// The status for an HTTP answer; `ok` for 1xx-3xx (the client follows no redirects; 3xx is
    /// handled as `server` by the caller when it matters).
    public static func forHTTP(_ status: Int) -> FleetExit {
        switch status {
        case 200..<300: return .ok
        case 401, 403: return .auth
        case 404: return .notFound
        case 400..<500: return .refused
        default: return .server
        }
    }

    /// What each status means, one line each, for `--help` and the README.
    public var meaning: String {
        switch self {
        case .ok: return "ok"
        case .usage: return "usage: bad arguments, unreadable --token-file or input file"
        case .unreachable: return "the coordinator could not be reached (refused, DNS, TLS, timeout)"
        case .auth: return "401/403: no token, a wrong one, or the read token on a write"
        case .notFound: return "404: no such gateway, run, mapping, socket or client"
        case .refused: return "another 4xx: invalid request or conflict (400, 409, ...)"
        case .server: return "5xx, or an answer the CLI cannot read"
        case .unsupported: return "the coordinator has no endpoint for this command"
        }
    }

    public static var legend: String {
        "Exit status:\n" + allCases.map { "  \($0.rawValue)  \($0.meaning)" }.joined(separator: "\n")
    }
}

/// A failure that ends the command: a message for stderr and the exit status that names it.
public struct CLIFailure: Error, Sendable, Equatable {
    public var status: FleetExit
    public var message: String

    public init(_ status: FleetExit, _ message: String) {
        self.status = status
        self.message = message
    }
}
