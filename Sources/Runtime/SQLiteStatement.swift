internal import CSQLite

/// A prepared statement, cached per SQL text by its ``SQLiteDatabase``.
/// Single-thread only, like its database. Finalized when the database closes (or on deinit).
public final class SQLiteStatement {
    private(set) var stmt: OpaquePointer?
    public let sql: String
    /// Set while `run`/`query` step it, so a nested use of the same SQL gets its own statement.
    var inUse = false

    init(_ stmt: OpaquePointer, sql: String) {
        self.stmt = stmt
        self.sql = sql
    }

    deinit { finalize() }

    func finalize() {
        if let stmt { sqlite3_finalize(stmt) }
        stmt = nil
    }

    private func live() throws(SQLiteError) -> OpaquePointer {
        guard let stmt else { throw SQLiteError(code: SQLITE_MISUSE, message: "statement used after its database was closed", sql: sql) }
        return stmt
    }

    /// Resets the statement and binds `values` to parameters 1...n (the count must match).
    public func bind(_ values: [SQLiteValue]) throws(SQLiteError) {
        let stmt = try live()
        sqlite3_reset(stmt)
        let expected = Int(sqlite3_bind_parameter_count(stmt))
        guard values.count == expected else {
            throw SQLiteError(code: SQLITE_RANGE, message: "expected \(expected) parameter values, got \(values.count)", sql: sql)
        }
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null:
                rc = sqlite3_bind_null(stmt, index)
            case .integer(let v):
                rc = sqlite3_bind_int64(stmt, index, v)
            case .real(let v):
                rc = sqlite3_bind_double(stmt, index, v)
            case .text(let v):
                var text = v
                rc = text.withUTF8 { utf8 in
                    // An empty buffer may have no address, which SQLite would bind as NULL.
                    guard let base = utf8.baseAddress, utf8.count > 0 else {
                        return sqlite3_bind_text(stmt, index, "", 0, shim_sqlite_transient())
                    }
                    return base.withMemoryRebound(to: CChar.self, capacity: utf8.count) {
                        sqlite3_bind_text(stmt, index, $0, Int32(utf8.count), shim_sqlite_transient())
                    }
                }
            case .blob(let v):
                if v.isEmpty {
                    rc = sqlite3_bind_zeroblob(stmt, index, 0)
                } else {
                    rc = v.withUnsafeBytes { sqlite3_bind_blob(stmt, index, $0.baseAddress, Int32($0.count), shim_sqlite_transient()) }
                }
            }
            if rc != SQLITE_OK { throw SQLiteError(code: rc, db: sqlite3_db_handle(stmt), sql: sql) }
        }
    }

    /// One step: true if a row is available (read it with `row()`), false when done.
    public func step() throws(SQLiteError) -> Bool {
        let stmt = try live()
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(code: rc, db: sqlite3_db_handle(stmt), sql: sql)
        }
    }

    /// Ready to step again from the start (bindings are kept).
    public func reset() {
        if let stmt { sqlite3_reset(stmt) }
    }

    /// The current row; valid until the next `step`/`reset`.
    public func row() -> SQLiteRow { SQLiteRow(stmt: stmt) }
}

/// A view of the current row of a statement: valid only until the statement steps or resets.
public struct SQLiteRow {
    let stmt: OpaquePointer?

    public var columnCount: Int32 { stmt.map { sqlite3_column_count($0) } ?? 0 }

    public func columnName(_ i: Int32) -> String? {
        guard let stmt, let name = sqlite3_column_name(stmt, i) else { return nil }
        return String(cString: name)
    }

    public func int64(_ i: Int32) -> Int64 { stmt.map { sqlite3_column_int64($0, i) } ?? 0 }

    public func double(_ i: Int32) -> Double { stmt.map { sqlite3_column_double($0, i) } ?? 0 }

    /// nil for NULL.
    public func text(_ i: Int32) -> String? {
        guard let stmt, let text = sqlite3_column_text(stmt, i) else { return nil }
        let count = Int(sqlite3_column_bytes(stmt, i))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    /// Empty for NULL or an empty blob.
    public func blob(_ i: Int32) -> [UInt8] {
        guard let stmt, let bytes = sqlite3_column_blob(stmt, i) else { return [] }
        let count = Int(sqlite3_column_bytes(stmt, i))
        return Array(UnsafeRawBufferPointer(start: bytes, count: count))
    }

    public func isNull(_ i: Int32) -> Bool {
        guard let stmt else { return true }
        return sqlite3_column_type(stmt, i) == SQLITE_NULL
    }

    public func value(_ i: Int32) -> SQLiteValue {
        guard let stmt else { return .null }
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .integer(int64(i))
        case SQLITE_FLOAT: return .real(double(i))
        case SQLITE_TEXT: return .text(text(i) ?? "")
        case SQLITE_BLOB: return .blob(blob(i))
        default: return .null
        }
    }
}
