import FleetCore
import FleetRuntime

/// The link's durable state, in the agent's SQLite file (`DATA_DIR/fleetgate.db`) through its own
/// connection, next to SessionStore's tables:
///
/// ```sql
/// forward_log(seq INTEGER PRIMARY KEY, message BLOB)    -- QoS >= 1 forwards not yet confirmed (Message format)
/// forward_seen(origin TEXT PRIMARY KEY, seq INTEGER)   -- highest sequence taken from each other gateway
/// forward_state(key TEXT PRIMARY KEY, value INTEGER)   -- 'next_seq': our sequences below it may have been used
/// ```
///
/// Like SessionStore it batches a loop turn's writes; the agent's `TurnCommitter` writes them in
/// the same transaction as the broker's, and the loop holds the turn's bytes until it committed:
/// the PUBACK of a forwarded QoS 1 message and the DELIVERY_ACK of a received one leave only
/// after this commit. Loop-thread only.
final class ForwardStore {
    private let db: SQLiteDatabase
    private var inserts: [(seq: UInt64, blob: [UInt8])] = []
    private var deleteUpTo: UInt64 = 0
    private var deletes: [UInt64] = []
    private var seen: [String: UInt64] = [:]
    private var reservedSeq: UInt64?

    struct Loaded {
        /// Unconfirmed forwards, ascending sequence.
        var log: [(seq: UInt64, message: Message)] = []
        var seen: [String: UInt64] = [:]
        /// Our next sequence must be at least this.
        var nextSeq: UInt64 = 1
        /// No sequence was ever reserved in this file (a new or reinstalled gateway).
        var isFresh = true
    }

    init(path: String, synchronous: SQLiteDatabase.Synchronous, changes: ChangeCounter = ChangeCounter()) throws {
        self.changes = changes
        db = try SQLiteDatabase(path: path, synchronous: synchronous)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS forward_log(
                seq INTEGER PRIMARY KEY,
                message BLOB NOT NULL);
            CREATE TABLE IF NOT EXISTS forward_seen(
                origin TEXT PRIMARY KEY,
                seq INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS forward_state(
                key TEXT PRIMARY KEY,
                value INTEGER NOT NULL) WITHOUT ROWID;
            """)
    }

    var hasPendingWrites: Bool {
        !inserts.isEmpty || deleteUpTo > 0 || !deletes.isEmpty || !seen.isEmpty || reservedSeq != nil
    }

    func load() throws -> Loaded {
        var loaded = Loaded()
        try db.query("SELECT seq, message FROM forward_log ORDER BY seq", []) { row in
            loaded.log.append((UInt64(row.int64(0)), try Message(serialized: row.blob(1))))
        }
        try db.query("SELECT origin, seq FROM forward_seen", []) { row in
            if let origin = row.text(0) { loaded.seen[origin] = UInt64(row.int64(1)) }
        }
        try db.query("SELECT value FROM forward_state WHERE key = 'next_seq'", []) { row in
            loaded.nextSeq = max(loaded.nextSeq, UInt64(row.int64(0)))
            loaded.isFresh = false
        }
        if let last = loaded.log.last { loaded.nextSeq = max(loaded.nextSeq, last.seq + 1) }
        return loaded
    }

    // MARK: Recording (nothing touches the disk until commit)

    func insert(seq: UInt64, message: Message) { changes.count &+= 1; inserts.append((seq, message.serialized())) }
    func delete(upTo seq: UInt64) { changes.count &+= 1; deleteUpTo = max(deleteUpTo, seq) }
    func delete(seq: UInt64) { changes.count &+= 1; deletes.append(seq) }
    func setSeen(origin: String, seq: UInt64) { changes.count &+= 1; seen[origin] = seq }
    /// Sequences below `seq` may be in use after this commits.
    func reserve(upTo seq: UInt64) { changes.count &+= 1; reservedSeq = max(reservedSeq ?? 0, seq) }
    /// Shared with the broker's store (SessionStore.changes).
    let changes: ChangeCounter

    /// The turn's writes, committed with the broker's in one transaction by the agent's
    /// `TurnCommitter` (which retries until they are durable); the batch is empty afterwards.
    func takeWrites() -> [SQLWrite] {
        guard hasPendingWrites else { return [] }
        let writes = pendingWrites()
        clearBatch()
        return writes
    }

    /// Writes the batch in one transaction on this thread (startup). On failure the batch is kept.
    func commit() throws {
        guard hasPendingWrites else { return }
        let writes = pendingWrites()
        try db.transaction {
            for w in writes { try db.run(w.sql, w.values) }
        }
        clearBatch()
    }

    private func pendingWrites() -> [SQLWrite] {
        var writes: [SQLWrite] = []
        if let reservedSeq {
            writes.append(SQLWrite("INSERT OR REPLACE INTO forward_state(key, value) VALUES('next_seq', ?)", [.integer(Int64(reservedSeq))]))
        }
        for (seq, blob) in inserts {
            writes.append(SQLWrite("INSERT OR REPLACE INTO forward_log(seq, message) VALUES(?, ?)", [.integer(Int64(seq)), .blob(blob)]))
        }
        // After the inserts, so a (theoretical) same-turn insert and confirmation cancel out.
        if deleteUpTo > 0 { writes.append(SQLWrite("DELETE FROM forward_log WHERE seq <= ?", [.integer(Int64(deleteUpTo))])) }
        for seq in deletes { writes.append(SQLWrite("DELETE FROM forward_log WHERE seq = ?", [.integer(Int64(seq))])) }
        for (origin, seq) in seen {
            writes.append(SQLWrite("INSERT OR REPLACE INTO forward_seen(origin, seq) VALUES(?, ?)", [.text(origin), .integer(Int64(seq))]))
        }
        return writes
    }

    private func clearBatch() {
        inserts.removeAll(keepingCapacity: true)
        deleteUpTo = 0
        deletes.removeAll(keepingCapacity: true)
        seen.removeAll(keepingCapacity: true)
        reservedSeq = nil
    }

    func close() { db.close() }
}
