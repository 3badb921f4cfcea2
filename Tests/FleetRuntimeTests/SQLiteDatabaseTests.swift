import FleetRuntime
import Testing

@Suite("SQLite on temp files")
struct SQLiteDatabaseTests {
    struct Boom: Error {}

    /// Runs `body` with a database in a fresh temp directory, removed afterwards.
    func withDatabase(synchronous: SQLiteDatabase.Synchronous = .normal,
                      _ body: (SQLiteDatabase, String) throws -> Void) throws {
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/test.sqlite"
        let db = try SQLiteDatabase(path: path, synchronous: synchronous)
        defer { db.close() }
        try body(db, path)
    }

    func scalarText(_ db: SQLiteDatabase, _ sql: String) throws -> String? {
        var value: String?
        try db.query(sql, []) { value = $0.text(0) }
        return value
    }

    @Test("WAL mode is on, with the requested synchronous mode and foreign keys")
    func pragmas() throws {
        try withDatabase(synchronous: .full) { db, _ in
            let mode = try scalarText(db, "PRAGMA journal_mode")
            let synchronous = try scalarText(db, "PRAGMA synchronous")
            let foreignKeys = try scalarText(db, "PRAGMA foreign_keys")
            #expect(mode == "wal")
            #expect(synchronous == "2")      // FULL
            #expect(foreignKeys == "1")
        }
        try withDatabase { db, _ in
            let synchronous = try scalarText(db, "PRAGMA synchronous")
            #expect(synchronous == "1")      // NORMAL
        }
    }

    @Test("insert, select, update, delete with every value type")
    func crud() throws {
        try withDatabase { db, _ in
            try db.execute("""
                CREATE TABLE item(id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, n);
                CREATE INDEX item_t ON item(t);
                """)
            let rows: [[SQLiteValue]] = [
                [.integer(1), .integer(Int64.max), .real(3.25), .text("héllo ✓"), .blob([0, 1, 2, 255]), .null],
                [.integer(2), .integer(Int64.min), .real(-0.5), .text(""), .blob([]), .null],
                [.integer(3), .integer(0), .real(1e300), .text("a\u{0}b"), .blob(Array(repeating: 7, count: 10_000)), .null],
            ]
            for row in rows {
                try db.run("INSERT INTO item(id, i, r, t, b, n) VALUES (?, ?, ?, ?, ?, ?)", row)
                #expect(db.changes == 1)
            }
            #expect(db.lastInsertRowID == 3)

            var read: [[SQLiteValue]] = []
            try db.query("SELECT id, i, r, t, b, n FROM item ORDER BY id", []) { row in
                #expect(row.columnCount == 6)
                read.append((0..<6).map { row.value($0) })
                #expect(row.isNull(5))
                #expect(!row.isNull(3))
            }
            #expect(read == rows)

            try db.query("SELECT i, t, b, n FROM item WHERE id = ?", [.integer(1)]) { row in
                #expect(row.int64(0) == Int64.max)
                #expect(row.text(1) == "héllo ✓")
                #expect(row.blob(2) == [0, 1, 2, 255])
                #expect(row.text(3) == nil)
                #expect(row.blob(3) == [])
            }

            try db.run("UPDATE item SET t = ? WHERE id >= ?", [.text("x"), .integer(2)])
            #expect(db.changes == 2)
            try db.run("DELETE FROM item WHERE id = ?", [.integer(1)])
            #expect(db.changes == 1)
            var remaining: [String?] = []
            try db.query("SELECT t FROM item ORDER BY id", []) { remaining.append($0.text(0)) }
            #expect(remaining == ["x", "x"])
        }
    }

