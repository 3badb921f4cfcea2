import FleetRuntime
import Testing

/// A tiny HTTP/1.1 server on the loop for HTTPClient tests, written on FleetRuntime's TCPServer
/// (or TLSServer) and independent of the client: keep-alive (requests answered in order on each
/// connection until the client closes or sends `Connection: close`), counts accepted connections,
/// and answers each request as `route` says: any status, after a delay, never, or by closing in
/// the middle of the response. Requests must carry a Content-Length body (curl sends one for
/// POSTFIELDS) or none.
final class HTTPTestServer {
    struct Request {
        var method: String
        var path: String
        var headers: HTTPHeaders
        var body: [UInt8]
        /// 0-based index of the connection it came on, in accept order.
        var connection: Int
    }

    enum Reply {
        /// A complete response (Content-Length, or chunked in one chunk), after `delayMs`.
        case respond(status: Int, headers: HTTPHeaders = [:], body: [UInt8] = [], delayMs: UInt64 = 0, chunked: Bool = false)
        /// Status line, headers announcing 100 bytes, 10 bytes of them, then close.
        case closeMidResponse
        /// Never answer (the client must time out or cancel).
        case hang
    }

    let loop: EventLoop
    var route: (Request) -> Reply
    private(set) var requests: [Request] = []
    private(set) var acceptedConnections = 0
    /// Connections the server saw closed (by the peer or itself).
    private(set) var closedConnections = 0
    private var tcpServer: TCPServer?
    private var tlsServer: TLSServer?
    private var connections: [Connection] = []
    private var timers: [LoopTimer] = []
    let port: UInt16

    init(loop: EventLoop, tls: TLSContext? = nil, route: @escaping (Request) -> Reply) throws {
        self.loop = loop
        self.route = route
        final class Target { weak var server: HTTPTestServer? }
        let target = Target()
        if let tls {
            let server = try TLSServer(loop: loop, host: "127.0.0.1", port: 0, context: tls) { target.server?.accept($0) }
            tlsServer = server
            port = server.localPort
        } else {
            let server = try TCPServer(loop: loop, host: "127.0.0.1", port: 0) { target.server?.accept($0) }
            tcpServer = server
            port = server.localPort
        }
        target.server = self
    }

    func url(_ path: String, scheme: String = "http", host: String = "127.0.0.1") -> String {
        "\(scheme)://\(host):\(port)\(path)"
    }

    /// Stops listening, closes every connection and delay timer.
    func close() {
        tcpServer?.close()
        tlsServer?.close()
        for timer in timers { timer.close() }
        timers.removeAll()
        for connection in connections { connection.stream.closeNow() }
    }

    private func accept(_ stream: any ByteStream) {
        let connection = Connection(server: self, stream: stream, index: acceptedConnections)
        acceptedConnections += 1
        connections.append(connection)
        stream.handler = connection
        stream.startReading()
    }

    fileprivate func received(_ request: Request, on connection: Connection) {
        requests.append(request)
        let keepAlive = request.headers["Connection"]?.lowercased() != "close"
        switch route(request) {
        case .hang:
            break
        case .closeMidResponse:
            connection.stream.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789".utf8))
            connection.stream.close()
        case .respond(let status, let headers, let body, let delayMs, let chunked):
            let answer = { [weak connection] in
                guard let connection, !connection.stream.isClosed else { return }
                connection.stream.write(Self.encode(status: status, headers: headers, body: body, chunked: chunked))
                if keepAlive { connection.finished() } else { connection.stream.close() }
            }
            if delayMs == 0 {
                answer()
            } else {
                let timer = LoopTimer(loop: loop)
                timers.append(timer)
                timer.start(afterMilliseconds: delayMs, answer)
            }
        }
    }

    fileprivate func closed(_ connection: Connection) { closedConnections += 1 }

    static func encode(status: Int, headers: HTTPHeaders, body: [UInt8], chunked: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) Status \(status)\r\n"
        for field in headers { head += "\(field.name): \(field.value)\r\n" }
        if chunked {
            head += "Transfer-Encoding: chunked\r\n\r\n"
            var bytes = Array(head.utf8)
            if !body.isEmpty { bytes += Array((String(body.count, radix: 16) + "\r\n").utf8) + body + Array("\r\n".utf8) }
            return bytes + Array("0\r\n\r\n".utf8)
        }
        head += "Content-Length: \(body.count)\r\n\r\n"
        return Array(head.utf8) + body
    }
}

/// One accepted connection: buffers input, parses one request at a time (the next only after the
/// previous was answered).
private final class Connection: StreamHandler {
    unowned let server: HTTPTestServer
    let stream: any ByteStream
    let index: Int
    private var buffer: [UInt8] = []
    private var busy = false

    init(server: HTTPTestServer, stream: any ByteStream, index: Int) {
        self.server = server
        self.stream = stream
        self.index = index
    }

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        parse()
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        server.closed(self)
    }

    func finished() {
        busy = false
        parse()
    }

    private func parse() {
        guard !busy, let end = headEnd() else { return }
        let head = String(decoding: buffer[..<end], as: UTF8.self)
        var lines = head.splitLines()
        let requestLine = lines.removeFirst().split(separator: " ")
        var headers = HTTPHeaders()
        for line in lines where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.add(name: String(line[..<colon]),
                        value: String(line[line.index(after: colon)...]).trimmedSpaces())
        }
        let length = Int(headers["Content-Length"] ?? "0") ?? 0
        let bodyStart = end + 4
        guard buffer.count >= bodyStart + length else { return }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        buffer.removeFirst(bodyStart + length)
        busy = true
        server.received(HTTPTestServer.Request(method: requestLine.first.map(String.init) ?? "",
                                               path: requestLine.count > 1 ? String(requestLine[1]) : "",
                                               headers: headers, body: body, connection: index), on: self)
    }

    /// Index of "\r\n\r\n" in the buffer.
    private func headEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4)
        where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

extension String {
    /// Without leading and trailing spaces (Foundation-free).
    fileprivate func trimmedSpaces() -> String {
        var text = Substring(self)
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return String(text)
    }

    /// Split at every CRLF.
    fileprivate func splitLines() -> [String] {
        var parts: [String] = []
        var rest = Substring(self)
        while let range = rest.firstRange(of: "\r\n") {
            parts.append(String(rest[..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(String(rest))
        return parts
    }
}
