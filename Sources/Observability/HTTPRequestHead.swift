/// The head of one HTTP/1.x request (RFC 9112 §3, §5): what the agent's /metrics endpoint needs,
/// and no more.
public struct HTTPRequestHead: Sendable, Equatable {
    public var method: String
    /// The request target as sent ("/metrics?x=1").
    public var target: String
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    public var minorVersion: Int
    /// Field names lower-cased, values without surrounding whitespace, in arrival order.
    public var headers: [HTTPHeaderField]

    public init(method: String, target: String, minorVersion: Int, headers: [HTTPHeaderField]) {
        self.method = method; self.target = target; self.minorVersion = minorVersion; self.headers = headers
    }

    /// The target's path: without its query, "" when the target is not in origin form ("*",
    /// "http://host/path" — not served here).
    public var path: String {
        guard target.hasPrefix("/") else { return "" }
        return String(target.prefix { $0 != "?" && $0 != "#" })
    }
}

public struct HTTPHeaderField: Sendable, Equatable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) { self.name = name; self.value = value }
}

/// Why a request head was refused; each maps to the status the client is told.
public enum HTTPHeadError: Error, Sendable, Equatable {
    /// Past `HTTPRequestHeadParser.maxHeadBytes` without the blank line that ends it: 431.
    case headTooLarge
    /// More than `HTTPRequestHeadParser.maxHeaderFields` fields: 431.
    case tooManyFields
    /// Not `METHOD SP target SP HTTP/1.x`: 400.
    case malformedRequestLine
    /// An HTTP version other than 1.0 and 1.1: 505.
    case unsupportedVersion
    /// A field line without a valid name and colon, a control byte in a value, or an obsolete
    /// line folding (RFC 9112 §5.2 lets a server reject it): 400.
    case malformedField

    public var status: HTTPStatus {
        switch self {
        case .headTooLarge, .tooManyFields: return .headerFieldsTooLarge
        case .malformedRequestLine, .malformedField: return .badRequest
        case .unsupportedVersion: return .versionNotSupported
        }
    }
}

/// Reads a request head from bytes as they arrive. `feed` returns nil while the head is
/// incomplete, the head once the blank line arrived, and throws on anything malformed or too
/// large. Bytes after the head (a body, a pipelined request) are not looked at: the endpoint
/// answers one request per connection and closes it.
///
/// Bounded: at most `maxHeadBytes` are ever kept, and each byte is scanned once for the end of
/// the head (the search resumes where it stopped), so a slow client costs O(head) in total.
public struct HTTPRequestHeadParser: Sendable {
    /// 8 KiB, like nginx's default `large_client_header_buffers` line and far more than a
    /// Prometheus scrape sends (~200 bytes).
    public static let defaultMaxHeadBytes = 8 * 1024
    public static let maxHeaderFields = 64

    public let maxHeadBytes: Int
    private var buffer: [UInt8] = []
    /// Where the search for the end of the head resumes.
    private var scanned = 0
    private var finished = false

    public init(maxHeadBytes: Int = HTTPRequestHeadParser.defaultMaxHeadBytes) {
        self.maxHeadBytes = maxHeadBytes
    }

    /// Bytes held so far (at most `maxHeadBytes`).
    public var bufferedCount: Int { buffer.count }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) throws(HTTPHeadError) -> HTTPRequestHead? {
        precondition(!finished, "feed after the head was returned or refused")
        var bytes = bytes[...]
        if buffer.isEmpty {  // empty lines before the request line are ignored (RFC 9112 §2.2)
            while let b = bytes.first, b == 0x0D || b == 0x0A { bytes = bytes.dropFirst() }
        }
        let room = maxHeadBytes - buffer.count
        buffer.append(contentsOf: bytes.prefix(room))
        // The head ends at the first empty line: LF LF, or CR LF CR LF (a lone CR before LF is
        // accepted as part of the line ending, RFC 9112 §2.2).
        var i = scanned
        while i < buffer.count {
            if buffer[i] == 0x0A {
                var j = i - 1
                if j >= 0 && buffer[j] == 0x0D { j -= 1 }
                if j >= 0 && buffer[j] == 0x0A {
                    finished = true
                    return try Self.parse(buffer[..<(j + 1)])
                }
            }
            i += 1
        }
        scanned = buffer.count
        if bytes.count > room || buffer.count >= maxHeadBytes {
            finished = true
            throw .headTooLarge
        }
        return nil
    }

    /// `head` ends with the LF of its last line.
    static func parse(_ head: ArraySlice<UInt8>) throws(HTTPHeadError) -> HTTPRequestHead {
        var lines: [ArraySlice<UInt8>] = []
        var start = head.startIndex
        for i in head.indices where head[i] == 0x0A {
            var end = i
            if end > start && head[end - 1] == 0x0D { end -= 1 }
            lines.append(head[start..<end])
            start = i + 1
        }
        guard let requestLine = lines.first else { throw .malformedRequestLine }
        var request = try parseRequestLine(requestLine)
        guard lines.count - 1 <= maxHeaderFields else { throw .tooManyFields }
        for line in lines.dropFirst() { request.headers.append(try parseField(line)) }
        return request
    }

    static func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPHeadError) -> HTTPRequestHead {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else { throw .malformedRequestLine }
        let method = parts[0], target = parts[1], version = parts[2]
        guard !method.isEmpty, method.allSatisfy(isTokenByte) else { throw .malformedRequestLine }
        guard !target.isEmpty, target.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .malformedRequestLine }
        let prefix = Array("HTTP/".utf8)
        guard version.count == 8, Array(version.prefix(5)) == prefix,
              let major = digit(version[version.startIndex + 5]), version[version.startIndex + 6] == 0x2E,
              let minor = digit(version[version.startIndex + 7]) else { throw .malformedRequestLine }
        guard major == 1, minor <= 1 else { throw .unsupportedVersion }
        return HTTPRequestHead(method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self),
                               minorVersion: minor, headers: [])
    }

    static func parseField(_ line: ArraySlice<UInt8>) throws(HTTPHeadError) -> HTTPHeaderField {
        guard let colon = line.firstIndex(of: 0x3A) else { throw .malformedField }
        let name = line[..<colon]
        // No whitespace before the colon (RFC 9112 §5.1) and none leading (obsolete folding).
        guard !name.isEmpty, name.allSatisfy(isTokenByte) else { throw .malformedField }
        var value = line[(colon + 1)...]
        while let f = value.first, f == 0x20 || f == 0x09 { value.removeFirst() }
        while let l = value.last, l == 0x20 || l == 0x09 { value.removeLast() }
        guard value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else { throw .malformedField }
        return HTTPHeaderField(String(decoding: name, as: UTF8.self).lowercased(), String(decoding: value, as: UTF8.self))
    }

    /// tchar (RFC 9110 §5.6.2).
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: return true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
             UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
             UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"): return true
        default: return false
        }
    }

    private static func digit(_ b: UInt8) -> Int? { (0x30...0x39).contains(b) ? Int(b - 0x30) : nil }
}
