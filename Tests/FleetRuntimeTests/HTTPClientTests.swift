import FleetRuntime
import Glibc
import Testing

/// Results of requests, in completion order.
private final class Outcomes {
    var results: [(tag: Int, result: Result<HTTPResponse, HTTPClientError>)] = []
    var count: Int { results.count }
    func record(_ tag: Int) -> (Result<HTTPResponse, HTTPClientError>) -> Void {
        { [unowned self] in results.append((tag, $0)) }
    }
    func response(_ tag: Int) -> HTTPResponse? { results.first { $0.tag == tag }.flatMap { try? $0.result.get() } }
    func error(_ tag: Int) -> HTTPClientError? {
        guard case .failure(let error)? = results.first(where: { $0.tag == tag })?.result else { return nil }
        return error
    }
}

/// Closes client and server, waits until the server saw every connection closed, and checks
/// the loop ends with no handles left.
private func finish(_ loop: EventLoop, _ client: HTTPClient, _ server: HTTPTestServer) {
    client.close()
    #expect(spin(loop) { server.closedConnections == server.acceptedConnections })
    server.close()
    turn(loop, 3)
    #expect(loop.shutdown() == 0)
}

@Suite("HTTP client (libcurl multi on the loop) against a loopback HTTP/1.1 server")
struct HTTPClientTests {
    @Test("libcurl resolves names asynchronously (threaded resolver), so DNS never blocks the loop")
    func asynchronousDNS() {
        #expect(HTTPClient.hasAsynchronousDNS)
        #expect(HTTPClient.libraryVersion.first?.isNumber == true)
    }

