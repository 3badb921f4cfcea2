/// The values ``HTTPClient`` takes and gives: plain Sendable data, no C.

/// Header fields in order, names compared without regard to case (RFC 9110 §5.1).
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}

    public init(_ fields: [(name: String, value: String)]) {
        self.fields = fields
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        fields = elements.map { (name: $0.0, value: $0.1) }
    }

    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// The first value of `name` (any case), or nil.
    public subscript(name: String) -> String? {
        fields.first { Self.sameName($0.name, name) }?.value
    }

    /// Every value of `name` (any case), in order.
    public func values(for name: String) -> [String] {
        fields.filter { Self.sameName($0.name, name) }.map(\.value)
    }

    public func contains(_ name: String) -> Bool { self[name] != nil }

    public var count: Int { fields.count }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy { $0.name == $1.name && $0.value == $1.value }
    }

    /// ASCII case-insensitive comparison (header names are ASCII tokens).
    static func sameName(_ a: String, _ b: String) -> Bool {
        let x = a.utf8, y = b.utf8
        guard x.count == y.count else { return false }
        return zip(x, y).allSatisfy { lower($0) == lower($1) }
    }

    private static func lower(_ byte: UInt8) -> UInt8 {
        byte >= 65 && byte <= 90 ? byte + 32 : byte
    }
}

public enum HTTPMethod: String, Sendable {
    case get = "GET", head = "HEAD", post = "POST", put = "PUT", patch = "PATCH", delete = "DELETE"
}

/// One request for ``HTTPClient/send(_:completion:)``.
public struct HTTPRequest: Sendable {
    /// POST by default: a webhook call.
    public var method: HTTPMethod
    /// `http://` or `https://` only; anything else fails with `.invalidRequest`.
    public var url: String
    /// Sent as given. Names and values must not contain CR or LF (`.invalidRequest` otherwise:
    /// no header injection from a mapping's configuration). Without a `Content-Type` none is sent
    /// (curl would otherwise claim a form).
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The whole request, from `send` (time spent queued included) to the last response byte.
    public var timeoutMs: UInt32
    /// PEM file of the CAs to trust for https; nil: the system's CA bundle.
    public var caFile: String?
    /// Overrides the client's `maximumResponseBodyBytes` for this request when set.
    public var maximumResponseBodyBytes: Int?

    public init(method: HTTPMethod = .post, url: String, headers: HTTPHeaders = [:], body: [UInt8] = [],
                timeoutMs: UInt32 = 5_000, caFile: String? = nil, maximumResponseBodyBytes: Int? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeoutMs = timeoutMs
        self.caFile = caFile
        self.maximumResponseBodyBytes = maximumResponseBodyBytes
    }
}

/// A complete response. Any status is a response (a 500 is not an ``HTTPClientError``).
public struct HTTPResponse: Sendable {
    public var status: Int
    /// The final response's headers (those of interim 1xx responses are dropped).
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// The request went over a connection kept alive from an earlier request.
    public var reusedConnection: Bool

    public init(status: Int, headers: HTTPHeaders, body: [UInt8], reusedConnection: Bool = false) {
        self.status = status
        self.headers = headers
        self.body = body
        self.reusedConnection = reusedConnection
    }
}

/// Why a request produced no response: a kind to act on and a text for people.
public struct HTTPClientError: Error, Sendable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Not http/https, malformed URL, CR/LF in a header.
        case invalidRequest
        /// The host name did not resolve.
        case dns
        /// The TCP connection could not be made (refused, unreachable).
        case connect
        /// `timeoutMs` passed (queued, connecting, or waiting for the response).
        case timeout
        /// TLS handshake or certificate verification failed, or the CA file is unusable.
        case tls
        /// The response body (or headers) passed the limit; the connection was dropped.
        case responseTooLarge
        /// The connection broke while sending or receiving (e.g. closed mid-response).
        case connectionLost
        /// The server's answer was not HTTP.
        case badResponse
        /// The client's queue was full (``HTTPClient/Configuration/maximumQueuedRequests``).
        case overloaded
        /// The client was closed before the request finished.
        case closed
        case other
    }

    public let kind: Kind
    /// What failed, e.g. "connect: Failed to connect to 127.0.0.1 port 9: Connection refused".
    public let message: String
    /// The CURLcode behind it, or 0 when the client itself refused.
    public let curlCode: Int32

    public init(kind: Kind, message: String, curlCode: Int32 = 0) {
        self.kind = kind
        self.message = message
        self.curlCode = curlCode
    }

    public var description: String { "\(kind.rawValue): \(message)" }
}
