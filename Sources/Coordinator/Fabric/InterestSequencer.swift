import FleetProtocol

/// The epoch/sequence rules of one gateway's INTEREST_SNAPSHOT / INTEREST_DELTA stream
/// (Protocol/agent-coordinator.md §5.6-5.7), for one connection. Pure: frames in, outcomes out; the table itself
/// lives in ``InterestIndex``.
///
/// - Snapshot parts of a new (higher) epoch start at sequence 0 and are collected aside; the table
///   is swapped in at the LAST part (the old one stays in force until then).
/// - A frame of an older epoch is dropped.
/// - A delta for the current epoch with the wrong sequence, a delta before the LAST part, a part out
///   of sequence, or anything before the first snapshot is out of sync: one ERROR
///   interestOutOfSync, then frames of that epoch are dropped until a snapshot with a higher epoch.
public struct InterestSequencer: Sendable, Equatable {
    public enum Outcome: Equatable, Sendable {
        /// Older epoch, or the rest of an epoch already reported out of sync.
        case dropped
        /// Send ERROR interestOutOfSync (the reason is for the message).
        case outOfSync(String)
        /// A snapshot part was taken; the table is not complete yet.
        case partial
        /// The snapshot is complete: replace the gateway's table with these filters.
        case replace(Set<String>)
        /// Apply this delta to the table in force.
        case delta(added: [String], removed: [String])
        /// A snapshot under construction passed `maxFilters`: refuse the gateway (the fabric
        /// checks deltas against the table it holds).
        case tooLarge(String)
    }

    enum State: Equatable, Sendable {
        /// Nothing received on this connection yet.
        case idle
        case building(epoch: UInt64, next: UInt64, filters: Set<String>)
        case synced(epoch: UInt64, next: UInt64)
        /// Reported out of sync; waiting for a snapshot with an epoch above this one.
        case broken(epoch: UInt64)
    }

    private(set) var state = State.idle
    /// Filters a snapshot may bring; a bigger one is `.tooLarge` as soon as a part passes it.
    public let maxFilters: Int

    public init(maxFilters: Int = CoordinatorLimits.defaultMaxInterestFilters) {
        self.maxFilters = maxFilters
    }

    /// The highest epoch seen, nil before the first snapshot.
    var epoch: UInt64? {
        switch state {
        case .idle: nil
        case .building(let e, _, _), .synced(let e, _), .broken(let e): e
        }
    }

    public mutating func snapshot(_ s: FleetFrame.InterestSnapshot) -> Outcome {
        if let current = epoch, s.epoch < current { return .dropped }
        switch state {
        case .building(let e, let next, var filters) where e == s.epoch:
            guard s.sequence == next else { return breakSync(e, "snapshot part \(s.sequence) of epoch \(e), expected \(next)") }
            state = .idle  // drop the state's reference, or formUnion copies every filter so far per part
            filters.formUnion(s.filters)
            guard filters.count <= maxFilters else { return tooLarge(e, filters.count) }
            return finish(epoch: e, next: next + 1, filters: filters, last: s.isLast)
        case .synced(let e, _) where e == s.epoch:
            return breakSync(e, "snapshot part for epoch \(e), which is complete: resynchronise with a higher epoch")
        case .broken(let e) where e == s.epoch:
            return .dropped
        default:
            // A higher epoch (or the first one): a new table starts at sequence 0.
            guard s.sequence == 0 else { return breakSync(s.epoch, "new snapshot epoch \(s.epoch) starts at sequence \(s.sequence), expected 0") }
            let filters = Set(s.filters)
            guard filters.count <= maxFilters else { return tooLarge(s.epoch, filters.count) }
            return finish(epoch: s.epoch, next: 1, filters: filters, last: s.isLast)
        }
    }

