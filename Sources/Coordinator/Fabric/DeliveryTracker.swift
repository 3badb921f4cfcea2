import FleetCore
import FleetProtocol

/// Which QoS >= 1 forwards each origin is still owed a confirmation for, and by whom
/// (PROTOCOL.md §5.10). Pure, single-threaded (the loop thread owns it).
///
/// - `track` records a forward of origin O routed to some destinations; with none it is
///   confirmed at once.
/// - A destination's DELIVERY_ACK(origin O, up-to, selective) removes it from every entry it covers.
/// - A destination that goes down is removed from every entry (when it comes back it receives
///   only new traffic; durability of what it missed is the origin's outbound log + re-send only
///   if the *origin* reconnects).
/// - An origin that goes down loses its entries: it re-sends its unconfirmed log after its next
///   HELLO and the re-sent forwards are tracked afresh.
/// - `acknowledgement(for:)` gives the DELIVERY_ACK owed to the origin: cumulative up to the first
///   unconfirmed forward, plus confirmed ones above it as selective sequences.
///
/// QoS 0 forwards are never tracked. Sequences not tracked (QoS 0, gaps) are covered by the
/// cumulative ack once everything tracked below them is confirmed, which is what the origin needs:
/// it keeps only QoS >= 1 forwards in its log.
public struct DeliveryTracker: Sendable {
    struct Entry: Sendable {
        let sequence: UInt64
        var waiting: Set<String>
    }

    struct Origin: Sendable {
        /// Sorted by sequence, from the first entry not yet confirmed (confirmed ones at the front
        /// are removed as the cumulative ack passes them).
        var entries = RingBuffer<Entry>()
        /// Everything <= this is confirmed (what the next cumulative ack says).
        var confirmedUpTo: UInt64 = 0
        var lastTracked: UInt64 = 0
        /// What the last DELIVERY_ACK sent said, to send only changes.
        var sentUpTo: UInt64 = 0
        var sentSelective: [UInt64] = []
        /// Entries behind the first unconfirmed one already confirmed (out of order): when 0, the
        /// selective part of the ack is empty without walking every pending entry.
        var confirmedAboveHead = 0
        var pending: Int { entries.count }
    }

    public enum TrackResult: Equatable, Sendable {
        /// Confirmed already (no destination still owes it): an ack is due.
        case confirmed
        case pending
        /// Not above the last tracked sequence of this origin session (a re-send in the same
        /// session): routed but not tracked; the cumulative ack covers it.
        case outOfOrder
        /// The origin has `maxPending` unconfirmed forwards: not tracked, the caller closes the
        /// origin with `overloaded` (it re-sends after reconnecting).
        case overflow
    }

    private var origins: [String: Origin] = [:]
    /// (origin, destination) -> highest cumulative sequence the destination reported taking.
    /// Kept across sessions so a re-sent forward the destination already took is not waited for.
    private var destinationAcks: [String: [String: UInt64]] = [:]
    /// Origins whose acknowledgement may have changed since `takeDirty()`.
    private var dirty: Set<String> = []
    public let maxPending: Int

    public init(maxPending: Int = CoordinatorLimits.maxPendingForwardsPerOrigin) { self.maxPending = maxPending }

    /// Unconfirmed forwards over all origins.
    public var pendingCount: Int { origins.values.reduce(0) { $0 + $1.pending } }
    public func pendingCount(origin: String) -> Int { origins[origin]?.pending ?? 0 }

    public mutating func track(origin: String, sequence: UInt64, destinations: [String]) -> TrackResult {
        var o = takeOrigin(origin) ?? Origin()
        defer { origins[origin] = o }
        guard sequence > o.lastTracked, sequence > o.confirmedUpTo else { return .outOfOrder }
        let acked = destinationAcks[origin]
        let waiting = Set(destinations.filter { (acked?[$0] ?? 0) < sequence })
        if waiting.isEmpty && o.pending == 0 {
            o.lastTracked = sequence
            o.confirmedUpTo = sequence
            dirty.insert(origin)
            return .confirmed
        }
        guard o.pending < maxPending else { return .overflow }
        o.lastTracked = sequence
        o.entries.append(Entry(sequence: sequence, waiting: waiting))
        if waiting.isEmpty {
            o.confirmedAboveHead += 1
            dirty.insert(origin)
            return .confirmed
        }
        return .pending
    }

