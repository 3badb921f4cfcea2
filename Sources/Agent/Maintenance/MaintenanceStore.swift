import FleetProtocol
import FleetRuntime

/// What this gateway knows of each (run id, fencing) pair it was told to run (§5.23), in its own
/// SQLite file under data_dir (`maintenance.db`).
///
/// A file of its own, not a table in fleetgate.db: the start of a run is written synchronously on
/// the loop thread before the command is spawned, and in the shared file that write could wait
/// for the turn committer's write lock. Opened with synchronous=FULL whatever the agent's
/// durability: these are two writes per operation, and the operation may well be a reboot, so
/// "recorded" must mean "on disk", not "in the OS cache". Loop-thread only.
final class MaintenanceStore {
    enum State: Int64 { case running = 1, finished = 2 }

    struct Record: Equatable {
        var runId: String
        var fencing: UInt64
        var operation: String
        var state: State
        var exitStatus: Int32
        var outputTail: String
        var reason: String
    }

    /// Finished records kept; older ones are pruned. A pair older than the last 10,000 runs of
    /// this gateway would run again: no coordinator keeps retrying a run that long.
    static let maxRecords = 10_000

    static let interruptedExitStatus: Int32 = -2
    static let interruptedReason = "the agent restarted while the operation ran; its outcome is unknown"

    private let db: SQLiteDatabase

    init(path: String) throws {
        db = try SQLiteDatabase(path: path, synchronous: .full)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS maintenance_runs(
                run_id TEXT NOT NULL,
                fencing INTEGER NOT NULL,
                operation TEXT NOT NULL,
                state INTEGER NOT NULL,
                exit_status INTEGER NOT NULL DEFAULT 0,
                output_tail TEXT NOT NULL DEFAULT '',
                reason TEXT NOT NULL DEFAULT '',
                started_ms INTEGER NOT NULL,
                finished_ms INTEGER,
                PRIMARY KEY(run_id, fencing)) WITHOUT ROWID;
            """)
    }

    func record(runId: String, fencing: UInt64) throws -> Record? {
        var found: Record?
        try db.query("SELECT operation, state, exit_status, output_tail, reason FROM maintenance_runs WHERE run_id = ? AND fencing = ?",
                     [.text(runId), .integer(Int64(bitPattern: fencing))]) { row in
            found = Record(runId: runId, fencing: fencing, operation: row.text(0) ?? "", state: State(rawValue: row.int64(1)) ?? .finished,
                           exitStatus: Int32(truncatingIfNeeded: row.int64(2)), outputTail: row.text(3) ?? "", reason: row.text(4) ?? "")
        }
        return found
    }

    /// Durable before it returns (synchronous=FULL): only then may the command start.
    func recordStart(runId: String, fencing: UInt64, operation: String, nowMs: UInt64) throws {
        try db.run("INSERT INTO maintenance_runs(run_id, fencing, operation, state, started_ms) VALUES(?, ?, ?, ?, ?)",
                   [.text(runId), .integer(Int64(bitPattern: fencing)), .text(operation), .integer(State.running.rawValue),
                    .integer(Int64(clamping: nowMs))])
        try db.run("""
            DELETE FROM maintenance_runs WHERE state = ? AND started_ms < (
                SELECT started_ms FROM maintenance_runs ORDER BY started_ms DESC LIMIT 1 OFFSET ?)
            """, [.integer(State.finished.rawValue), .integer(Int64(Self.maxRecords - 1))])
    }

    func recordFinish(runId: String, fencing: UInt64, exitStatus: Int32, outputTail: String, reason: String, nowMs: UInt64) throws {
        try db.run("""
            UPDATE maintenance_runs SET state = ?, exit_status = ?, output_tail = ?, reason = ?, finished_ms = ?
            WHERE run_id = ? AND fencing = ?
            """, [.integer(State.finished.rawValue), .integer(Int64(exitStatus)), .text(outputTail), .text(reason),
                  .integer(Int64(clamping: nowMs)), .text(runId), .integer(Int64(bitPattern: fencing))])
    }

    /// At start: every pair recorded as started and never finished was cut short by a restart of
    /// the agent (or of the host); it becomes finished with exit status -2. Returns those records.
    func finishInterrupted(nowMs: UInt64) throws -> [Record] {
        var cut: [Record] = []
        try db.query("SELECT run_id, fencing, operation FROM maintenance_runs WHERE state = ?", [.integer(State.running.rawValue)]) { row in
            cut.append(Record(runId: row.text(0) ?? "", fencing: UInt64(bitPattern: row.int64(1)), operation: row.text(2) ?? "",
                              state: .finished, exitStatus: Self.interruptedExitStatus, outputTail: "", reason: Self.interruptedReason))
        }
        for r in cut {
            try recordFinish(runId: r.runId, fencing: r.fencing, exitStatus: r.exitStatus, outputTail: "", reason: r.reason, nowMs: nowMs)
        }
        return cut
    }

    func close() { db.close() }
}
