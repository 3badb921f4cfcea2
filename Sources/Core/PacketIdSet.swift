/// The packet ids of a session's in-flight messages: an open-addressing table of `UInt16` with
/// linear probing, where 0 (never a valid packet id, MQTT §2.2.1) marks an empty slot.
///
/// Why not `Set<UInt16>`: every QoS 1 delivery asks it four times (allocate, insert, find the
/// acknowledged one, remove), and each ask hashed the id with SipHash: about 8 % of the broker's
/// instructions per message in fan-in QoS 1 (docs/PROFILE.md). Here an id's slot is a Fibonacci
/// hash (one multiplication). Not the masked id itself: ids are handed out in sequence, so that
/// would make the whole window one cluster, and removing the oldest would scan all of it.
///
/// Allocates nothing while empty (an idle session's memory is a budget); the table doubles at
/// half full, so a probe ends within a few slots. Loop-thread only, like the session that owns it.
@frozen
public struct PacketIdSet {
    @usableFromInline var slots: ContiguousArray<UInt16> = []
    @usableFromInline var _count = 0

    @inlinable public init() {}

    @inlinable public var count: Int { _count }
    @inlinable public var isEmpty: Bool { _count == 0 }

    @inlinable
    public func contains(_ id: UInt16) -> Bool {
        guard _count > 0, id != 0 else { return false }
        return slots.withUnsafeBufferPointer { s in
            let mask = s.count - 1
            var i = Self.home(id, mask)
            while true {
                let v = s[i]
                if v == id { return true }
                if v == 0 { return false }
                i = (i + 1) & mask
            }
        }
    }

    /// Adds `id`. Returns false when it was already there, or is 0 (never held: no valid
    /// packet id, and a restored row must not be able to stop the agent).
    @inlinable @discardableResult
    public mutating func insert(_ id: UInt16) -> Bool {
        guard id != 0 else { return false }
        if (_count + 1) * 2 > slots.count { grow() }
        let inserted = slots.withUnsafeMutableBufferPointer { s -> Bool in
            let mask = s.count - 1
            var i = Self.home(id, mask)
            while true {
                let v = s[i]
                if v == id { return false }
                if v == 0 { s[i] = id; return true }
                i = (i + 1) & mask
            }
        }
        if inserted { _count += 1 }
        return inserted
    }

    /// Removes `id`. Returns false when it was not there. Backward-shift deletion: entries after
    /// the hole that probed past it move up, so no tombstones accumulate.
    @inlinable @discardableResult
    public mutating func remove(_ id: UInt16) -> Bool {
        guard _count > 0, id != 0 else { return false }
        let removed = slots.withUnsafeMutableBufferPointer { s -> Bool in
            let mask = s.count - 1
            var i = Self.home(id, mask)
            while true {
                let v = s[i]
                if v == 0 { return false }
                if v == id { break }
                i = (i + 1) & mask
            }
            var hole = i
            var j = i
            while true {
                j = (j + 1) & mask
                let v = s[j]
                if v == 0 { break }
                let home = Self.home(v, mask)
                // v may fill the hole unless its home lies cyclically in (hole, j].
                let homeAfterHole = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j)
                if !homeAfterHole {
                    s[hole] = v
                    hole = j
                }
            }
            s[hole] = 0
            return true
        }
        if removed { _count -= 1 }
        return removed
    }

    /// The slot an id probes from: the top bits of id × 2^32/φ, as many as the table (a power of
    /// two, `mask + 1` slots) needs.
    @inlinable @inline(__always)
    static func home(_ id: UInt16, _ mask: Int) -> Int {
        let h = UInt32(truncatingIfNeeded: id) &* 0x9E37_79B1
        return Int(truncatingIfNeeded: h >> UInt32(32 - (mask + 1).trailingZeroBitCount))
    }

    /// Empties the set and frees its table.
    @inlinable public mutating func removeAll() {
        slots = []
        _count = 0
    }

    @usableFromInline mutating func grow() {
        let old = slots
        slots = ContiguousArray(repeating: 0, count: max(16, old.count * 2))
        _count = 0
        for v in old where v != 0 { insert(v) }
    }
}

extension PacketIdSet: Sendable {}
