import FleetRuntime
import Testing

@Suite("EventLoop.resolve: uv_getaddrinfo off the loop thread")
struct ResolveTests {
    final class Outcome { var result: Result<[String], RuntimeError>?; var timerTicks = 0 }

    @Test("localhost resolves asynchronously while the loop keeps running timers; no handles left")
    func localhost() throws {
        let loop = try EventLoop()
        let outcome = Outcome()
        let ticker = LoopTimer(loop: loop)
        ticker.start(afterMilliseconds: 1, repeatEveryMilliseconds: 1) { outcome.timerTicks += 1 }
        loop.resolve(host: "localhost") { result in
            outcome.result = result
            ticker.close()
        }
        #expect(outcome.result == nil, "the completion must not run inside resolve()")
        loop.run()   // returns when the lookup completed and the ticker is closed
        let addresses = try #require(try outcome.result?.get())
        #expect(addresses.contains { $0 == "127.0.0.1" || $0 == "::1" }, "\(addresses)")
        #expect(loop.aliveHandleCount == 0)
        #expect(loop.shutdown() == 0)
    }

    @Test("an IP literal comes back as is, later, without a lookup")
    func literal() throws {
        let loop = try EventLoop()
        let outcome = Outcome()
        loop.resolve(host: "::1") { outcome.result = $0 }
        #expect(outcome.result == nil)
        loop.run()
        #expect(try outcome.result?.get() == ["::1"])
        #expect(loop.shutdown() == 0)
    }

    @Test("a name that does not exist ends in an error naming uv_getaddrinfo, not a hang")
    func unresolvable() throws {
        let loop = try EventLoop()
        let outcome = Outcome()
        // .invalid never resolves (RFC 6761); the guard timer only bounds the test.
        let guardTimer = LoopTimer(loop: loop)
        guardTimer.start(afterMilliseconds: 60_000) { loop.stop() }
        loop.resolve(host: "nonexistent.invalid") { result in
            outcome.result = result
            guardTimer.close()
        }
        loop.run()
        switch outcome.result {
        case .failure(let error)?:
            #expect(error.call == "uv_getaddrinfo")
            #expect(error.code < 0)
        case .success(let a)?:
            Issue.record("nonexistent.invalid resolved to \(a)")
        case nil:
            Issue.record("no answer within 60 s")
        }
        #expect(loop.aliveHandleCount == 0)
        #expect(loop.shutdown() == 0)
    }

    @Test("shutdown with a lookup pending drops its completion and frees the loop")
    func shutdownWhilePending() throws {
        let loop = try EventLoop()
        let outcome = Outcome()
        loop.resolve(host: "localhost") { outcome.result = $0 }
        #expect(loop.shutdown() == 0)
        #expect(outcome.result == nil)
    }
}
