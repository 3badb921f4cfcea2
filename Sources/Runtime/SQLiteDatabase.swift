internal import CSQLite

/// One SQLite connection (libsqlite3 directly). **Loop-thread only (or any single thread).**
///
/// Opened in WAL mode (verified), with foreign keys on and a busy timeout. Statements are
/// prepared once per SQL text and cached until `close()`.
public final class SQLiteDatabase {
    public enum Synchronous: String, Sendable { case off = "OFF", normal = "NORMAL", full = "FULL" }

    /// How long a writer waits for another connection's lock before SQLITE_BUSY.
    public static let busyTimeoutMilliseconds: Int32 = 5_000

    private var db: OpaquePointer?
    private var cache: [String: SQLiteStatement] = [:]
    public let path: String

    /// Opens/creates the file, journal_mode=WAL (verify it took), the given synchronous mode,
    /// busy_timeout, foreign keys on. Needs a file path (":memory:" cannot use WAL).
    public init(path: String, synchronous: Synchronous = .normal) throws(SQLiteError) {
        self.path = path
        var handle: OpaquePointer?
        // NOMUTEX: the connection is confined to one thread, so SQLite's own mutex is not needed.
        let flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        if rc != SQLITE_OK {
            let error = SQLiteError(code: rc, db: handle, sql: nil)
            sqlite3_close_v2(handle)
            throw error
        }
        db = handle
        sqlite3_busy_timeout(handle, Self.busyTimeoutMilliseconds)
        // From here a throw runs deinit, which closes the connection.
        let mode = try pragmaText("PRAGMA journal_mode=WAL")
        guard mode?.lowercased() == "wal" else {
            throw SQLiteError(code: SQLITE_ERROR, message: "journal_mode=WAL did not take effect (mode is \(mode ?? "unknown"))", sql: "PRAGMA journal_mode=WAL")
        }
        try execute("PRAGMA synchronous=\(synchronous.rawValue)")
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit { close() }

    private func connection(_ sql: String?) throws(SQLiteError) -> OpaquePointer {
        guard let db else { throw SQLiteError(code: SQLITE_MISUSE, message: "database is closed", sql: sql) }
        return db
    }

    /// The first column of the first row of a statement, as text (for PRAGMAs).
    func pragmaText(_ sql: String) throws(SQLiteError) -> String? {
        let statement = try prepare(sql)
        defer { statement.reset() }
        return try statement.step() ? statement.row().text(0) : nil
    }

    /// One or more statements, no results.
    public func execute(_ sql: String) throws(SQLiteError) {
        let db = try connection(sql)
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw SQLiteError(code: rc, message: text, sql: sql)
        }
    }

    /// Cached per SQL text: the same object is returned (reset) for the same text. One statement
    /// per call (use `execute` for scripts).
    public func prepare(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = cache[sql] {
            cached.reset()
            return cached
        }
        let statement = try compile(sql)
        cache[sql] = statement
        return statement
    }

    /// Number of cached prepared statements.
    public var cachedStatementCount: Int { cache.count }

    private func compile(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        let db = try connection(sql)
        var stmt: OpaquePointer?
        var trailing = false
        let rc = sql.withCString { text -> Int32 in
            var tail: UnsafePointer<CChar>?
            let rc = sqlite3_prepare_v3(db, text, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, &tail)
            if rc == SQLITE_OK, var p = tail {
                while p.pointee != 0 {
                    let c = UInt8(bitPattern: p.pointee)
                    if c != UInt8(ascii: " ") && c != UInt8(ascii: "\n") && c != UInt8(ascii: "\t")
                        && c != UInt8(ascii: "\r") && c != UInt8(ascii: ";") {
                        trailing = true
                        break
                    }
                    p += 1
                }
            }
            return rc
        }
        if rc != SQLITE_OK { throw SQLiteError(code: rc, db: db, sql: sql) }
        guard let stmt else { throw SQLiteError(code: SQLITE_MISUSE, message: "no SQL statement in text", sql: sql) }
        if trailing {
            sqlite3_finalize(stmt)
            throw SQLiteError(code: SQLITE_MISUSE, message: "prepare takes exactly one statement; use execute for several", sql: sql)
        }
        return SQLiteStatement(stmt, sql: sql)
    }

    /// The cached statement, or a private one if the cached one is being stepped by an outer
    /// `run`/`query` (so nesting the same SQL is safe).
    private func statementForUse(_ sql: String) throws(SQLiteError) -> SQLiteStatement {
        if let cached = cache[sql], cached.inUse { return try compile(sql) }
        return try prepare(sql)
    }

    /// prepare(cached) + bind + step to completion + reset.
    public func run(_ sql: String, _ values: [SQLiteValue]) throws(SQLiteError) {
        let statement = try statementForUse(sql)
        statement.inUse = true
        defer {
            statement.reset()
            statement.inUse = false
        }
        try statement.bind(values)
        while try statement.step() {}
    }

    /// Iterates the rows; each `SQLiteRow` is valid only during its call of `row`.
    public func query(_ sql: String, _ values: [SQLiteValue], _ row: (SQLiteRow) throws -> Void) throws {
        let statement = try statementForUse(sql)
        statement.inUse = true
        defer {
            statement.reset()
            statement.inUse = false
        }
        try statement.bind(values)
        while try statement.step() {
            try row(statement.row())
        }
    }

    /// BEGIN IMMEDIATE / COMMIT; ROLLBACK (and rethrow) if `body` or COMMIT throws. Not nestable.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            if let db, sqlite3_get_autocommit(db) == 0 { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Rows changed by the last INSERT/UPDATE/DELETE.
    public var changes: Int { db.map { Int(sqlite3_changes($0)) } ?? 0 }

    /// Rowid of the last successful INSERT.
    public var lastInsertRowID: Int64 { db.map { sqlite3_last_insert_rowid($0) } ?? 0 }

    /// Finalizes the cached statements and closes the connection. Idempotent.
    public func close() {
        for statement in cache.values { statement.finalize() }
        cache.removeAll()
        if let db { sqlite3_close_v2(db) }
        db = nil
    }
}