    @Test("transaction commits the result, rolls back on throw")
    func transactions() throws {
        try withDatabase { db, _ in
            try db.execute("CREATE TABLE kv(k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
            let sum = try db.transaction { () throws -> Int in
                try db.run("INSERT INTO kv VALUES (?, ?)", [.text("a"), .integer(1)])
                try db.run("INSERT INTO kv VALUES (?, ?)", [.text("b"), .integer(2)])
                return 3
            }
            #expect(sum == 3)
            #expect(throws: Boom.self) {
                try db.transaction {
                    try db.run("INSERT INTO kv VALUES (?, ?)", [.text("c"), .integer(3)])
                    try db.run("UPDATE kv SET v = 100", [])
                    throw Boom()
                }
            }
            var rows: [String] = []
            try db.query("SELECT k, v FROM kv ORDER BY k", []) { rows.append("\($0.text(0)!)=\($0.int64(1))") }
            #expect(rows == ["a=1", "b=2"])
            // A failing statement inside also rolls back everything before it.
            #expect(throws: SQLiteError.self) {
                try db.transaction {
                    try db.run("INSERT INTO kv VALUES (?, ?)", [.text("d"), .integer(4)])
                    try db.run("INSERT INTO kv VALUES (?, ?)", [.text("a"), .integer(5)])   // duplicate key
                }
            }
            var count: Int64 = 0
            try db.query("SELECT count(*) FROM kv", []) { count = $0.int64(0) }
            #expect(count == 2)
        }
    }

    @Test("prepared statements are cached per SQL text and reused")
    func statementCache() throws {
        try withDatabase { db, _ in
            try db.execute("CREATE TABLE n(x INTEGER)")
            let insert = "INSERT INTO n(x) VALUES (?)"
            let first = try db.prepare(insert)
            let cachedBefore = db.cachedStatementCount
            for x in 0..<100 { try db.run(insert, [.integer(Int64(x))]) }
            #expect(db.cachedStatementCount == cachedBefore)
            #expect(try db.prepare(insert) === first)

            // The statement API directly.
            let select = try db.prepare("SELECT x FROM n WHERE x < ? ORDER BY x")
            try select.bind([.integer(3)])
            var xs: [Int64] = []
            while try select.step() { xs.append(select.row().int64(0)) }
            select.reset()
            #expect(xs == [0, 1, 2])

            // Nesting the same SQL inside its own query gets a separate statement.
            var pairs = 0
            try db.query("SELECT x FROM n WHERE x < ?", [.integer(2)]) { _ in
                try db.query("SELECT x FROM n WHERE x < ?", [.integer(2)]) { _ in pairs += 1 }
            }
            #expect(pairs == 4)

            #expect(throws: SQLiteError.self) { try select.bind([]) }          // wrong parameter count
        }
    }

    @Test("errors carry code, message and SQL")
    func errors() throws {
        try withDatabase { db, _ in
            try db.execute("CREATE TABLE u(k TEXT PRIMARY KEY)")
            try db.run("INSERT INTO u VALUES (?)", [.text("x")])
            let insert = "INSERT INTO u VALUES (?)"
            do throws(SQLiteError) {
                try db.run(insert, [.text("x")])
                Issue.record("duplicate key accepted")
            } catch {
                #expect(error.code == 19)                                    // SQLITE_CONSTRAINT
                #expect(error.message.contains("UNIQUE"))
                #expect(error.sql == insert)
                #expect(error.description.contains(insert))
            }
            do throws(SQLiteError) {
                _ = try db.prepare("SELEKT 1")
                Issue.record("syntax error accepted")
            } catch {
                #expect(error.code == 1)                                     // SQLITE_ERROR
                #expect(error.message.contains("syntax error"))
                #expect(error.sql == "SELEKT 1")
            }
            do throws(SQLiteError) {
                try db.execute("INSERT INTO missing VALUES (1)")
                Issue.record("missing table accepted")
            } catch {
                #expect(error.message.contains("no such table"))
                #expect(error.sql == "INSERT INTO missing VALUES (1)")
            }
            #expect(throws: SQLiteError.self) { _ = try db.prepare("SELECT 1; SELECT 2") }
        }
    }

    @Test("a reopen after close sees committed data")
    func reopen() throws {
        let dir = makeTemporaryDirectory()
        defer { removeDirectory(dir) }
        let path = dir + "/reopen.sqlite"
        do {
            let db = try SQLiteDatabase(path: path)
            try db.execute("CREATE TABLE m(id INTEGER PRIMARY KEY, body BLOB)")
            try db.transaction {
                for id in 1...50 { try db.run("INSERT INTO m VALUES (?, ?)", [.integer(Int64(id)), .blob(pattern(id))]) }
            }
            db.close()
            db.close()                                                      // idempotent
            #expect(throws: SQLiteError.self) { try db.execute("SELECT 1") }
        }
        let db = try SQLiteDatabase(path: path)
        defer { db.close() }
        var count = 0
        try db.query("SELECT id, body FROM m ORDER BY id", []) { row in
            count += 1
            #expect(row.blob(1) == pattern(Int(row.int64(0))))
        }
        #expect(count == 50)
        #expect(throws: SQLiteError.self) { _ = try SQLiteDatabase(path: dir + "/no/such/dir/x.sqlite") }
    }
}
