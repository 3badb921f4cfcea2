import FleetCore
import FleetRuntime
import Foundation

/// Durable sessions, in-flight/queued messages and retained messages in one SQLite file (WAL).
///
/// Changes are collected in a batch during a loop turn and written in one transaction by
/// `commit()` (group commit): a QoS 1 message delivered to a persistent session costs one row
/// insert and, when its PUBACK arrives in the same turn, nothing at all (the pair cancels out).
/// Loop-thread only.
final class SessionStore {
    private let db: SQLiteDatabase
    private var batch = Batch()

    struct Loaded {
        var sessions: [SessionState] = []
        /// One per stored topic (topics are distinct byte strings; a String-keyed dictionary
        /// would merge canonically equivalent ones).
        var retained: [Message] = []
        /// Sessions that moved to another gateway: client id -> (server reference, until ms).
        var moved: [(clientId: String, reference: String, untilMs: UInt64, relay: [UInt8]?)] = []
        /// Connection migrations in progress here (source or target).
        var migrations: [MigrationRecord] = []
    }

    /// Writes collected for the current turn, coalesced by key.
    private struct Batch {
        /// Sessions whose every stored row is deleted first (a clean start or an expired session).
        var clearedSessions: Set<ExactString> = []
        /// Sessions whose header row is rewritten from memory at commit time.
        var dirtySessions: [ExactString: any PersistedSession] = [:]
        var outbound: [OutboundKey: OutboundWrite] = [:]
        var retained: [ExactString: Message?] = [:]
        /// Moved-away sessions' redirects to write (nil: delete).
        var moved: [ExactString: (reference: String, untilMs: UInt64, relay: [UInt8]?)?] = [:]
        /// Migration records to write (nil: delete), by migration id.
        var migrations: [UInt64: MigrationRecord?] = [:]
        var isEmpty: Bool {
            clearedSessions.isEmpty && dirtySessions.isEmpty && outbound.isEmpty && retained.isEmpty && moved.isEmpty && migrations.isEmpty
        }
    }

    /// Client ids are distinct byte strings (MQTT compares bytes; String == is canonical equivalence).
    private struct OutboundKey: Hashable { let clientId: ExactString; let seq: Int64 }
    private enum OutboundWrite {
        /// The row does not exist yet on disk; a delete before commit cancels it entirely.
        case insert([UInt8], packetId: UInt16, phase: UInt8)
        case update([UInt8], packetId: UInt16, phase: UInt8)
        case delete
    }

    /// Wall-clock milliseconds: session rows store their instants as durations before this.
    private let wallClock: () -> UInt64

