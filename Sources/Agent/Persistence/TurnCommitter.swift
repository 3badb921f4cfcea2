import FleetRuntime
import Logging

/// Makes each loop turn's changes durable before anything the turn wrote leaves the process, in
/// one SQLite transaction off the loop thread.
///
/// At the end of every turn (a before-sleep hook, before the loop flushes sockets) it takes the
/// broker's batch (`SessionStore`) and the coordinator link's (`ForwardStore`, the interest delta
/// and DELIVERY_ACKs), hands them together to the `StorageWriter` (one transaction, one fsync
/// under `--durability full`), and gates every stream the turn wrote to until that transaction
/// committed. The loop meanwhile reads and answers other clients: a large commit (a publish to
/// 10,000 persistent sessions) delays only the acknowledgements that wait for it.
///
/// Loop-thread only.
final class TurnCommitter {
    private let loop: EventLoop
    private let broker: Broker
    private let writer: StorageWriter
    /// Set once the coordinator link exists (it is created after the listeners).
    var link: CoordinatorLink?
    private var failedAttempts = 0
    /// `broker.durableWrites` at the end of the previous turn.
    private var writesAtTurnStart: UInt64 = 0

    /// A turn with at most this many writes and bytes commits on the loop thread when the writer
    /// is idle: up to a few milliseconds of SQLite (~340k rows/s here) cost less than handing
    /// them over (two thread hops and a loop wake-up while the acknowledgements wait: the QoS 1
    /// persistent-session bench ran 17-34 % slower with every commit on the pool). Larger turns
    /// (a publish to thousands of persistent sessions), and every turn while a commit is under
    /// way, go to the writer. Not with `--durability full`, whose fsync can take milliseconds.
    static let inlineMaxWrites = 2_000
    static let inlineMaxBytes = 1 << 20
    private let inlineSmallCommits: Bool

    init(loop: EventLoop, databasePath: String, synchronous: SQLiteDatabase.Synchronous, broker: Broker) throws {
        self.loop = loop
        self.broker = broker
        inlineSmallCommits = synchronous != .full
        writer = try StorageWriter(loop: loop, path: databasePath, synchronous: synchronous)
        writer.onCommitted = { [unowned self] epoch in
            if failedAttempts > 0 {
                broker.noteCommitRecovered(afterAttempts: failedAttempts)
                failedAttempts = 0
            }
            loop.releaseGates(upTo: epoch)
        }
        writer.onFailure = { [unowned self] error, attempt in
            failedAttempts = attempt
            broker.noteCommitFailure(error, attempt: attempt)
            link?.metrics.commitFailures += 1
        }
    }

    /// Registers the end-of-turn hook. Call once, before the loop runs.
    func install() {
        loop.addBeforeSleepHook { [unowned self] in endTurn() }
    }

    /// Submits the turn's writes and gates what the turn wrote behind them. When every durable
    /// change of the turn came from inbound packets (`Broker.beginTracked`), only the streams
    /// those packets wrote to are gated: an unrelated client answered in the same turn does not
    /// wait for a large commit. Any other change (a timer, the link's frames, a CONNECT completed
    /// after its password check) gates everything the turn wrote.
    func endTurn() {
        var writes = broker.store.takeWrites()
        link?.endTurn(into: &writes)
        let total = broker.durableWrites
        let allTracked = total &- writesAtTurnStart == broker.turnTrackedWrites
        writesAtTurnStart = total
        broker.turnTrackedWrites = 0
        guard !writes.isEmpty else { return loop.clearGateMarks() }
        if inlineSmallCommits && Self.isSmall(writes) {
            do {
                if try writer.commitInline(writes) {
                    return loop.clearGateMarks()  // durable before this turn's flush: nothing to hold
                }
            } catch {
                failedAttempts += 1
                broker.noteCommitFailure(error, attempt: failedAttempts)
                // Fall through: the writer retries them, and the turn's bytes wait.
            }
        }
        loop.gateWrittenStreams(epoch: writer.submit(writes), onlyMarked: allTracked)
    }

    private static func isSmall(_ writes: [SQLWrite]) -> Bool {
        guard writes.count <= inlineMaxWrites else { return false }
        var bytes = 0
        for w in writes {
            for v in w.values {
                switch v {
                case .blob(let b): bytes += b.count
                case .text(let t): bytes += t.utf8.count
                default: bytes += 8
                }
            }
        }
        return bytes <= inlineMaxBytes
    }

    /// For a shutdown: the last turn's writes, committed on this thread, and its bytes released
    /// to the flush that follows (the loop is about to stop and will not wait for the pool).
    func commitNow() throws {
        endTurn()
        try writer.commitSynchronously()
    }

    /// Commits what is left and closes the writer's connection.
    func close() throws { try writer.close() }

}
