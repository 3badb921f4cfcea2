import FleetRuntime

/// What the socket service keeps on disk (issue #14), in the agent's database: the mappings the
/// coordinator pushed (so sockets keep working while it is away, and after a restart without it),
/// and the socket-id counter, so an id is never given twice, not across restarts either.
///
/// Ids are reserved in blocks: the end of the current block is written before any id of it is
/// handed out, so a restart continues after the block (skipping the unused rest) and one write
/// serves `idBlock` sockets. Writes are synchronous and rare (a mapping push, a block); the
/// loop's group commit is not involved. Loop-thread only.
final class SocketStore {
    private let db: SQLiteDatabase
    private var nextId: UInt64 = 0
    private var reservedUpTo: UInt64 = 0
    static let idBlock: UInt64 = 1_000

    init(path: String) throws {
        db = try SQLiteDatabase(path: path)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS pushed_mappings(
                name TEXT PRIMARY KEY,
                document TEXT NOT NULL) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS socket_ids(
                id INTEGER PRIMARY KEY CHECK (id = 1),
                reserved_up_to INTEGER NOT NULL);
            """)
        try db.query("SELECT reserved_up_to FROM socket_ids WHERE id = 1", []) { row in
            reservedUpTo = UInt64(clamping: row.int64(0))
        }
        nextId = reservedUpTo
    }

    /// The next socket number: 1, 2, 3, ... never reused.
    func allocateId() throws -> UInt64 {
        if nextId >= reservedUpTo {
            let end = reservedUpTo + Self.idBlock
            try db.run("INSERT INTO socket_ids(id, reserved_up_to) VALUES(1, ?) ON CONFLICT(id) DO UPDATE SET reserved_up_to = excluded.reserved_up_to",
                       [.integer(Int64(end))])
            reservedUpTo = end
        }
        nextId += 1
        return nextId
    }

    /// The coordinator's complete set: the stored pushed mappings become exactly `mappings`.
    func replacePushedMappings(_ mappings: [String: String]) throws {
        try db.transaction {
            try db.run("DELETE FROM pushed_mappings", [])
            for (name, document) in mappings {
                try db.run("INSERT INTO pushed_mappings(name, document) VALUES(?, ?)", [.text(name), .text(document)])
            }
        }
    }

    func savePushedMapping(_ name: String, document: String) throws {
        try db.run("INSERT OR REPLACE INTO pushed_mappings(name, document) VALUES(?, ?)", [.text(name), .text(document)])
    }

    func deletePushedMapping(_ name: String) throws {
        try db.run("DELETE FROM pushed_mappings WHERE name = ?", [.text(name)])
    }

    func loadPushedMappings() throws -> [String: String] {
        var out: [String: String] = [:]
        try db.query("SELECT name, document FROM pushed_mappings", []) { row in out[row.text(0) ?? ""] = row.text(1) ?? "" }
        return out
    }

    func close() { db.close() }
}
