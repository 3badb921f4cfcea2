import Testing
@testable import FleetCoordinator

@Suite struct DeliveryTrackerTests {
    @Test func noDestinationIsConfirmedAtOnce() {
        var t = DeliveryTracker()
        #expect(t.track(origin: "o", sequence: 5, destinations: []) == .confirmed)
        #expect(t.takeDirty() == ["o"])
        #expect(t.acknowledgement(for: "o")?.upToSequence == 5)
        #expect(t.acknowledgement(for: "o") == nil)  // unchanged: nothing to send
    }

    @Test func confirmedOnlyWhenEveryDestinationAcked() {
        var t = DeliveryTracker()
        #expect(t.track(origin: "o", sequence: 1, destinations: ["a", "b"]) == .pending)
        let first = t.acknowledge(destination: "a", origin: "o", upTo: 1)
        #expect(!first)
        #expect(t.acknowledgement(for: "o") == nil)
        let second = t.acknowledge(destination: "b", origin: "o", upTo: 1)
        #expect(second)
        #expect(t.acknowledgement(for: "o")?.upToSequence == 1)
        #expect(t.pendingCount == 0)
    }

    @Test func cumulativeStopsAtFirstUnconfirmedSelectiveAbove() {
        var t = DeliveryTracker()
        _ = t.track(origin: "o", sequence: 1, destinations: ["slow"])
        _ = t.track(origin: "o", sequence: 2, destinations: ["fast"])
        _ = t.track(origin: "o", sequence: 3, destinations: [])
        t.acknowledge(destination: "fast", origin: "o", upTo: 2)
        let ack = t.acknowledgement(for: "o")
        #expect(ack?.upToSequence == 0 && ack?.sequences == [2, 3])
        t.acknowledge(destination: "slow", origin: "o", upTo: 0, selective: [1])
        let ack2 = t.acknowledgement(for: "o")
        #expect(ack2?.upToSequence == 3 && ack2?.sequences == [])
    }

    @Test func destinationDownReleasesItsEntries() {
        var t = DeliveryTracker()
        _ = t.track(origin: "o1", sequence: 10, destinations: ["d"])
        _ = t.track(origin: "o2", sequence: 20, destinations: ["d", "e"])
        let changed = t.destinationDown("d")
        #expect(changed == ["o1"])
        #expect(t.acknowledgement(for: "o1")?.upToSequence == 10)
        #expect(t.pendingCount(origin: "o2") == 1)
        t.acknowledge(destination: "e", origin: "o2", upTo: 20)
        #expect(t.acknowledgement(for: "o2")?.upToSequence == 20)
    }

    @Test func originDownDropsItsEntriesAndResendIsTrackedAfresh() {
        var t = DeliveryTracker()
        _ = t.track(origin: "o", sequence: 1, destinations: ["d"])
        t.originDown("o")
        #expect(t.pendingCount == 0)
        #expect(t.track(origin: "o", sequence: 1, destinations: ["d"]) == .pending)
    }

    @Test func destinationThatAlreadyAckedIsNotWaitedForAgain() {
        var t = DeliveryTracker()
        _ = t.track(origin: "o", sequence: 7, destinations: ["d"])
        t.acknowledge(destination: "d", origin: "o", upTo: 7)
        t.originDown("o")  // the origin reconnects and re-sends 7
        #expect(t.track(origin: "o", sequence: 7, destinations: ["d"]) == .confirmed)
    }

    @Test func outOfOrderAndOverflow() {
        var t = DeliveryTracker(maxPending: 2)
        #expect(t.track(origin: "o", sequence: 5, destinations: ["d"]) == .pending)
        #expect(t.track(origin: "o", sequence: 5, destinations: ["d"]) == .outOfOrder)
        #expect(t.track(origin: "o", sequence: 6, destinations: ["d"]) == .pending)
        #expect(t.track(origin: "o", sequence: 7, destinations: ["d"]) == .overflow)
        t.acknowledge(destination: "d", origin: "o", upTo: 6)
        #expect(t.track(origin: "o", sequence: 8, destinations: ["d"]) == .pending)
    }

    @Test func manyEntriesCompactAndStayOrdered() {
        var t = DeliveryTracker()
        for s in UInt64(1)...5_000 { _ = t.track(origin: "o", sequence: s, destinations: ["d"]) }
        for s in stride(from: UInt64(100), through: 5_000, by: 100) {
            t.acknowledge(destination: "d", origin: "o", upTo: s)
            #expect(t.acknowledgement(for: "o")?.upToSequence == s)
        }
        #expect(t.pendingCount == 0)
    }
}
