import FleetProtocol
import Testing
@testable import FleetCoordinator

@Suite struct InterestSequencerTests {
    typealias S = FleetFrame.InterestSnapshot
    typealias D = FleetFrame.InterestDelta

    @Test func snapshotInPartsThenDeltas() {
        var s = InterestSequencer()
        #expect(s.snapshot(S(epoch: 1, sequence: 0, isLast: false, filters: ["a"])) == .partial)
        #expect(s.snapshot(S(epoch: 1, sequence: 1, isLast: true, filters: ["b"])) == .replace(["a", "b"]))
        #expect(s.delta(D(epoch: 1, sequence: 2, added: ["c"])) == .delta(added: ["c"], removed: []))
        #expect(s.delta(D(epoch: 1, sequence: 3, removed: ["a"])) == .delta(added: [], removed: ["a"]))
    }

    /// Issue #11: one token holder pushed 409,600 filters. A snapshot is refused as soon as the
    /// parts collected pass `maxFilters` (before the LAST part: nothing waits for the rest), a
    /// duplicate filter counts once, and the epoch is then dropped until a higher one.
    @Test func aSnapshotOverTheBoundIsTooLargeAtThePartThatPassesIt() {
        var s = InterestSequencer(maxFilters: 3)
        #expect(s.snapshot(S(epoch: 1, sequence: 0, isLast: false, filters: ["a", "b"])) == .partial)
        #expect(s.snapshot(S(epoch: 1, sequence: 1, isLast: false, filters: ["b", "c"])) == .partial)
        guard case .tooLarge = s.snapshot(S(epoch: 1, sequence: 2, isLast: false, filters: ["d"])) else {
            Issue.record("a fourth filter was accepted"); return
        }
        #expect(s.snapshot(S(epoch: 1, sequence: 3, isLast: true, filters: [])) == .dropped)
        var t = InterestSequencer(maxFilters: 3)
        guard case .tooLarge = t.snapshot(S(epoch: 1, sequence: 0, isLast: true, filters: ["a", "b", "c", "d"])) else {
            Issue.record("a one-part snapshot over the bound was accepted"); return
        }
        #expect(t.snapshot(S(epoch: 2, sequence: 0, isLast: true, filters: ["a", "b", "c"])) == .replace(["a", "b", "c"]))
    }

    @Test func deltaBeforeAnySnapshotOrBeforeLastIsOutOfSync() {
        var s = InterestSequencer()
        guard case .outOfSync = s.delta(D(epoch: 1, sequence: 0)) else { Issue.record("expected out of sync"); return }
        var t = InterestSequencer()
        #expect(t.snapshot(S(epoch: 1, sequence: 0, isLast: false, filters: [])) == .partial)
        guard case .outOfSync = t.delta(D(epoch: 1, sequence: 1)) else { Issue.record("expected out of sync"); return }
        // the rest of the broken epoch is dropped quietly
        #expect(t.snapshot(S(epoch: 1, sequence: 1, isLast: true, filters: [])) == .dropped)
        // a higher epoch recovers
        #expect(t.snapshot(S(epoch: 2, sequence: 0, isLast: true, filters: ["z"])) == .replace(["z"]))
    }

    @Test func wrongDeltaSequenceBreaksUntilHigherEpoch() {
        var s = InterestSequencer()
        _ = s.snapshot(S(epoch: 3, sequence: 0, isLast: true, filters: []))
        guard case .outOfSync = s.delta(D(epoch: 3, sequence: 5)) else { Issue.record("expected out of sync"); return }
        #expect(s.delta(D(epoch: 3, sequence: 1)) == .dropped)
        #expect(s.snapshot(S(epoch: 4, sequence: 0, isLast: true, filters: ["a"])) == .replace(["a"]))
        #expect(s.delta(D(epoch: 4, sequence: 1, added: ["b"])) == .delta(added: ["b"], removed: []))
    }

    @Test func olderEpochIsDropped() {
        var s = InterestSequencer()
        _ = s.snapshot(S(epoch: 5, sequence: 0, isLast: true, filters: []))
        #expect(s.snapshot(S(epoch: 4, sequence: 0, isLast: true, filters: ["old"])) == .dropped)
        #expect(s.delta(D(epoch: 4, sequence: 1)) == .dropped)
    }

    @Test func newEpochMustStartAtZeroAndPartsMustBeInSequence() {
        var s = InterestSequencer()
        guard case .outOfSync = s.snapshot(S(epoch: 1, sequence: 1, isLast: true, filters: [])) else { Issue.record("expected out of sync"); return }
        var t = InterestSequencer()
        _ = t.snapshot(S(epoch: 1, sequence: 0, isLast: false, filters: []))
        guard case .outOfSync = t.snapshot(S(epoch: 1, sequence: 2, isLast: true, filters: [])) else { Issue.record("expected out of sync"); return }
    }

    @Test func aNewerSnapshotSupersedesOneBeingBuilt() {
        var s = InterestSequencer()
        _ = s.snapshot(S(epoch: 1, sequence: 0, isLast: false, filters: ["half"]))
        #expect(s.snapshot(S(epoch: 2, sequence: 0, isLast: true, filters: ["whole"])) == .replace(["whole"]))
    }

    @Test func remoteSenderNumbersSnapshotsAndDeltas() {
        var r = RemoteInterestSender()
        #expect(r.delta(added: ["x"], removed: []).isEmpty)  // nothing before a snapshot
        let snap = r.snapshot(["a", "b"])
        #expect(snap == [.remoteInterest(.snapshot(S(epoch: 1, sequence: 0, isLast: true, filters: ["a", "b"])))])
        #expect(r.delta(added: ["c"], removed: ["a"]) == [.remoteInterest(.delta(D(epoch: 1, sequence: 1, added: ["c"], removed: ["a"])))])
        #expect(r.delta(added: [], removed: []).isEmpty)
        let again = r.snapshot([])
        #expect(again == [.remoteInterest(.snapshot(S(epoch: 2, sequence: 0, isLast: true, filters: [])))])
    }

    @Test func remoteSenderCutsLargeDeltas() throws {
        var r = RemoteInterestSender()
        _ = r.snapshot([])
        let many = (0..<5_000).map { "f/\($0)" }
        let frames = r.delta(added: many, removed: ["gone"])
        #expect(frames.count == 2)
        var added: [String] = [], removed: [String] = [], sequences: [UInt64] = []
        for case .remoteInterest(.delta(let d)) in frames {
            #expect(d.added.count <= FleetLimits.maxFiltersPerFrame)
            added += d.added; removed += d.removed; sequences.append(d.sequence)
        }
        #expect(added == many && removed == ["gone"] && sequences == [1, 2])
        // every frame encodes and decodes
        for f in frames { #expect(try FleetFrameDecoder().decode(FleetFrameEncoder.encode(f))?.frame == f) }
    }

    @Test func remoteSenderHonoursASmallPeerFrameLimit() {
        var r = RemoteInterestSender()
        let filters = (0..<20).map { "filter/number/\($0)" }
        let parts = r.snapshot(filters, maxFilterBytes: 100)
        #expect(parts.count > 1)
        var all: [String] = []
        for case .remoteInterest(.snapshot(let p)) in parts {
            #expect(p.filters.reduce(0) { $0 + 2 + $1.utf8.count } <= 100)
            all += p.filters
        }
        #expect(all == filters)
        let deltas = r.delta(added: filters, removed: [], maxFilterBytes: 100)
        #expect(deltas.count == parts.count)
    }
}
