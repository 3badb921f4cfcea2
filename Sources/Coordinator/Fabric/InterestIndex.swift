import FleetCore

/// Changes to what each gateway must be told in REMOTE_INTEREST: per gateway, the filters that
/// entered and left the union of the *other* gateways' interest.
public struct UnionChanges: Equatable, Sendable {
    public struct Change: Equatable, Sendable {
        public var added: [String] = []
        public var removed: [String] = []
        public var isEmpty: Bool { added.isEmpty && removed.isEmpty }
    }
    public private(set) var byGateway: [String: Change] = [:]

    public init() {}
    public var isEmpty: Bool { byGateway.values.allSatisfy(\.isEmpty) }

    mutating func add(_ filter: String, for gateway: String) { byGateway[gateway, default: Change()].added.append(filter) }
    mutating func remove(_ filter: String, for gateway: String) { byGateway[gateway, default: Change()].removed.append(filter) }
}

/// The fleet's interest: which gateway wants which filter (a `SubscriptionTrie` keyed by gateway
/// id, so routing a topic is one trie walk), plus the holders of every filter so that the union
/// each gateway is told about ("every other gateway's filters") is maintained incrementally.
///
/// Pure and single-threaded: owned by the coordinator's loop thread, no locks (not Sendable).
/// Members are the connected gateways; only members receive union changes.
public final class InterestIndex {
    /// filter -> gateway ids; the routing structure.
    let trie = SubscriptionTrie<String, Void>()
    /// gateway -> its filters in force.
    private(set) var tables: [String: Set<String>] = [:]
    /// filter -> gateways holding it (at least one; empty entries are removed).
    private(set) var holders: [String: Set<String>] = [:]
    /// Connected gateways (with or without a table yet).
    public private(set) var members: Set<String> = []

    public init() {}

    /// Distinct filters in force over the whole fleet.
    public var filterCount: Int { holders.count }
    /// (filter, gateway) pairs in force.
    public var entryCount: Int { trie.count }

    public func filters(of gateway: String) -> Set<String> { tables[gateway] ?? [] }

    /// A gateway connected: it will receive union changes from now on (it has no table yet).
    public func addMember(_ gateway: String) { members.insert(gateway) }

    /// A gateway left: its filters leave the union of the others; it stops receiving changes.
    @discardableResult
    public func removeMember(_ gateway: String) -> UnionChanges {
        let changes = replace(gateway, with: [])
        tables[gateway] = nil
        members.remove(gateway)
        return changes
    }

    /// A gateway left but its durable interest stays (issue #11): its table shrinks to `durable`
    /// (routing still finds it there; the others' unions keep those filters), and it stops
    /// receiving changes. With no durable filters this is `removeMember`.
    @discardableResult
    public func memberLeft(_ gateway: String, keeping durable: Set<String>) -> UnionChanges {
        let changes = replace(gateway, with: durable)
        if durable.isEmpty { tables[gateway] = nil }
        members.remove(gateway)
        return changes
    }

    /// Replaces the gateway's table wholesale (a completed INTEREST_SNAPSHOT).
    public func replace(_ gateway: String, with filters: Set<String>) -> UnionChanges {
        let old = tables[gateway] ?? []
        var changes = UnionChanges()
        for f in old.subtracting(filters).sorted() { removeOne(f, from: gateway, &changes) }
        for f in filters.subtracting(old).sorted() { addOne(f, to: gateway, &changes) }
        return changes
    }

    /// Applies an INTEREST_DELTA. A filter in both lists ends up present (removals first, then
    /// additions): over-forwarding is harmless, the receiver matches with its own trie; missing
    /// interest would lose messages. Adding a present filter or removing an absent one is a no-op.
    public func apply(_ gateway: String, added: [String], removed: [String]) -> UnionChanges {
        var changes = UnionChanges()
        let adding = Set(added)
        for f in removed where !adding.contains(f) { removeOne(f, from: gateway, &changes) }
        for f in added where !(tables[gateway]?.contains(f) ?? false) { addOne(f, to: gateway, &changes) }
        return changes
    }

    /// The union of every other gateway's filters, sorted (the REMOTE_INTEREST snapshot).
    public func remoteUnion(for gateway: String) -> [String] {
        var out: [String] = []
        for (f, hs) in holders where hs.count > 1 || !hs.contains(gateway) { out.append(f) }
        return out.sorted()
    }

    /// Gateways (other than `excluding`) with a filter matching `topic`: one trie walk, deduplicated.
    public func gateways(matching topic: String, excluding: String? = nil) -> [String] {
        var seen: Set<String> = []
        var out: [String] = []
        trie.forEachMatch(topic: topic) { gateway, _ in
            if gateway != excluding && seen.insert(gateway).inserted { out.append(gateway) }
        }
        return out
    }

    /// Every (gateway, filter) in force whose filter matches `topic`, for the admin API.
    public func matchingFilters(topic: String) -> [(gateway: String, filter: String)] {
        var out: [(String, String)] = []
        for (f, hs) in holders where TopicMatch.matches(filter: f, topic: topic) {
            for g in hs { out.append((g, f)) }
        }
        return out.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
    }

    // A filter entering gateway H's table changes the union of gateway G != H only when G had no
    // other source for it: nobody held it (every member but H gains it), or G was its only holder
    // (G gains it). Leaving is symmetric.
    private func addOne(_ f: String, to h: String, _ changes: inout UnionChanges) {
        let hs = holders[f] ?? []
        if hs.isEmpty {
            for g in members where g != h { changes.add(f, for: g) }
        } else if hs.count == 1, let only = hs.first, only != h {
            changes.add(f, for: only)
        }
        holders[f, default: []].insert(h)
        tables[h, default: []].insert(f)
        _ = trie.insert(filter: f, subscriber: h, entry: ())
    }

    private func removeOne(_ f: String, from h: String, _ changes: inout UnionChanges) {
        guard var hs = holders[f], hs.remove(h) != nil else { return }
        if hs.isEmpty {
            holders[f] = nil
            for g in members where g != h { changes.remove(f, for: g) }
        } else {
            holders[f] = hs
            if hs.count == 1, let only = hs.first { changes.remove(f, for: only) }
        }
        tables[h]?.remove(f)
        _ = trie.remove(filter: f, subscriber: h)
    }
}