    init(path: String, synchronous: SQLiteDatabase.Synchronous,
         wallClock: @escaping () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) },
         changes: ChangeCounter = ChangeCounter()) throws {
        self.wallClock = wallClock
        self.changes = changes
        db = try SQLiteDatabase(path: path, synchronous: synchronous)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS schema_version(version INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS sessions(
                client_id TEXT PRIMARY KEY,
                state BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS outbound(
                client_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                packet_id INTEGER NOT NULL,
                phase INTEGER NOT NULL,
                message BLOB NOT NULL,
                PRIMARY KEY(client_id, seq)) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS retained(
                topic TEXT PRIMARY KEY,
                message BLOB NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS moved_sessions(
                client_id TEXT PRIMARY KEY,
                server_reference TEXT NOT NULL,
                until_ms INTEGER NOT NULL,
                relay BLOB) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS agent_migrations(
                migration_id INTEGER PRIMARY KEY,
                record BLOB NOT NULL);
            """)
        // Tables made before relays (same schema version: the column is optional) gain it.
        var hasRelayColumn = false
        try db.query("SELECT 1 FROM pragma_table_info('moved_sessions') WHERE name = 'relay'", []) { _ in hasRelayColumn = true }
        if !hasRelayColumn { try db.run("ALTER TABLE moved_sessions ADD COLUMN relay BLOB", []) }
        var version: Int64?
        try db.query("SELECT version FROM schema_version", []) { version = $0.int64(0) }
        if version == nil { try db.run("INSERT INTO schema_version(version) VALUES(1)", []) }
        else if version != 1 { throw SessionCodecError("database schema \(version!) is newer than this agent understands (1)") }
    }

    var hasPendingWrites: Bool { !batch.isEmpty }
    /// Counts every change recorded here and in the coordinator link's store (which shares it):
    /// what a packet changed on disk, if anything, is the difference across its handling.
    let changes: ChangeCounter

    // MARK: Recording changes (cheap; nothing touches the disk until commit)

    func markDirty(_ session: some PersistedSession) { changes.count &+= 1; batch.dirtySessions[ExactString(session.clientId)] = session }

    func deleteSession(_ clientId: String) {
        changes.count &+= 1
        let id = ExactString(clientId)
        batch.clearedSessions.insert(id)
        batch.dirtySessions[id] = nil
        for key in batch.outbound.keys where key.clientId == id { batch.outbound[key] = nil }
    }

    /// The last message serialized for an outbound row: a publish routed to 10,000 persistent
    /// sessions is serialized once, not 10,000 times.
    private var lastStored: (message: Message, bytes: [UInt8])?

    func saveOutbound(_ m: OutboundMessage, of clientId: String, bodyNeeded: Bool) {
        changes.count &+= 1
        let key = OutboundKey(clientId: ExactString(clientId), seq: m.seq)
        let blob: [UInt8]
        if bodyNeeded {
            if let last = lastStored, last.message.storesIdentically(to: m.message) {
                blob = m.serialized(messageBytes: last.bytes)
            } else {
                let bytes = m.message.serialized()
                lastStored = (m.message, bytes)
                blob = m.serialized(messageBytes: bytes)
            }
        } else {
            blob = m.serialized(includingBody: false)
        }
        switch batch.outbound[key] {
        case .insert?: batch.outbound[key] = .insert(blob, packetId: m.packetId, phase: m.phase.rawValue)
        default: batch.outbound[key] = batch.outbound[key] == nil && isNewRow(key) ? .insert(blob, packetId: m.packetId, phase: m.phase.rawValue)
                                                                                 : .update(blob, packetId: m.packetId, phase: m.phase.rawValue)
        }
    }

    func deleteOutbound(seq: Int64, of clientId: String) {
        changes.count &+= 1
        let key = OutboundKey(clientId: ExactString(clientId), seq: seq)
        if case .insert? = batch.outbound[key] { batch.outbound[key] = nil } else { batch.outbound[key] = .delete }
    }

    func saveRetained(_ m: Message) { changes.count &+= 1; batch.retained[ExactString(m.topic)] = .some(m) }
    func deleteRetained(_ topic: String) { changes.count &+= 1; batch.retained[ExactString(topic)] = .some(nil) }
    /// A session moved to another gateway (a connection migration): its CONNECTs are redirected
    /// until `untilMs`, also after a restart. Written in the turn that deletes the session.
    /// `relay`: how this gateway relays it (`MovedSession.Relay.stored`), nil when it does not.
    func saveMoved(_ clientId: String, reference: String, untilMs: UInt64, relay: [UInt8]? = nil) {
        changes.count &+= 1
        batch.moved[ExactString(clientId)] = .some((reference, untilMs, relay))
    }
    func deleteMoved(_ clientId: String) { changes.count &+= 1; batch.moved[ExactString(clientId)] = .some(nil) }

    /// A connection migration's step at this agent (MigrationRecord), in the turn's transaction.
    func saveMigration(_ record: MigrationRecord) { changes.count &+= 1; batch.migrations[record.migrationId] = .some(record) }
    func deleteMigration(_ migrationId: UInt64) { changes.count &+= 1; batch.migrations[migrationId] = .some(nil) }

    /// Sequence numbers at or above this have never been committed, so their first write is an
    /// insert that a same-turn delete can cancel. Tracked per client as the highest seq written.
    private var committedHighSeq: [ExactString: Int64] = [:]
    private func isNewRow(_ key: OutboundKey) -> Bool { key.seq > committedHighSeq[key.clientId, default: 0] }

    // MARK: Commit

    /// The turn's writes, for the agent's `TurnCommitter`, which commits them off the loop thread
    /// together with the coordinator link's and retries until they are durable. The batch is
    /// empty afterwards, and rows count as written from now on (the writer runs transactions in
    /// order, so a later delete of such a row comes after its insert).
    func takeWrites() -> [SQLWrite] {
        guard !batch.isEmpty else { return [] }
        let writes = Self.writes(for: batch, now: wallClock())
        noteWritten(batch)
        batch = Batch()
        return writes
    }

    /// Writes the batch in one transaction on this thread (startup, tests). The batch is cleared
    /// only once the transaction has committed: a failed commit keeps every write for the next
    /// attempt (later changes add to it, coalescing as usual), so a transient SQLite error
    /// delays data but never loses it.
    func commit() throws {
        guard !batch.isEmpty else { return }
        let writes = Self.writes(for: batch, now: wallClock())
        try db.transaction {
            for w in writes { try db.run(w.sql, w.values) }
        }
        noteWritten(batch)
        batch = Batch()
    }

    private static func writes(for b: Batch, now: UInt64) -> [SQLWrite] {
        var writes: [SQLWrite] = []
        writes.reserveCapacity(b.clearedSessions.count * 2 + b.dirtySessions.count + b.outbound.count + b.retained.count + b.moved.count)
        for (clientId, moved) in b.moved {
            if let moved {
                writes.append(SQLWrite("INSERT OR REPLACE INTO moved_sessions(client_id, server_reference, until_ms, relay) VALUES(?, ?, ?, ?)",
                                       [.text(clientId.string), .text(moved.reference), .integer(Int64(clamping: moved.untilMs)),
                                        moved.relay.map { .blob($0) } ?? .null]))
            } else {
                writes.append(SQLWrite("DELETE FROM moved_sessions WHERE client_id = ?", [.text(clientId.string)]))
            }
        }
        for (id, record) in b.migrations {
            if let record {
                writes.append(SQLWrite("INSERT OR REPLACE INTO agent_migrations(migration_id, record) VALUES(?, ?)",
                                       [.integer(Int64(bitPattern: id)), .blob(record.encoded())]))
            } else {
                writes.append(SQLWrite("DELETE FROM agent_migrations WHERE migration_id = ?", [.integer(Int64(bitPattern: id))]))
            }
        }
        for clientId in b.clearedSessions {
            writes.append(SQLWrite("DELETE FROM sessions WHERE client_id = ?", [.text(clientId.string)]))
            writes.append(SQLWrite("DELETE FROM outbound WHERE client_id = ?", [.text(clientId.string)]))
        }
        for (clientId, session) in b.dirtySessions {
            writes.append(SQLWrite("INSERT OR REPLACE INTO sessions(client_id, state) VALUES(?, ?)",
                                   [.text(clientId.string), .blob(session.state.serializedHeader(asOf: now))]))
        }
        for (key, write) in b.outbound {
            switch write {
            case .insert(let blob, let packetId, let phase), .update(let blob, let packetId, let phase):
                writes.append(SQLWrite("INSERT OR REPLACE INTO outbound(client_id, seq, packet_id, phase, message) VALUES(?, ?, ?, ?, ?)",
                                       [.text(key.clientId.string), .integer(key.seq), .integer(Int64(packetId)), .integer(Int64(phase)), .blob(blob)]))
            case .delete:
                writes.append(SQLWrite("DELETE FROM outbound WHERE client_id = ? AND seq = ?", [.text(key.clientId.string), .integer(key.seq)]))
            }
        }
        for (key, message) in b.retained {
            if let message {
                writes.append(SQLWrite("INSERT OR REPLACE INTO retained(topic, message) VALUES(?, ?)", [.text(key.string), .blob(message.serialized())]))
            } else {
                writes.append(SQLWrite("DELETE FROM retained WHERE topic = ?", [.text(key.string)]))
            }
        }
        return writes
    }

    /// Which rows exist on disk once `b` is written (an insert cancelled by a later delete in the
    /// same batch never reaches the disk; see `isNewRow`).
    private func noteWritten(_ b: Batch) {
        for clientId in b.clearedSessions { committedHighSeq[clientId] = nil }
        for (key, write) in b.outbound {
            if case .delete = write { continue }
            committedHighSeq[key.clientId] = max(committedHighSeq[key.clientId, default: 0], key.seq)
        }
    }

    // MARK: Startup

    /// Reads everything back. Outbound rows whose session row is gone (left by an agent that
    /// crashed between writing a session's messages and its header, or by older versions) are
    /// deleted here: nothing would ever load or delete them otherwise.
    func loadAll() throws -> Loaded {
        var loaded = Loaded()
        try db.run("DELETE FROM outbound WHERE client_id NOT IN (SELECT client_id FROM sessions)", [])
        var byClient: [ExactString: Int] = [:]
        try db.query("SELECT client_id, state FROM sessions", []) { row in
            let state = try SessionState(serialized: row.blob(1))
            byClient[ExactString(state.clientId)] = loaded.sessions.count
            loaded.sessions.append(state)
        }
        try db.query("SELECT client_id, seq, packet_id, phase, message FROM outbound ORDER BY client_id, seq", []) { row in
            guard let text = row.text(0) else { return }
            let clientId = ExactString(text)
            guard let i = byClient[clientId] else { return }
            var m = try OutboundMessage(serialized: row.blob(4))
            m.seq = row.int64(1)
            m.packetId = UInt16(truncatingIfNeeded: row.int64(2))
            m.phase = OutboundMessage.Phase(rawValue: UInt8(truncatingIfNeeded: row.int64(3))) ?? .queued
            loaded.sessions[i].outbound.append(m)
            committedHighSeq[clientId] = max(committedHighSeq[clientId, default: 0], m.seq)
        }
        try db.query("SELECT topic, message FROM retained", []) { row in
            let m = try Message(serialized: row.blob(1))
            loaded.retained.append(m)
        }
        try db.query("SELECT client_id, server_reference, until_ms, relay FROM moved_sessions", []) { row in
            guard let id = row.text(0) else { return }
            let relay = row.isNull(3) ? nil : row.blob(3)
            loaded.moved.append((id, row.text(1) ?? "", UInt64(clamping: row.int64(2)), relay))
        }
        try db.query("SELECT record FROM agent_migrations ORDER BY migration_id", []) { row in
            loaded.migrations.append(try MigrationRecord(bytes: row.blob(0)))
        }
        return loaded
    }

    func close() { db.close() }
}

/// Durable changes recorded by the stores of one agent (wrapping counter). Loop-thread only.
final class ChangeCounter {
    var count: UInt64 = 0
}

/// What the store writes of a session: its state as of the commit (read when the batch is
/// committed, so a session changed many times in a turn is written once).
protocol PersistedSession: AnyObject {
    var clientId: String { get }
    var state: SessionState { get }
}

extension Session: PersistedSession {}
