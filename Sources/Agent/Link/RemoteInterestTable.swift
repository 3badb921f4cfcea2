import FleetCore
import FleetProtocol

/// What the other gateways want (REMOTE_INTEREST, Protocol/agent-coordinator.md §5.8), kept as a trie so the
/// forwarding decision is one walk (`wants`). Applies the interest rules of §5.7: a snapshot is
/// built aside and swapped in at its LAST part (the old table stays in force until then, also
/// across a reconnect), older epochs are dropped, a delta out of sequence is `.outOfSync`.
/// Loop-thread only.
final class RemoteInterestTable {
    enum Outcome: Equatable {
        case applied
        /// An older epoch: dropped silently (§5.7).
        case stale
        /// Answer with ERROR interestOutOfSync (once per epoch: `shouldReport`).
        case outOfSync(shouldReport: Bool)
    }

    private(set) var trie = SubscriptionTrie<UInt8, Bool>()
    private(set) var filters: Set<String> = []
    /// The epoch of the table in force on this connection (0 = none yet on this connection).
    private var epoch: UInt64 = 0
    private var nextSequence: UInt64 = 0
    private var building: (epoch: UInt64, nextSequence: UInt64, filters: [String])?
    /// An out-of-sync error was reported for this epoch; the coordinator answers with a snapshot.
    private var reportedEpoch: UInt64?

    /// A snapshot has completed at least once in this process. Until then nothing can be ruled
    /// out, so every topic is wanted: the coordinator routes by its own index, and QoS >= 1 waits
    /// in the outbound log until confirmed. Taking "no view" for "nobody wants it" lost what was
    /// published between the agent's start and its first snapshot: milliseconds normally, up to
    /// the coordinator's recovery (30 s) after it restarted, and everything while it stayed down.
    private(set) var hasView = false

    var filterCount: Int { filters.count }

    /// One trie walk: does any other gateway want `topic` (or might it, before the first view)?
    func wants(_ topic: String) -> Bool { !hasView || (!filters.isEmpty && trie.hasMatch(topic: topic)) }

    /// A new connection: the coordinator's epochs start over, the current table stays in force
    /// until the new snapshot is complete.
    func connectionStarted() {
        epoch = 0
        nextSequence = 0
        building = nil
        reportedEpoch = nil
    }

    func apply(_ frame: FleetFrame.RemoteInterest) -> Outcome {
        switch frame {
        case .snapshot(let s): return apply(snapshot: s)
        case .delta(let d): return apply(delta: d)
        }
    }

    private var newestEpoch: UInt64 { max(epoch, building?.epoch ?? 0) }

    private func outOfSync(_ e: UInt64) -> Outcome {
        defer { reportedEpoch = e }
        return .outOfSync(shouldReport: reportedEpoch != e)
    }

    private func apply(snapshot s: FleetFrame.InterestSnapshot) -> Outcome {
        if s.epoch < newestEpoch { return .stale }
        if var b = building, b.epoch == s.epoch {
            guard s.sequence == b.nextSequence else { building = nil; return outOfSync(s.epoch) }
            b.filters += s.filters
            b.nextSequence += 1
            building = b
        } else if s.epoch > newestEpoch {
            guard s.sequence == 0 else { return outOfSync(s.epoch) }
            building = (s.epoch, 1, s.filters)
            reportedEpoch = nil
        } else {
            return outOfSync(s.epoch)  // a snapshot part for an epoch that is already complete
        }
        if s.isLast, let b = building {
            let t = SubscriptionTrie<UInt8, Bool>()
            for f in b.filters { t.insert(filter: f, subscriber: 0, entry: true) }
            trie = t
            filters = Set(b.filters)
            epoch = b.epoch
            nextSequence = b.nextSequence
            building = nil
            hasView = true
        }
        return .applied
    }

    private func apply(delta d: FleetFrame.InterestDelta) -> Outcome {
        if d.epoch < newestEpoch { return .stale }
        guard d.epoch == epoch, building == nil, d.sequence == nextSequence, epoch > 0 else { return outOfSync(d.epoch) }
        nextSequence += 1
        for f in d.added where filters.insert(f).inserted { trie.insert(filter: f, subscriber: 0, entry: true) }
        for f in d.removed where filters.remove(f) != nil { trie.remove(filter: f, subscriber: 0) }
        return .applied
    }
}
