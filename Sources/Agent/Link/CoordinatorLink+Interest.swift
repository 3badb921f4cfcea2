import FleetProtocol

// Our interest to the coordinator (INTEREST_SNAPSHOT / INTEREST_DELTA, Protocol/agent-coordinator.md §5.6-5.7)
// and theirs to us (REMOTE_INTEREST, §5.8). Loop-thread only.
extension CoordinatorLink {
    /// FabricLink: a filter gained its first or lost its last local subscriber. Recorded only;
    /// the turn's changes go out as one delta from `endTurn`. While no session is up nothing is
    /// kept: the next session starts from a snapshot.
    func interestChanged(filter: String, added: Bool) {
        guard phase == .established else { return }
        interest.record(filter, added: added)
    }

    /// A fresh snapshot of every local filter under a new epoch (1 on a new session).
    func sendSnapshot() {
        guard let c = connection else { return }
        for part in interest.snapshot(of: broker.interestSnapshot()) { c.sendControl(.interestSnapshot(part)) }
        metrics.snapshotsSent += 1
    }

    /// Sends the turn's interest changes as deltas.
    func flushInterest() {
        guard phase == .established, let c = connection else { return }
        for delta in interest.deltas(maxFilters: limits.maxFiltersPerDelta) {
            c.sendControl(.interestDelta(delta))
            metrics.deltasSent += 1
        }
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
