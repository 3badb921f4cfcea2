import FleetRuntime
import Testing

/// Issue #10 §3.5: commits run off the loop thread, in order, and a failed one is retried, never
/// lost and never overtaken.
@Suite struct StorageWriterTests {
    let dir = makeTemporaryDirectory()
    var path: String { dir + "/w.db" }

    private func rows(_ path: String) throws -> [Int64] {
        let db = try SQLiteDatabase(path: path)
        defer { db.close() }
        var out: [Int64] = []
        try db.query("SELECT v FROM t ORDER BY rowid", []) { out.append($0.int64(0)) }
        return out
    }

    private func setUp() throws {
        let db = try SQLiteDatabase(path: path)
        try db.execute("CREATE TABLE t(v INTEGER NOT NULL)")
        db.close()
    }

    @Test("batches commit in submission order, reported by epoch, on the loop thread")
    func commitsInOrder() throws {
        try setUp()
        defer { removeDirectory(dir) }
        let loop = try EventLoop()
        let writer = try StorageWriter(loop: loop, path: path, synchronous: .normal)
        final class Seen { var epochs: [UInt64] = [] }
        let seen = Seen()
        writer.onCommitted = { seen.epochs.append($0) }
        for i in 1...5 { writer.submit([SQLWrite("INSERT INTO t(v) VALUES(?)", [.integer(Int64(i))])]) }
        #expect(writer.submittedEpoch == 5)
        #expect(spin(loop) { writer.committedEpoch == 5 })
        #expect(seen.epochs.last == 5 && seen.epochs == seen.epochs.sorted())
        #expect(try rows(path) == [1, 2, 3, 4, 5])
        try writer.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("a failing transaction is retried with its writes first; later batches never overtake it")
    func failureIsRetriedInOrder() throws {
        try setUp()
        defer { removeDirectory(dir) }
        let saboteur = try SQLiteDatabase(path: path)
        try saboteur.execute("CREATE TRIGGER no_sevens BEFORE INSERT ON t WHEN NEW.v = 7 BEGIN SELECT RAISE(ABORT, 'injected'); END;")
        let loop = try EventLoop()
        let writer = try StorageWriter(loop: loop, path: path, synchronous: .normal)
        final class Seen { var failures = 0 }
        let seen = Seen()
        writer.onFailure = { _, attempt in seen.failures = attempt }
        writer.submit([SQLWrite("INSERT INTO t(v) VALUES(?)", [.integer(7)])])
        #expect(spin(loop) { seen.failures >= 2 })
        writer.submit([SQLWrite("INSERT INTO t(v) VALUES(?)", [.integer(8)])])
        _ = spin(loop, maxTicks: 20) { false }
        #expect(writer.committedEpoch == 0)
        #expect(try rows(path).isEmpty)                   // 8 did not overtake 7
        try saboteur.execute("DROP TRIGGER no_sevens")
        saboteur.close()
        #expect(spin(loop) { writer.committedEpoch == 2 })
        #expect(try rows(path) == [7, 8])
        try writer.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("commitSynchronously commits what is queued at once (a shutdown)")
    func synchronousCommit() throws {
        try setUp()
        defer { removeDirectory(dir) }
        let loop = try EventLoop()
        let writer = try StorageWriter(loop: loop, path: path, synchronous: .normal)
        final class Seen { var committed: UInt64 = 0 }
        let seen = Seen()
        writer.onCommitted = { seen.committed = $0 }
        writer.submit([SQLWrite("INSERT INTO t(v) VALUES(?)", [.integer(1)])])  // maybe on the pool already
        writer.submit([SQLWrite("INSERT INTO t(v) VALUES(?)", [.integer(2)])])
        try writer.commitSynchronously()
        #expect(seen.committed == 2 && writer.committedEpoch == 2)
        #expect(try rows(path) == [1, 2])
        _ = spin(loop, maxTicks: 5) { false }             // the pool's completion, if any, is a no-op
        #expect(try rows(path) == [1, 2])
        try writer.close()
        #expect(loop.shutdown() == 0)
    }
}
