import FleetProtocol

// Our interest to the coordinator (INTEREST_SNAPSHOT / INTEREST_DELTA, docs/PROTOCOL.md §5.6-5.7)
// and theirs to us (REMOTE_INTEREST, §5.8). Loop-thread only.
extension CoordinatorLink {
    /// FabricLink: a filter gained its first or lost its last local subscriber. Recorded only;
    /// the turn's changes go out as one delta from `beforeSleep` (an add and a remove of the same
    /// filter in one turn cancel). While no session is up nothing is kept: the next session
    /// starts from a snapshot.
    func interestChanged(filter: String, added: Bool) {
        guard phase == .established else { return }
        pendingInterest[filter] = added
    }

    /// A fresh snapshot of every local filter under a new epoch (1 on a new session), split into
    /// parts of at most 4096 filters / 64 KiB.
    func sendSnapshot() {
        guard let c = connection else { return }
        localEpoch += 1
        let filters = broker.interestSnapshot()
        let parts = FleetFrame.InterestSnapshot.parts(epoch: localEpoch, filters: filters)
        for part in parts { c.sendControl(.interestSnapshot(part)) }
        localSequence = parts.last?.sequence ?? 0
        announced = Set(filters)
        pendingInterest = [:]
        metrics.snapshotsSent += 1
    }

    /// Sends the turn's interest changes as deltas (split like snapshot parts).
    func flushInterest() {
        guard !pendingInterest.isEmpty, phase == .established, let c = connection else { return }
        var added: [String] = [], removed: [String] = []
        for (filter, isAdded) in pendingInterest.sorted(by: { $0.key < $1.key }) {
            if isAdded, announced.insert(filter).inserted { added.append(filter) }
            if !isAdded, announced.remove(filter) != nil { removed.append(filter) }
        }
        pendingInterest = [:]
        for (a, r) in Self.chunks(added: added, removed: removed, maxFilters: limits.maxFiltersPerDelta) {
            localSequence += 1
            c.sendControl(.interestDelta(FleetFrame.InterestDelta(epoch: localEpoch, sequence: localSequence, added: a, removed: r)))
            metrics.deltasSent += 1
        }
    }

    /// Deltas of at most `maxFilters` per list and 64 KiB of filter bytes each.
    static func chunks(added: [String], removed: [String], maxFilters: Int) -> [([String], [String])] {
        var out: [([String], [String])] = []
        var a: [String] = [], r: [String] = [], bytes = 0
        func fits(_ f: String, _ list: [String]) -> Bool {
            list.count < maxFilters && bytes + 2 + f.utf8.count <= FleetLimits.snapshotPartBytes
        }
        for (f, isAdded) in added.map({ ($0, true) }) + removed.map({ ($0, false) }) {
            if !fits(f, isAdded ? a : r) && !(a.isEmpty && r.isEmpty) {
                out.append((a, r)); a = []; r = []; bytes = 0
            }
            if isAdded { a.append(f) } else { r.append(f) }
            bytes += 2 + f.utf8.count
        }
        if !a.isEmpty || !r.isEmpty { out.append((a, r)) }
        return out
    }

    func receivedRemoteInterest(_ frame: FleetFrame.RemoteInterest, on c: CoordinatorConnection) {
        switch remote.apply(frame) {
        case .applied, .stale: break
        case .outOfSync(let report):
            guard report else { return }
            metrics.outOfSyncSent += 1
            c.sendControl(.error(FleetFrame.ErrorReport(code: .interestOutOfSync, relatedKind: .remoteInterest,
                                                        message: "REMOTE_INTEREST out of sequence; send a new snapshot")))
        }
    }
}
