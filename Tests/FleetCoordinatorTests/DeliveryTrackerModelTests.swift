import FleetProtocol
import Testing
@testable import FleetCoordinator

/// DeliveryTracker against a naive model: a plain list of the origin's unconfirmed forwards and
/// the destinations each still waits for, with none of the tracker's head index, compaction or
/// counters. Random operations; after each one the DELIVERY_ACK owed must match.
@Suite struct DeliveryTrackerModelTests {
    /// One origin as the protocol describes it (PROTOCOL.md §5.10).
    struct ModelOrigin {
        var live: [(sequence: UInt64, waiting: Set<String>)] = []
        var confirmedUpTo: UInt64 = 0
        var lastTracked: UInt64 = 0
        var sent: (upTo: UInt64, selective: [UInt64]) = (0, [])

        mutating func advance() {
            while let first = live.first, first.waiting.isEmpty {
                confirmedUpTo = first.sequence
                live.removeFirst()
            }
        }

        var owed: (upTo: UInt64, selective: [UInt64]) {
            (confirmedUpTo, Array(live.filter { $0.waiting.isEmpty }.map(\.sequence).prefix(CoordinatorLimits.maxSelectiveAcks)))
        }
    }

    struct Model {
        let maxPending: Int
        var origins: [String: ModelOrigin] = [:]
        var destinationAcks: [String: [String: UInt64]] = [:]

        mutating func track(_ origin: String, _ sequence: UInt64, _ destinations: [String]) -> DeliveryTracker.TrackResult {
            var o = origins[origin] ?? ModelOrigin()
            defer { origins[origin] = o }
            guard sequence > o.lastTracked, sequence > o.confirmedUpTo else { return .outOfOrder }
            let waiting = Set(destinations.filter { (destinationAcks[origin]?[$0] ?? 0) < sequence })
            if waiting.isEmpty && o.live.isEmpty {
                o.lastTracked = sequence
                o.confirmedUpTo = sequence
                return .confirmed
            }
            guard o.live.count < maxPending else { return .overflow }
            o.lastTracked = sequence
            o.live.append((sequence, waiting))
            return waiting.isEmpty ? .confirmed : .pending
        }

        mutating func acknowledge(_ destination: String, _ origin: String, _ upTo: UInt64, _ selective: [UInt64]) {
            if upTo > 0 { destinationAcks[origin, default: [:]][destination] = max(destinationAcks[origin]?[destination] ?? 0, upTo) }
            guard var o = origins[origin] else { return }
            for i in o.live.indices where o.live[i].sequence <= upTo || selective.contains(o.live[i].sequence) {
                o.live[i].waiting.remove(destination)
            }
            o.advance()
            origins[origin] = o
        }

        mutating func destinationDown(_ destination: String) {
            for name in origins.keys {
                for i in origins[name]!.live.indices { origins[name]!.live[i].waiting.remove(destination) }
                origins[name]!.advance()
            }
        }

        /// What `acknowledgement(for:)` must return: the owed ack when it differs from the last sent.
        mutating func acknowledgement(_ origin: String) -> (upTo: UInt64, selective: [UInt64])? {
            guard var o = origins[origin] else { return nil }
            let owed = o.owed
            guard owed.upTo != o.sent.upTo || owed.selective != o.sent.selective else { return nil }
            o.sent = owed
            origins[origin] = o
            return owed
        }
    }

    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func matchesTheModel(seed: UInt64) {
        var rng = SplitMix(seed: seed)   // InterestIndexTests.swift
        let maxPending = 40
        var tracker = DeliveryTracker(maxPending: maxPending)
        var model = Model(maxPending: maxPending)
        let originNames = ["o1", "o2"], destinationNames = ["a", "b", "c"]
        for step in 0..<3_000 {
            let origin = originNames.randomElement(using: &rng)!
            switch Int.random(in: 0..<100, using: &rng) {
            case 0..<45:
                let last = model.origins[origin]?.lastTracked ?? 0
                // mostly the next sequences; sometimes a gap, sometimes a re-send of an old one
                let sequence = Int.random(in: 0..<10, using: &rng) == 0
                    ? UInt64.random(in: 1...max(1, last), using: &rng)
                    : last + UInt64.random(in: 1...3, using: &rng)
                let destinations = destinationNames.filter { _ in Bool.random(using: &rng) }
                let expected = model.track(origin, sequence, destinations)
                #expect(tracker.track(origin: origin, sequence: sequence, destinations: destinations) == expected,
                        "step \(step): track(\(origin), \(sequence), \(destinations))")
            case 45..<85:
                let destination = destinationNames.randomElement(using: &rng)!
                let last = model.origins[origin]?.lastTracked ?? 0
                let upTo = Int.random(in: 0..<3, using: &rng) == 0 ? UInt64.random(in: 0...last, using: &rng) : 0
                let selective = (model.origins[origin]?.live.map(\.sequence) ?? []).filter { $0 > upTo && Int.random(in: 0..<3, using: &rng) == 0 }
                model.acknowledge(destination, origin, upTo, selective)
                tracker.acknowledge(destination: destination, origin: origin, upTo: upTo, selective: selective)
            case 85..<88:
                let destination = destinationNames.randomElement(using: &rng)!
                model.destinationDown(destination)
                tracker.destinationDown(destination)
            case 88..<90:
                model.origins[origin] = nil
                tracker.originDown(origin)
            default:
                break
            }
            for name in originNames {
                let expected = model.acknowledgement(name)
                let actual = tracker.acknowledgement(for: name)
                #expect(actual?.upToSequence == expected?.upTo && actual?.sequences == expected?.selective,
                        "step \(step), origin \(name): ack \(String(describing: actual)) != model \(String(describing: expected))")
                #expect(tracker.pendingCount(origin: name) == model.origins[name]?.live.count ?? 0, "step \(step)")
            }
        }
    }
}
