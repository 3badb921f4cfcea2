import Testing
@testable import fleetgate_bench

/// The load generator's correctness counters (issue #5: it counts loss, duplicates and order
/// violations, not just throughput). `make bench` reports loss as expected minus `unique`.
struct SequenceTrackerTests {
    @Test func broadcastCountsEachSubscriberSeparately() {
        let t = SequenceTracker(mode: .broadcast, publishers: 2, subscribers: 2, capacity: 100)
        for seq in 0..<10 as Range<UInt64> {
            #expect(t.record(publisher: 0, subscriber: 0, seq: seq))
            #expect(t.record(publisher: 0, subscriber: 1, seq: seq))   // same message, other subscriber: new
        }
        #expect(t.unique == 20 && t.duplicates == 0 && t.reorders == 0)
        // A second copy to the same subscriber is a duplicate, not a new delivery.
        #expect(!t.record(publisher: 0, subscriber: 1, seq: 3))
        #expect(t.duplicates == 1 && t.unique == 20)
        // Publisher 1's messages are tracked apart from publisher 0's.
        #expect(t.record(publisher: 1, subscriber: 0, seq: 3))
        #expect(t.unique == 21)
    }

    @Test func anOlderSequenceAfterANewerOneIsAReorder() {
        let t = SequenceTracker(mode: .broadcast, publishers: 1, subscribers: 1, capacity: 64)
        _ = t.record(publisher: 0, subscriber: 0, seq: 0)
        _ = t.record(publisher: 0, subscriber: 0, seq: 5)
        #expect(t.record(publisher: 0, subscriber: 0, seq: 2))   // new, but late
        #expect(t.reorders == 1)
        _ = t.record(publisher: 0, subscriber: 0, seq: 6)
        #expect(t.reorders == 1 && t.unique == 4)
    }

    @Test func outOfRangeOrUnknownPublisherIsForeign() {
        let t = SequenceTracker(mode: .broadcast, publishers: 1, subscribers: 1, capacity: 10)
        #expect(!t.record(publisher: 0, subscriber: 0, seq: 10))
        #expect(!t.record(publisher: 1, subscriber: 0, seq: 0))
        t.recordForeign()
        #expect(t.foreign == 3 && t.unique == 0)
    }

    @Test func unicastDeliversEachMessageOnceAcrossSubscribers() {
        // Wildcard routing: a message goes to one subscriber; a second copy anywhere is a duplicate.
        let t = SequenceTracker(mode: .unicast, publishers: 1, subscribers: 3, capacity: 200)
        #expect(t.record(publisher: 0, subscriber: 2, seq: 130))
        #expect(!t.record(publisher: 0, subscriber: 1, seq: 130))
        #expect(t.unique == 1 && t.duplicates == 1)
    }
}
