/// The statuses the metrics endpoint answers with.
public enum HTTPStatus: Int, Sendable {
    case ok = 200
    case badRequest = 400
    case notFound = 404
    case methodNotAllowed = 405
    case requestTimeout = 408
    case headerFieldsTooLarge = 431
    case serviceUnavailable = 503
    case versionNotSupported = 505

    public var reason: String {
        switch self {
        case .ok: return "OK"
        case .badRequest: return "Bad Request"
        case .notFound: return "Not Found"
        case .methodNotAllowed: return "Method Not Allowed"
        case .requestTimeout: return "Request Timeout"
        case .headerFieldsTooLarge: return "Request Header Fields Too Large"
        case .serviceUnavailable: return "Service Unavailable"
        case .versionNotSupported: return "HTTP Version Not Supported"
        }
    }
}

/// A complete HTTP/1.1 response that ends its connection (`Connection: close`): the endpoint
/// serves one request per connection, which is what a scraper does anyway.
public struct HTTPAnswer: Sendable, Equatable {
    public var status: HTTPStatus
    public var contentType: String
    public var extraHeaders: [HTTPHeaderField] = []
    public var body: [UInt8]
    /// HEAD: the headers of the GET, without its body.
    public var omitBody = false

    public init(status: HTTPStatus, contentType: String = "text/plain; charset=utf-8", body: String, extraHeaders: [HTTPHeaderField] = []) {
        self.status = status; self.contentType = contentType; self.body = Array(body.utf8); self.extraHeaders = extraHeaders
    }

    public var bytes: [UInt8] {
        var head = "HTTP/1.1 \(status.rawValue) \(status.reason)\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        for h in extraHeaders { head += "\(h.name): \(h.value)\r\n" }
        head += "Connection: close\r\n\r\n"
        return Array(head.utf8) + (omitBody ? [] : body)
    }

    /// An error answer with a one-line plain-text body saying why.
    public static func error(_ status: HTTPStatus, _ why: String, extraHeaders: [HTTPHeaderField] = []) -> HTTPAnswer {
        HTTPAnswer(status: status, body: why + "\n", extraHeaders: extraHeaders)
    }
}

/// What the agent's metrics listener answers: `GET /metrics` (and HEAD) get the exposition,
/// any other path 404, another method on /metrics 405 with `Allow`, a refused head its status.
public enum MetricsRoute {
    public static let path = "/metrics"
    /// Prometheus text exposition format 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    public static func response(to head: Result<HTTPRequestHead, HTTPHeadError>, exposition: () -> String) -> HTTPAnswer {
        let request: HTTPRequestHead
        switch head {
        case .failure(let e): return .error(e.status, "\(e)")
        case .success(let h): request = h
        }
        guard request.path == path else { return .error(.notFound, "only \(path) is served here") }
        switch request.method {
        case "GET", "HEAD":
            var r = HTTPAnswer(status: .ok, contentType: contentType, body: exposition())
            r.omitBody = request.method == "HEAD"
            return r
        default:
            return .error(.methodNotAllowed, "\(path) answers GET and HEAD", extraHeaders: [HTTPHeaderField("Allow", "GET, HEAD")])
        }
    }
}
