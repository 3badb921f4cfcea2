import FleetCore

/// The in-memory mirror of `forward_log`: QoS >= 1 forwards in sequence order, from the oldest
/// unconfirmed one, with a send cursor. A reconnect rewinds the cursor so everything unconfirmed is
/// re-sent in order; confirmations (cumulative or selective) remove entries. Pure value.
struct OutboundLog {
    struct Entry {
        let seq: UInt64
        var message: Message
        /// Confirmed (or dropped locally): skipped, removed once at the front.
        var isDone = false
    }

    /// From the oldest entry still in the log.
    private var entries = RingBuffer<Entry>()
    /// Position (from the front) of the next entry to send on the current connection.
    private var cursor = 0
    /// Entries not done.
    private(set) var count = 0

    mutating func append(seq: UInt64, message: Message) {
        precondition(entries.last.map { $0.seq < seq } ?? true, "forward sequences must increase")
        entries.append(Entry(seq: seq, message: message))
        count += 1
    }

    /// The next entry to send, if any (does not move the cursor).
    mutating func nextUnsent() -> Entry? {
        while cursor < entries.count && entries[cursor].isDone { cursor += 1 }
        return cursor < entries.count ? entries[cursor] : nil
    }

    /// The entry `nextUnsent()` returned was sent (or dropped).
    mutating func advance() { cursor += 1 }

    /// Drops the entry `nextUnsent()` returned without sending it (expired, too large).
    mutating func dropUnsent() {
        if cursor < entries.count && !entries[cursor].isDone { markDone(cursor) }
        cursor += 1
        removeDoneAtFront()
    }

    /// A new connection: send everything unconfirmed again, in order.
    mutating func rewind() { cursor = 0 }

    /// REPLAY: send again from the first entry at or above `seq` (binary search), unless the
    /// cursor is already there or before. Returns how many entries will be sent again.
    @discardableResult
    mutating func rewind(toSequence seq: UInt64) -> Int {
        let position = index(atOrAbove: seq)
        guard position < cursor else { return 0 }
        let again = (position..<cursor).reduce(0) { $0 + (entries[$1].isDone ? 0 : 1) }
        cursor = position
        return again
    }

    /// Every entry up to `seq` is confirmed. Returns how many were removed.
    @discardableResult
    mutating func confirm(upTo seq: UInt64) -> Int {
        var removed = 0
        while let front = entries.first, front.seq <= seq {
            if !front.isDone { removed += 1; count -= 1 }
            popFront()
        }
        removeDoneAtFront()
        return removed
    }

    /// One entry is confirmed (a selective acknowledgement). Returns whether it was in the log.
    @discardableResult
    mutating func confirm(seq: UInt64) -> Bool {
        let i = index(atOrAbove: seq)
        guard i < entries.count, entries[i].seq == seq, !entries[i].isDone else { return false }
        markDone(i)
        removeDoneAtFront()
        return true
    }

    /// The position of the first entry whose sequence is `seq` or above (entries.count if none).
    private func index(atOrAbove seq: UInt64) -> Int {
        var lo = 0, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].seq < seq { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// A done entry keeps its slot until the front passes it (a destination that is away holds
    /// the front), but not its message: confirmed forwards behind a held one cost a few bytes.
    private mutating func markDone(_ i: Int) {
        entries[i].isDone = true
        entries[i].message = Self.released
        count -= 1
    }

    private static let released = Message(topic: "", payload: [], qos: .atMostOnce, retain: false, properties: .none,
                                          expiresAt: nil, origin: nil)

    /// Sequences of the entries still in the log, oldest first (for tests and logs).
    var sequences: [UInt64] { entries.elements.filter { !$0.isDone }.map(\.seq) }

    private mutating func removeDoneAtFront() {
        while let front = entries.first, front.isDone { popFront() }
    }

    private mutating func popFront() {
        _ = entries.popFirst()
        if cursor > 0 { cursor -= 1 }
    }
}