    @Test("POST body and headers arrive; status, headers (any case) and body come back")
    func postRoundTrip() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { request in
            .respond(status: 201, headers: ["X-Reply-To": request.headers["X-Socket-Id"] ?? "?", "Content-Type": "application/octet-stream"],
                     body: Array("echo:".utf8) + request.body)
        }
        let client = try HTTPClient(loop: loop)
        let body = pattern(3_000, seed: 3)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: server.url("/fn?x=1"), headers: ["X-Fleet-Event": "data", "X-Socket-Id": "s-42"], body: body),
                    completion: outcomes.record(0))
        #expect(outcomes.count == 0)        // never inside send
        #expect(spin(loop) { outcomes.count == 1 })

        let request = try #require(server.requests.first)
        #expect(request.method == "POST")
        #expect(request.path == "/fn?x=1")
        #expect(request.body == body)
        #expect(request.headers["x-fleet-event"] == "data")
        #expect(request.headers["X-SOCKET-ID"] == "s-42")
        #expect(request.headers["Expect"] == nil)             // no 100-continue round trip
        #expect(request.headers["Content-Type"] == nil)       // not claimed to be a form

        let response = try #require(outcomes.response(0))
        #expect(response.status == 201)
        #expect(response.headers["x-reply-to"] == "s-42")
        #expect(response.headers["CONTENT-TYPE"] == "application/octet-stream")
        #expect(response.body == Array("echo:".utf8) + body)
        finish(loop, client, server)
    }

    @Test("any status is a response, not an error", arguments: [200, 204, 302, 404, 500, 503])
    func statuses(status: Int) throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { _ in .respond(status: status, body: status == 204 ? [] : Array("s".utf8)) }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        client.send(HTTPRequest(method: .get, url: server.url("/")), completion: outcomes.record(0))
        #expect(spin(loop) { outcomes.count == 1 })
        #expect(outcomes.response(0)?.status == status)
        finish(loop, client, server)
    }

    @Test("100 concurrent requests each get their own answer")
    func hundredConcurrent() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { .respond(status: 200, body: $0.body) }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        for i in 0..<100 {
            client.send(HTTPRequest(url: server.url("/echo/\(i)"), body: Array("request \(i)".utf8)), completion: outcomes.record(i))
        }
        #expect(client.inFlightCount == 100)
        #expect(spin(loop) { outcomes.count == 100 })
        for i in 0..<100 { #expect(outcomes.response(i)?.body == Array("request \(i)".utf8)) }
        #expect(server.requests.count == 100)
        #expect(client.inFlightCount == 0)
        finish(loop, client, server)
    }

    @Test("keep-alive: sequential requests to one server share one TCP connection")
    func keepAlive() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { .respond(status: 200, body: $0.body) }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        final class Chain { var next: ((Int) -> Void)? }
        let chain = Chain()
        chain.next = { i in
            guard i < 10 else { return }
            client.send(HTTPRequest(url: server.url("/seq"), body: [UInt8(i)])) { result in
                outcomes.results.append((i, result))
                chain.next?(i + 1)
            }
        }
        chain.next?(0)
        #expect(spin(loop) { outcomes.count == 10 })
        chain.next = nil
        #expect(server.acceptedConnections == 1)
        #expect(Set(server.requests.map(\.connection)) == [0])
        #expect(outcomes.response(0)?.reusedConnection == false)
        #expect((1..<10).allSatisfy { outcomes.response($0)?.reusedConnection == true })
        finish(loop, client, server)
    }

    @Test("a reused easy handle carries nothing of the previous request (method, headers, body, URL)")
    func reusedHandleStartsClean() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { .respond(status: 200, body: Array($0.path.utf8)) }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        // PUT first: its CURLOPT_CUSTOMREQUEST is what a handle not reset would carry into the next two.
        let requests = [HTTPRequest(method: .put, url: server.url("/first"), headers: ["X-Only-First": "1", "Content-Type": "text/plain"],
                                    body: Array("first".utf8)),
                        HTTPRequest(method: .get, url: server.url("/second")),
                        HTTPRequest(url: server.url("/third"))]
        final class Chain { var next: ((Int) -> Void)? }
        let chain = Chain()
        chain.next = { i in
            guard i < requests.count else { return }
            client.send(requests[i]) { result in
                outcomes.results.append((i, result))
                chain.next?(i + 1)
            }
        }
        chain.next?(0)
        #expect(spin(loop) { outcomes.count == 3 })
        chain.next = nil
        #expect(client.spareEasyHandleCount == 1)     // one handle served all three, one after another
        #expect(server.requests.map(\.path) == ["/first", "/second", "/third"])
        #expect(server.requests.map(\.method) == ["PUT", "GET", "POST"])
        #expect(server.requests.map { $0.headers["X-Only-First"] } == ["1", nil, nil])
        #expect(server.requests.map { $0.headers["Content-Type"] } == ["text/plain", nil, nil])
        #expect(server.requests.map(\.body) == [Array("first".utf8), [], []])
        #expect((0..<3).map { outcomes.response($0)?.body } == [Array("/first".utf8), Array("/second".utf8), Array("/third".utf8)])
        finish(loop, client, server)
        #expect(client.spareEasyHandleCount == 0)     // close() frees them
    }

    @Test("a 2 s endpoint does not delay 20 fast requests sent after it")
    func slowEndpointDoesNotBlock() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { request in
            .respond(status: 200, body: Array(request.path.utf8), delayMs: request.path == "/slow" ? 2_000 : 0)
        }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: server.url("/slow")), completion: outcomes.record(-1))
        for i in 0..<20 { client.send(HTTPRequest(url: server.url("/fast/\(i)")), completion: outcomes.record(i)) }
        #expect(spin(loop) { outcomes.count == 21 })
        // All 20 fast answers came before the slow one.
        #expect(outcomes.results.prefix(20).allSatisfy { $0.tag >= 0 && (try? $0.result.get())?.status == 200 })
        #expect(outcomes.results.last?.tag == -1)
        #expect(outcomes.response(-1)?.body == Array("/slow".utf8))
        finish(loop, client, server)
    }

    @Test("a server that does not answer in time gives .timeout")
    func timeout() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { _ in .hang }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        let started = loop.now
        client.send(HTTPRequest(url: server.url("/hang"), timeoutMs: 300), completion: outcomes.record(0))
        #expect(spin(loop) { outcomes.count == 1 })
        #expect(outcomes.error(0)?.kind == .timeout)
        #expect(loop.now - started >= 250)
        #expect(server.requests.count == 1)
        finish(loop, client, server)
    }

    @Test("nothing listening gives .connect with the reason in the message")
    func connectionRefused() throws {
        let loop = try EventLoop()
        let probe = try TCPServer(loop: loop, host: "127.0.0.1", port: 0) { _ in }
        let port = probe.localPort
        probe.close()
        turn(loop, 2)
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: "http://127.0.0.1:\(port)/fn"), completion: outcomes.record(0))
        #expect(spin(loop) { outcomes.count == 1 })
        let error = try #require(outcomes.error(0))
        #expect(error.kind == .connect)
        #expect(error.message.contains("refused"))
        client.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("a name that does not resolve gives .dns")
    func unresolvableName() throws {
        let loop = try EventLoop()
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: "http://no-such-host.invalid/fn"), completion: outcomes.record(0))
        #expect(spin(loop) { outcomes.count == 1 })
        #expect(outcomes.error(0)?.kind == .dns)
        client.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("a body over the limit is refused with .responseTooLarge; exactly the limit is fine",
          arguments: [false, true])
    func responseTooLarge(chunked: Bool) throws {
        let loop = try EventLoop()
        let limit = 1 << 20
        let server = try HTTPTestServer(loop: loop) { request in
            .respond(status: 200, body: pattern(request.path == "/big" ? limit + 1 : limit), chunked: chunked)
        }
        let client = try HTTPClient(loop: loop)
        #expect(client.configuration.maximumResponseBodyBytes == limit)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: server.url("/big")), completion: outcomes.record(0))
        client.send(HTTPRequest(url: server.url("/limit")), completion: outcomes.record(1))
        #expect(spin(loop) { outcomes.count == 2 })
        let error = try #require(outcomes.error(0))
        #expect(error.kind == .responseTooLarge)
        #expect(error.message.contains("\(limit)"))
        #expect(outcomes.response(1)?.body == pattern(limit))
        finish(loop, client, server)
    }

    @Test("a connection closed in the middle of the response gives .connectionLost")
    func closedMidResponse() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { _ in .closeMidResponse }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: server.url("/cut")), completion: outcomes.record(0))
        #expect(spin(loop) { outcomes.count == 1 })
        #expect(outcomes.error(0)?.kind == .connectionLost)
        finish(loop, client, server)
    }

    @Test("cancel: the completion never runs, the connection is dropped, queued requests move up")
    func cancel() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { request in
            .respond(status: 200, body: Array(request.path.utf8), delayMs: request.path == "/slow" ? 300 : 0)
        }
        let client = try HTTPClient(loop: loop, configuration: .init(maximumInFlight: 1))
        let outcomes = Outcomes()
        let running = client.send(HTTPRequest(url: server.url("/slow")), completion: outcomes.record(0))
        let queued = client.send(HTTPRequest(url: server.url("/queued")), completion: outcomes.record(1))
        let last = client.send(HTTPRequest(url: server.url("/last")), completion: outcomes.record(2))
        let unsent = client.send(HTTPRequest(url: "ftp://example.com/"), completion: outcomes.record(3))
        #expect(client.queuedCount == 2)
        queued.cancel()
        unsent.cancel()                               // its failure was waiting for a loop turn
        #expect(client.queuedCount == 1)
        #expect(spin(loop) { server.requests.count == 1 })   // the slow one reached the server
        running.cancel()
        #expect(running.isFinished)
        #expect(spin(loop) { outcomes.count == 1 })
        #expect(outcomes.results.first?.tag == 2)
        #expect(outcomes.response(2)?.body == Array("/last".utf8))
        // The cancelled request's connection was closed, and its late answer reaches no one.
        #expect(spin(loop) { server.closedConnections >= 1 })
        #expect(server.acceptedConnections == 2)
        let timer = LoopTimer(loop: loop)
        var waited = false
        timer.start(afterMilliseconds: 500) { waited = true }
        #expect(spin(loop) { waited })
        timer.close()
        #expect(outcomes.count == 1)
        #expect(!server.requests.contains { $0.path == "/queued" })
        last.cancel()                                 // after completion: no effect
        finish(loop, client, server)
    }

    @Test("close() with requests in flight and queued: each completion once with .closed, no handles left")
    func closeWithRequestsInFlight() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { _ in .hang }
        let client = try HTTPClient(loop: loop, configuration: .init(maximumInFlight: 4))
        let outcomes = Outcomes()
        for i in 0..<10 { client.send(HTTPRequest(url: server.url("/\(i)")), completion: outcomes.record(i)) }
        #expect(spin(loop) { server.requests.count == 4 })
        #expect(client.watchedSocketCount == 4)
        #expect(client.queuedCount == 6)
        client.close()
        #expect(outcomes.count == 10)
        #expect(outcomes.results.allSatisfy { if case .failure(let e) = $0.result { e.kind == .closed } else { false } })
        #expect(Set(outcomes.results.map(\.tag)) == Set(0..<10))
        #expect(client.watchedSocketCount == 0)
        let after = Outcomes()
        client.send(HTTPRequest(url: server.url("/late")), completion: after.record(0))
        #expect(spin(loop) { after.count == 1 })
        #expect(after.error(0)?.kind == .closed)
        #expect(spin(loop) { server.closedConnections == 4 })
        turn(loop, 3)
        #expect(outcomes.count == 10)
        server.close()
        turn(loop, 3)
        #expect(loop.shutdown() == 0)
    }

    @Test("EventLoop.shutdown() closes an open client: pending requests end with .closed")
    func loopShutdownClosesClient() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { _ in .hang }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: server.url("/")), completion: outcomes.record(0))
        #expect(spin(loop) { server.requests.count == 1 })
        server.close()
        // The client's timer and its socket's poll, and the server's accepted connection.
        #expect(loop.shutdown() >= 2)
        #expect(client.isClosed)
        #expect(outcomes.error(0)?.kind == .closed)
    }

    @Test("requests past the queue limit fail with .overloaded; bad requests with .invalidRequest")
    func refusals() throws {
        let loop = try EventLoop()
        let server = try HTTPTestServer(loop: loop) { _ in .respond(status: 200) }
        let client = try HTTPClient(loop: loop, configuration: .init(maximumInFlight: 1, maximumQueuedRequests: 1))
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: server.url("/1")), completion: outcomes.record(1))
        client.send(HTTPRequest(url: server.url("/2")), completion: outcomes.record(2))
        client.send(HTTPRequest(url: server.url("/3")), completion: outcomes.record(3))
        client.send(HTTPRequest(url: "file:///etc/passwd"), completion: outcomes.record(4))
        client.send(HTTPRequest(url: server.url("/5"), headers: ["X-Evil": "a\r\nX-Injected: 1"]), completion: outcomes.record(5))
        #expect(outcomes.count == 0)
        #expect(spin(loop) { outcomes.count == 5 })
        #expect(outcomes.error(3)?.kind == .overloaded)
        #expect(outcomes.error(4)?.kind == .invalidRequest)
        #expect(outcomes.error(5)?.kind == .invalidRequest)
        #expect(outcomes.response(1)?.status == 200)
        #expect(outcomes.response(2)?.status == 200)
        #expect(server.requests.count == 2)
        finish(loop, client, server)
    }

    @Test("https: verified with the given CA file; without it the certificate is refused (.tls)")
    func https() throws {
        let certificates = CertificateFixture.shared
        try #require(certificates.generated)
        let loop = try EventLoop()
        var tls = TLSConfiguration(certificateChainFile: certificates.path("server.pem"), privateKeyFile: certificates.path("server.key"))
        tls.alpn = ["http/1.1"]
        let server = try HTTPTestServer(loop: loop, tls: try TLSContext(tls)) { .respond(status: 200, body: $0.body) }
        let client = try HTTPClient(loop: loop)
        let outcomes = Outcomes()
        client.send(HTTPRequest(url: server.url("/a", scheme: "https", host: "localhost"), body: Array("secret".utf8),
                                caFile: certificates.path("ca.pem")), completion: outcomes.record(0))
        #expect(spin(loop) { outcomes.count == 1 })
        client.send(HTTPRequest(url: server.url("/b", scheme: "https", host: "localhost"), body: Array("x".utf8),
                                caFile: certificates.path("other-ca.pem")), completion: outcomes.record(1))
        #expect(spin(loop) { outcomes.count == 2 })
        #expect(outcomes.response(0)?.body == Array("secret".utf8))
        #expect(outcomes.error(1)?.kind == .tls)
        finish(loop, client, server)
    }
}