    /// A destination's DELIVERY_ACK for `origin`. Returns whether the origin's ack may have changed.
    @discardableResult
    public mutating func acknowledge(destination: String, origin: String, upTo: UInt64, selective: [UInt64] = []) -> Bool {
        if upTo > 0 { destinationAcks[origin, default: [:]][destination] = max(destinationAcks[origin]?[destination] ?? 0, upTo) }
        guard var o = takeOrigin(origin) else { return false }
        defer { origins[origin] = o }
        guard o.pending > 0 else { return false }
        var changed = false
        // Entries are sorted: walk the covered prefix, then binary-search each selective one.
        var i = 0
        while i < o.entries.count && o.entries[i].sequence <= upTo {
            if o.entries[i].waiting.remove(destination) != nil, o.entries[i].waiting.isEmpty {
                o.confirmedAboveHead += 1
                changed = true
            }
            i += 1
        }
        for s in selective where s > upTo {
            if let j = Self.index(of: s, in: o.entries), o.entries[j].waiting.remove(destination) != nil,
               o.entries[j].waiting.isEmpty {
                o.confirmedAboveHead += 1
                changed = true
            }
        }
        if changed { Self.advance(&o); dirty.insert(origin) }
        return changed
    }

    /// A destination went down: it owes nothing any more. Returns the origins whose ack changed.
    @discardableResult
    public mutating func destinationDown(_ destination: String) -> [String] {
        var changedOrigins: [String] = []
        for (name, var o) in origins where o.pending > 0 {
            var removed = false, confirmed = false
            for i in o.entries.indices where o.entries[i].waiting.remove(destination) != nil {
                removed = true
                if o.entries[i].waiting.isEmpty {
                    o.confirmedAboveHead += 1
                    confirmed = true
                }
            }
            guard removed else { continue }
            if confirmed {
                Self.advance(&o)
                dirty.insert(name)
                changedOrigins.append(name)
            }
            origins[name] = o
        }
        return changedOrigins.sorted()
    }

    /// The origin's session ended: its entries are dropped (it re-sends them after reconnecting).
    public mutating func originDown(_ origin: String) {
        origins[origin] = nil
        dirty.remove(origin)
    }

    /// Origins whose acknowledgement may have changed since the last call.
    public mutating func takeDirty() -> [String] {
        let out = dirty.sorted()
        dirty.removeAll(keepingCapacity: true)
        return out
    }

    /// The DELIVERY_ACK owed to `origin` if it differs from the last one returned, else nil.
    public mutating func acknowledgement(for origin: String) -> FleetFrame.DeliveryAck? {
        guard let o = origins[origin] else { return nil }
        var selective: [UInt64] = []
        var i = o.confirmedAboveHead > 0 ? 0 : o.entries.count
        while i < o.entries.count && selective.count < CoordinatorLimits.maxSelectiveAcks {
            if o.entries[i].waiting.isEmpty { selective.append(o.entries[i].sequence) }
            i += 1
        }
        guard o.confirmedUpTo != o.sentUpTo || selective != o.sentSelective else { return nil }
        origins[origin]?.sentUpTo = o.confirmedUpTo      // in place: `o` shares the entries
        origins[origin]?.sentSelective = selective
        return FleetFrame.DeliveryAck(originGatewayId: origin, upToSequence: o.confirmedUpTo, sequences: selective)
    }

    /// Removes the origin's state for a mutation, so its entries array is uniquely referenced:
    /// `var o = origins[origin]` then `o.entries[i]...` would copy every pending entry (copy on
    /// write, the dictionary still holds the array) once per forward and once per ack.
    private mutating func takeOrigin(_ origin: String) -> Origin? {
        origins.removeValue(forKey: origin)
    }

    /// Removes the confirmed entries at the front, raising `confirmedUpTo`.
    private static func advance(_ o: inout Origin) {
        while let front = o.entries.first, front.waiting.isEmpty {
            o.confirmedUpTo = front.sequence
            _ = o.entries.popFirst()
            o.confirmedAboveHead -= 1
        }
    }

    private static func index(of sequence: UInt64, in entries: RingBuffer<Entry>) -> Int? {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].sequence < sequence { lo = mid + 1 } else { hi = mid }
        }
        return lo < entries.count && entries[lo].sequence == sequence ? lo : nil
    }
}
