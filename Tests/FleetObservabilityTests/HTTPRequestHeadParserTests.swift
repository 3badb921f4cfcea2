import FleetObservability
import Testing

/// One `feed`: nil while the head is incomplete.
private func feed(_ parser: inout HTTPRequestHeadParser, _ bytes: ArraySlice<UInt8>) -> Result<HTTPRequestHead, HTTPHeadError>? {
    bytes.withUnsafeBytes { b in
        do throws(HTTPHeadError) {
            return try parser.feed(b).map { .success($0) }
        } catch {
            return .failure(error)
        }
    }
}

/// Feeds `text` in the chunk sizes given (cycled), returning the first outcome.
private func read(_ text: String, chunks: [Int] = [Int.max], maxHeadBytes: Int = HTTPRequestHeadParser.defaultMaxHeadBytes)
    -> Result<HTTPRequestHead, HTTPHeadError>? {
    var parser = HTTPRequestHeadParser(maxHeadBytes: maxHeadBytes)
    let bytes = Array(text.utf8)
    var offset = 0, i = 0
    while offset < bytes.count {
        let n = min(chunks[i % chunks.count], bytes.count - offset)
        i += 1
        if let outcome = feed(&parser, bytes[offset..<(offset + n)]) { return outcome }
        offset += n
    }
    return nil
}

@Suite struct HTTPRequestHeadParserTests {
    static let scrape = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.53.0\r\nAccept: text/plain;version=0.0.4\r\n\r\n"

    @Test func readsAPrometheusScrape() throws {
        let head = try #require(try read(Self.scrape)?.get())
        #expect(head.method == "GET")
        #expect(head.target == "/metrics")
        #expect(head.path == "/metrics")
        #expect(head.minorVersion == 1)
        #expect(head.headers == [HTTPHeaderField("host", "127.0.0.1:9100"), HTTPHeaderField("user-agent", "Prometheus/2.53.0"),
                                 HTTPHeaderField("accept", "text/plain;version=0.0.4")])
    }

    @Test(arguments: [[1], [2, 3], [7], [50], [1, 100]])
    func readsTheSameHowEverSplit(chunks: [Int]) throws {
        #expect(read(Self.scrape, chunks: chunks) == read(Self.scrape))
        #expect(read("GET /x?y HTTP/1.0\n\n", chunks: chunks) == read("GET /x?y HTTP/1.0\n\n"))
    }

    @Test func needsTheBlankLine() {
        #expect(read("GET /metrics HTTP/1.1\r\nHost: x\r\n") == nil)
    }

    @Test func acceptsBareLineFeedsAndLeadingEmptyLines() throws {
        let head = try #require(try read("\r\n\nHEAD /metrics?name=x HTTP/1.0\nA:  b \n\n")?.get())
        #expect(head.method == "HEAD")
        #expect(head.path == "/metrics")
        #expect(head.minorVersion == 0)
        #expect(head.headers == [HTTPHeaderField("a", "b")])
    }

    @Test(arguments: [
        ("GET /metrics\r\n\r\n", HTTPHeadError.malformedRequestLine),
        ("GET  /metrics HTTP/1.1\r\n\r\n", .malformedRequestLine),
        ("G(T /metrics HTTP/1.1\r\n\r\n", .malformedRequestLine),
        ("GET /met rics HTTP/1.1\r\n\r\n", .malformedRequestLine),
        ("GET /metrics HTTP/1.1 \r\n\r\n", .malformedRequestLine),
        ("GET /metrics HTTP/1.x\r\n\r\n", .malformedRequestLine),
        ("GET /metrics HTTP/2.0\r\n\r\n", .unsupportedVersion),
        ("GET /metrics HTTP/1.2\r\n\r\n", .unsupportedVersion),
        ("GET /metrics HTTP/1.1\r\nNo colon\r\n\r\n", .malformedField),
        ("GET /metrics HTTP/1.1\r\nName : v\r\n\r\n", .malformedField),
        ("GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", .malformedField),
        ("GET /metrics HTTP/1.1\r\nA: b\u{7F}\r\n\r\n", .malformedField),
        ("GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n", .malformedField),
    ])
    func refusesMalformedHeads(text: String, error: HTTPHeadError) {
        #expect(read(text) == .failure(error))
        #expect(read(text, chunks: [1]) == .failure(error))
    }

    @Test func refusesAHeadPastItsBoundWithoutHoldingMore() {
        let long = "GET /" + String(repeating: "a", count: 200) + " HTTP/1.1\r\n\r\n"
        #expect(read(long, maxHeadBytes: 100) == .failure(.headTooLarge))
        #expect(read(long, chunks: [1], maxHeadBytes: 100) == .failure(.headTooLarge))
        // Exactly at the bound, the blank line included, is still a head.
        let exact = "GET / HTTP/1.1\r\n\r\n"
        #expect(read(exact, maxHeadBytes: exact.utf8.count) == read(exact))
        // A slowloris that never ends its head is refused once it reaches the bound.
        var parser = HTTPRequestHeadParser(maxHeadBytes: 64)
        _ = feed(&parser, Array("GET /metrics HTTP/1.1\r\n".utf8)[...])
        var outcome: HTTPHeadError?
        for _ in 0..<100 {
            if case .failure(let e)? = feed(&parser, Array("X-a: b\r\n".utf8)[...]) { outcome = e; break }
            #expect(parser.bufferedCount < 64)
        }
        #expect(outcome == .headTooLarge)
    }

    @Test func refusesTooManyFields() {
        let fields = (0...HTTPRequestHeadParser.maxHeaderFields).map { "X-\($0): v\r\n" }.joined()
        #expect(read("GET /metrics HTTP/1.1\r\n" + fields + "\r\n") == .failure(.tooManyFields))
    }

    @Test func errorsMapToTheirStatuses() {
        #expect(HTTPHeadError.headTooLarge.status == .headerFieldsTooLarge)
        #expect(HTTPHeadError.malformedField.status == .badRequest)
        #expect(HTTPHeadError.unsupportedVersion.status == .versionNotSupported)
    }

    @Test func ignoresWhatFollowsTheHead() throws {
        let head = try #require(try read("POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello")?.get())
        #expect(head.method == "POST")
    }
}
