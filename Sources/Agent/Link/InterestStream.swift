import FleetProtocol

/// One filter table told to the coordinator as a snapshot in parts, then deltas under the same
/// epoch (Protocol/agent-coordinator.md §5.6-5.7): the link keeps two, our interest (INTEREST_SNAPSHOT/DELTA)
/// and our durable interest (DURABLE_INTEREST, §5.13). Changes are recorded as they happen and
/// sent once per loop turn (an add and a remove of the same filter in one turn cancel). Pure.
struct InterestStream {
    private(set) var epoch: UInt64 = 0
    private var sequence: UInt64 = 0
    /// What the coordinator was told is in force.
    private(set) var announced: Set<String> = []
    /// Changes since the last snapshot or delta, by filter (true = added).
    private(set) var pending: [String: Bool] = [:]

    /// A new connection: the next snapshot is epoch 1.
    mutating func restart() {
        epoch = 0
        pending = [:]
    }

    /// Nothing is kept while no session is up: the next one starts from a snapshot.
    mutating func discardPending() { pending = [:] }

    mutating func record(_ filter: String, added: Bool) { pending[filter] = added }

    /// Every filter under a new epoch, in parts of at most 4096 filters / 64 KiB.
    mutating func snapshot(of filters: [String]) -> [FleetFrame.InterestSnapshot] {
        epoch += 1
        let parts = FleetFrame.InterestSnapshot.parts(epoch: epoch, filters: filters)
        sequence = parts.last?.sequence ?? 0
        announced = Set(filters)
        pending = [:]
        return parts
    }

    /// The recorded changes as deltas (split like snapshot parts); empty when nothing changed.
    mutating func deltas(maxFilters: Int) -> [FleetFrame.InterestDelta] {
        guard !pending.isEmpty else { return [] }
        var added: [String] = [], removed: [String] = []
        for (filter, isAdded) in pending.sorted(by: { $0.key < $1.key }) {
            if isAdded, announced.insert(filter).inserted { added.append(filter) }
            if !isAdded, announced.remove(filter) != nil { removed.append(filter) }
        }
        pending = [:]
        return Self.chunks(added: added, removed: removed, maxFilters: maxFilters).map { a, r in
            sequence += 1
            return FleetFrame.InterestDelta(epoch: epoch, sequence: sequence, added: a, removed: r)
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
}
