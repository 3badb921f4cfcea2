import FleetCore

/// The in-memory mirror of `forward_log`: QoS >= 1 forwards in sequence order, from the oldest
/// unconfirmed one, with a send cursor. A reconnect rewinds the cursor so everything unconfirmed is
/// re-sent in order; confirmations (cumulative or selective) remove entries. Pure value.
struct OutboundLog {
    struct Entry {
        let seq: UInt64
        let message: Message
        /// Confirmed (or dropped locally): skipped, removed once at the front.
        var isDone = false
    }

    private(set) var entries: [Entry] = []
    /// Index of the oldest entry still in the log.
    private var head = 0
    /// Index of the next entry to send on the current connection.
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
        cursor = max(cursor, head)
        while cursor < entries.count && entries[cursor].isDone { cursor += 1 }
        return cursor < entries.count ? entries[cursor] : nil
    }

    /// The entry `nextUnsent()` returned was sent (or dropped).
    mutating func advance() { cursor += 1 }

    /// Drops the entry `nextUnsent()` returned without sending it (expired, too large).
    mutating func dropUnsent() {
        if cursor < entries.count && !entries[cursor].isDone {
            entries[cursor].isDone = true
            count -= 1
        }
        cursor += 1
    }

    /// A new connection: send everything unconfirmed again, in order.
    mutating func rewind() { cursor = head }

    /// Every entry up to `seq` is confirmed. Returns how many were removed.
    @discardableResult
    mutating func confirm(upTo seq: UInt64) -> Int {
        var removed = 0
        while head < entries.count && entries[head].seq <= seq {
            if !entries[head].isDone { removed += 1; count -= 1 }
            head += 1
        }
        compact()
        return removed
    }

    /// One entry is confirmed (a selective acknowledgement). Returns whether it was in the log.
    @discardableResult
    mutating func confirm(seq: UInt64) -> Bool {
        var lo = head, hi = entries.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if entries[mid].seq < seq { lo = mid + 1 } else { hi = mid }
        }
        guard lo < entries.count, entries[lo].seq == seq, !entries[lo].isDone else { return false }
        entries[lo].isDone = true
        count -= 1
        while head < entries.count && entries[head].isDone { head += 1 }
        compact()
        return true
    }

    /// Sequences of the entries still in the log, oldest first (for tests and logs).
    var sequences: [UInt64] { entries[head...].filter { !$0.isDone }.map(\.seq) }

    private mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            cursor = 0
            head = 0
        } else if head > 1024 && head > entries.count / 2 {
            entries.removeFirst(head)
            cursor = max(0, cursor - head)
            head = 0
        }
    }
}