    public mutating func delta(_ d: FleetFrame.InterestDelta) -> Outcome {
        switch state {
        case .idle:
            return breakSync(0, "delta before any snapshot")
        case .building(let e, _, _):
            if d.epoch < e { return .dropped }
            return breakSync(e, "delta (epoch \(d.epoch)) before the LAST part of snapshot epoch \(e)")
        case .synced(let e, let next):
            if d.epoch < e { return .dropped }
            guard d.epoch == e else { return breakSync(e, "delta for epoch \(d.epoch) without its snapshot (current epoch \(e))") }
            guard d.sequence == next else { return breakSync(e, "delta sequence \(d.sequence), expected \(next)") }
            state = .synced(epoch: e, next: next + 1)
            return .delta(added: d.added, removed: d.removed)
        case .broken(let e):
            if d.epoch <= e { return .dropped }
            return .outOfSync("delta for epoch \(d.epoch) without its snapshot")
        }
    }

    private mutating func finish(epoch: UInt64, next: UInt64, filters: Set<String>, last: Bool) -> Outcome {
        if last {
            state = .synced(epoch: epoch, next: next)
            return .replace(filters)
        }
        state = .building(epoch: epoch, next: next, filters: filters)
        return .partial
    }

    private mutating func tooLarge(_ epoch: UInt64, _ count: Int) -> Outcome {
        state = .broken(epoch: max(epoch, self.epoch ?? 0))
        return .tooLarge("interest snapshot of \(count) filters, more than the \(maxFilters) allowed (max_interest_filters)")
    }

    private mutating func breakSync(_ epoch: UInt64, _ reason: String) -> Outcome {
        state = .broken(epoch: max(epoch, self.epoch ?? 0))
        return .outOfSync(reason)
    }
}

/// The coordinator's side of REMOTE_INTEREST for one connection: its own epochs and sequences.
public struct RemoteInterestSender: Sendable, Equatable {
    public private(set) var epoch: UInt64 = 0
    public private(set) var nextSequence: UInt64 = 0

    public init() {}

    /// A full snapshot under a new epoch (the first one is epoch 1), in parts.
    /// `maxFilterBytes` lowers the 64 KiB cut for a peer with a small maximum frame size.
    public mutating func snapshot(_ filters: [String], maxFilterBytes: Int = FleetLimits.snapshotPartBytes) -> [FleetFrame] {
        epoch += 1
        let parts = FleetFrame.InterestSnapshot.parts(epoch: epoch, filters: filters, maxBodyBytes: maxFilterBytes)
        nextSequence = UInt64(parts.count)
        return parts.map { .remoteInterest(.snapshot($0)) }
    }

    /// Deltas for a union change, cut like snapshot parts (≤ 4096 filters per list, ≤ 64 KiB of
    /// filter bytes per frame). Empty change: no frame. Only after a snapshot.
    public mutating func delta(added: [String], removed: [String], maxFilterBytes: Int = FleetLimits.snapshotPartBytes) -> [FleetFrame] {
        guard epoch > 0, !(added.isEmpty && removed.isEmpty) else { return [] }
        var frames: [FleetFrame] = []
        var a: [String] = [], r: [String] = []
        var bytes = 0
        func cut() {
            frames.append(.remoteInterest(.delta(.init(epoch: epoch, sequence: nextSequence, added: a, removed: r))))
            nextSequence += 1
            a = []; r = []; bytes = 0
        }
        for f in added {
            let size = 2 + f.utf8.count
            if !(a.isEmpty && r.isEmpty) && (a.count == FleetLimits.maxFiltersPerFrame || bytes + size > maxFilterBytes) { cut() }
            a.append(f); bytes += size
        }
        for f in removed {
            let size = 2 + f.utf8.count
            if !(a.isEmpty && r.isEmpty) && (r.count == FleetLimits.maxFiltersPerFrame || bytes + size > maxFilterBytes) { cut() }
            r.append(f); bytes += size
        }
        if !(a.isEmpty && r.isEmpty) { cut() }
        return frames
    }
}
