import Testing
@testable import FleetCoordinator

/// The drain's pace with a mock clock: the rate, the in-flight cap, no burst after a pause.
@Suite struct DrainSchedulerTests {
    static func clients(_ n: Int) -> [String] { (0..<n).map { "c\($0)" } }

    @Test("starts `rate` clients per second, one second's worth at most at once, in listed order")
    func paced() {
        var d = DrainScheduler(gateway: "gw-1", rate: 100, maxInFlight: 1_000, nowMs: 0)
        d.add(clients: Self.clients(1_000), last: true)
        #expect(d.due(nowMs: 0, inFlight: 0) == ["c0"])            // one token to begin with
        #expect(d.due(nowMs: 100, inFlight: 0).count == 10)        // 0.1 s at 100/s
        let afterPause = d.due(nowMs: 60_100, inFlight: 0)           // a minute later: capped at 1 s
        #expect(afterPause.count == 100 && afterPause.first == "c11")
        #expect(d.started == 111 && d.waiting == 889)
    }

    @Test("never more than maxInFlight handovers of the drain at once")
    func capped() {
        var d = DrainScheduler(gateway: "gw-1", rate: 10_000, maxInFlight: 8, nowMs: 0)
        d.add(clients: Self.clients(100), last: true)
        #expect(d.due(nowMs: 1_000, inFlight: 0).count == 8)
        #expect(d.due(nowMs: 1_001, inFlight: 8).isEmpty)
        #expect(d.due(nowMs: 1_002, inFlight: 5).count == 3)
    }

    @Test("a client listed twice is moved once; a new list only adds what is new")
    func listedOnce() {
        var d = DrainScheduler(gateway: "gw-1", rate: 1_000, maxInFlight: 100, nowMs: 0)
        d.add(clients: ["a", "b"], last: false)
        d.add(clients: ["b", "c"], last: true)
        #expect(d.listComplete)
        #expect(d.due(nowMs: 1_000, inFlight: 0) == ["a", "b", "c"])
        d.relist()
        #expect(!d.listComplete)
        d.add(clients: ["c", "d"], last: true)  // c is still there (its move failed): listed again
        #expect(d.due(nowMs: 2_000, inFlight: 0) == ["c", "d"])
    }

    /// A maintenance drain waits for this: the gateway's latest complete list is empty.
    @Test("emptied only when a complete list names no client")
    func emptied() {
        var d = DrainScheduler(gateway: "gw-1", rate: 1_000, maxInFlight: 100, nowMs: 0)
        #expect(!d.isEmptied)
        d.add(clients: ["a"], last: true)
        #expect(!d.isEmptied)
        _ = d.due(nowMs: 1_000, inFlight: 0)
        d.relist(nowMs: 2_000)
        d.add(clients: [], last: false)
        #expect(!d.isEmptied)  // not complete yet
        d.add(clients: [], last: true)
        #expect(d.isEmptied)
        d.relist(nowMs: 3_000)
        #expect(!d.isEmptied)
    }
}
