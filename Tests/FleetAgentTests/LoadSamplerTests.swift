import Testing
import FleetProtocol
@testable import FleetAgent

/// LOAD_REPORT rates and top talkers (Protocol/agent-coordinator.md §5.5), from counters and a clock.
@Suite struct LoadSamplerTests {
    typealias Totals = LoadSampler.Totals

    @Test func ratesCoverTheIntervalSinceThePreviousReport() {
        var s = LoadSampler(startMs: 1_000, totals: Totals(messagesIn: 100, messagesOut: 50, bytesIn: 6_400, bytesOut: 9_000))
        let r = s.report(nowMs: 3_000, wallClockMs: 1_700_000_000_000,
                         totals: Totals(messagesIn: 2_100, messagesOut: 4_050, bytesIn: 134_400, bytesOut: 1_009_000),
                         connections: 7, talkers: [], maxFrameBytes: 65_536)
        #expect(r.timestampMs == 1_700_000_000_000)
        #expect(r.connections == 7)
        #expect(r.messagesInPerSecond == 1_000)      // 2,000 over 2 s
        #expect(r.messagesOutPerSecond == 2_000)
        #expect(r.bytesInPerSecond == 64_000)
        #expect(r.bytesOutPerSecond == 500_000)
        // The next report starts where this one ended.
        let idle = s.report(nowMs: 4_000, wallClockMs: 0,
                            totals: Totals(messagesIn: 2_100, messagesOut: 4_050, bytesIn: 134_400, bytesOut: 1_009_000),
                            connections: 7, talkers: [], maxFrameBytes: 65_536)
        #expect(idle.messagesInPerSecond == 0 && idle.bytesOutPerSecond == 0)
    }

    @Test func aCounterGoingBackwardsOrAZeroIntervalDoesNotTrap() {
        var s = LoadSampler(startMs: 500, totals: Totals(messagesIn: 10, messagesOut: 10, bytesIn: 10, bytesOut: 10))
        let r = s.report(nowMs: 500, wallClockMs: 0, totals: Totals(messagesIn: 5, messagesOut: 11, bytesIn: 0, bytesOut: 10),
                         connections: Int.max, talkers: [], maxFrameBytes: 65_536)
        #expect(r.messagesInPerSecond == 0)
        #expect(r.messagesOutPerSecond == 1_000)     // 1 message in the 1 ms floor
        #expect(r.connections == UInt32.max)        // clamped
    }

    @Test func topTalkersAreTheBusiestHundredThatFitTheFrame() throws {
        var s = LoadSampler(startMs: 0, totals: Totals())
        let talkers = (0..<150).map { LoadSampler.Talker(clientId: "dev-\($0)", messages: UInt32($0 % 75), bytes: UInt32($0)) }
        let r = s.report(nowMs: 2_000, wallClockMs: 0, totals: Totals(), connections: 150, talkers: talkers, maxFrameBytes: 65_536)
        #expect(r.topTalkers.count == FleetLimits.maxTopTalkers)
        // Busiest first; equal message counts by bytes: dev-149 (74 msgs, 149 B) before dev-74.
        #expect(r.topTalkers.prefix(2).map(\.clientId) == ["dev-149", "dev-74"])
        #expect(r.topTalkers[0].messagesPerSecond == 37 && r.topTalkers[0].bytesPerSecond == 74)
        let rates = r.topTalkers.map(\.messagesPerSecond)
        #expect(rates == rates.sorted(by: >))
        // The frame encodes within the limit.
        let bytes = FleetFrameEncoder.encode(.loadReport(r))
        #expect(bytes.count <= 65_536)

        // Long client ids: only as many as fit a small frame.
        let long = (0..<10).map { LoadSampler.Talker(clientId: String(repeating: "x", count: 1_000) + "\($0)", messages: 10 - UInt32($0), bytes: 1) }
        var t = LoadSampler(startMs: 0, totals: Totals())
        let small = t.report(nowMs: 1_000, wallClockMs: 0, totals: Totals(), connections: 10, talkers: long, maxFrameBytes: 4_096)
        #expect(small.topTalkers.count == 3)
        #expect(FleetFrameEncoder.encode(.loadReport(small)).count <= 4_096)
        #expect(small.topTalkers.first?.clientId.hasSuffix("x0") == true)
    }
}
