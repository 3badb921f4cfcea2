import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the admin API is and what token to present: from `--coordinator` / `--token-file`, or
/// `FLEETGATE_COORDINATOR` / `FLEETGATE_TOKEN_FILE`, or the defaults of `make run`.
public struct AdminEndpoint: Sendable, Equatable {
    public static let defaultAddress = "http://127.0.0.1:8080"

    /// `http(s)://host:port` with no trailing slash (a path prefix is kept, for a proxy).
    public var base: String
    public var token: String?

    public init(base: String, token: String?) {
        self.base = base
        self.token = token
    }

    /// `127.0.0.1:8080`, `http://h:8080/` or `https://h` -> the base URL; nil for another scheme
    /// or something that is not a URL.
    public static func base(_ text: String) -> String? {
        var s = text.trimmingCharacters(in: .whitespaces)
        if !s.contains("://") { s = "http://" + s }
        while s.hasSuffix("/") { s.removeLast() }
        guard let url = URL(string: s), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.query == nil, url.fragment == nil else { return nil }
        return s
    }

    /// The token in a file: its content, trimmed (the coordinator trims its own files the same way).
    public static func token(file: String) throws(CLIFailure) -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw CLIFailure(.usage, "--token-file \(file): cannot be read")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw CLIFailure(.usage, "--token-file \(file): is empty") }
        return token
    }
}

/// An HTTP answer from the admin API.
public struct AdminResponse: Sendable {
    public var status: Int
    public var body: Data
}

/// Sends `AdminRequest`s with URLSession (FoundationNetworking on Linux): no other dependency, so
/// the CLI does not link the agent's runtime or Hummingbird.
public struct AdminClient: Sendable {
    public let endpoint: AdminEndpoint
    public let timeout: TimeInterval
    private let session: URLSession

    public init(endpoint: AdminEndpoint, timeout: TimeInterval = 10) {
        self.endpoint = endpoint
        self.timeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        configuration.httpShouldSetCookies = false
        configuration.urlCache = nil
        session = URLSession(configuration: configuration)
    }

    /// The raw answer, whatever its status; throws only when no answer came (exit 2).
    public func send(_ request: AdminRequest) async throws(CLIFailure) -> AdminResponse {
        guard let url = URL(string: endpoint.base + request.target) else {
            throw CLIFailure(.usage, "not a valid URL: \(endpoint.base + request.target)")
        }
        var r = URLRequest(url: url, timeoutInterval: timeout)
        r.httpMethod = request.method.rawValue
        if let token = endpoint.token { r.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        r.setValue("application/json", forHTTPHeaderField: "Accept")
        if let body = request.body {
            r.httpBody = body
            r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        do {
            let (data, response) = try await session.data(for: r)
            guard let http = response as? HTTPURLResponse else {
                throw CLIFailure(.server, "\(endpoint.base): not an HTTP answer")
            }
            return AdminResponse(status: http.statusCode, body: data)
        } catch let failure as CLIFailure {
            throw failure
        } catch {
            throw CLIFailure(.unreachable, "cannot reach the coordinator at \(endpoint.base): \(Self.describe(error))")
        }
    }

    /// The body of a 2xx answer; any other status becomes the failure that names it, with the
    /// API's own `{"error", "code"}` message (docs/COORDINATOR.md).
    public func call(_ request: AdminRequest) async throws(CLIFailure) -> Data {
        let response = try await send(request)
        if let failure = Self.failure(for: response, request: request, endpoint: endpoint) { throw failure }
        return response.body
    }

    /// Decodes a 2xx answer as `T`; an unreadable one is a server problem (exit 6).
    public func call<T: Decodable>(_ request: AdminRequest, as type: T.Type) async throws(CLIFailure) -> (T, Data) {
        let data = try await call(request)
        return (try Self.decode(type, from: data, request: request), data)
    }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data, request: AdminRequest) throws(CLIFailure) -> T {
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw CLIFailure(.server, "\(request.method.rawValue) \(request.target): unexpected answer (\(error))")
        }
    }

    /// nil for 2xx; else the failure with its exit status and the server's message. Pure.
    public static func failure(for response: AdminResponse, request: AdminRequest, endpoint: AdminEndpoint) -> CLIFailure? {
        let status = FleetExit.forHTTP(response.status)
        guard status != .ok else {
            return (300..<400).contains(response.status)
                ? CLIFailure(.server, "\(request.method.rawValue) \(request.target): unexpected redirect \(response.status)") : nil
        }
        var message = "\(request.method.rawValue) \(request.target): \(response.status)"
        if let object = try? JSONSerialization.jsonObject(with: response.body) as? [String: Any] {
            if let code = object["code"] as? String { message += " \(code)" }
            if let text = object["error"] as? String { message += ": \(text)" }
        } else if !response.body.isEmpty {
            message += ": " + String(decoding: response.body.prefix(200), as: UTF8.self)
        }
        // The server's 403 already says to use the admin token; a 401 needs a hint about where
        // the CLI looked for one.
        if response.status == 401 {
            message += endpoint.token == nil ? " (no token given: --token-file FILE or FLEETGATE_TOKEN_FILE)" : " (check the token file)"
        }
        return CLIFailure(status, message)
    }

    private static func describe(_ error: Error) -> String {
        if let e = error as? URLError {
            switch e.code {
            case .cannotConnectToHost: return "connection refused"
            case .timedOut: return "timed out"
            case .cannotFindHost, .dnsLookupFailed: return "unknown host"
            case .notConnectedToInternet, .networkConnectionLost: return "network unreachable or connection lost"
            case .cancelled: return "cancelled"
            default: return e.localizedDescription
            }
        }
        return "\(error)"
    }
}
