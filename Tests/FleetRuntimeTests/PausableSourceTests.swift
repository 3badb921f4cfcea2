import Testing
@testable import FleetRuntime

/// The one pause rule every connection kind follows: reading stops at the first hold and resumes
/// only when the last holder lets go, however holds and releases interleave.
@Suite struct PausableSourceTests {
    final class Reader: PausableSource {
        var isThrottled = false
        var holdCount = 0
        var calls: [String] = []
        func pauseInput() { calls.append("pause") }
        func resumeInput() { calls.append("resume") }
    }

    @Test func readingStopsAtTheFirstHoldAndResumesAfterTheLastRelease() {
        let r = Reader()
        #expect(r.hold())
        #expect(!r.hold())  // already paused: not paused again
        r.release()
        #expect(r.calls == ["pause"] && r.isThrottled)
        r.release()
        #expect(r.calls == ["pause", "resume"] && !r.isThrottled && r.holdCount == 0)
    }

    @Test func interleavedHoldsNeverResumeEarly() {
        let r = Reader()
        var holders = 0
        // A seeded walk of holds and releases by several parties.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<10_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            if holders == 0 || state >> 63 == 0 {
                r.hold(); holders += 1
            } else {
                r.release(); holders -= 1
            }
            #expect(r.isThrottled == (holders > 0))
            #expect(r.holdCount == holders)
        }
        let pauses = r.calls.filter { $0 == "pause" }.count, resumes = r.calls.filter { $0 == "resume" }.count
        #expect(pauses == resumes + (holders > 0 ? 1 : 0))
    }
}
