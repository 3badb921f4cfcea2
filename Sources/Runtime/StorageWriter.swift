internal import Glibc
internal import Synchronization

/// One statement of a write batch with its values: built on the loop thread, run by the writer.
public struct SQLWrite: Sendable {
    public let sql: String
    public let values: [SQLiteValue]
    public init(_ sql: String, _ values: [SQLiteValue]) { self.sql = sql; self.values = values }
}

/// Commits write batches off the loop thread: each `submit` gets an epoch; batches run on libuv's
/// thread pool one transaction at a time, in submission order, everything submitted meanwhile
/// joining the next transaction (group commit across loop turns). `onCommitted(epoch)` runs on
/// the loop thread once every batch up to `epoch` is durable; the loop then releases the bytes
/// it gated for them (`EventLoop.gateWrittenStreams`). So a large commit delays only the
/// acknowledgements that wait for it, not the loop.
///
/// A failed transaction is rolled back and retried, with its writes first and in order, after a
/// back-off (50 ms doubling to 1 s): a transient SQLite error delays acknowledgements but loses
/// nothing, and later batches never overtake earlier ones.
///
/// **Loop-thread only**, except the connection, which is used by one pool thread at a time (at
/// most one transaction is in flight) or by `commitSynchronously` once none is.
public final class StorageWriter {
    public private(set) var submittedEpoch: UInt64 = 0
    public private(set) var committedEpoch: UInt64 = 0
    /// Loop thread: everything up to the epoch is committed.
    public var onCommitted: ((UInt64) -> Void)?
    /// Loop thread: a transaction failed and will be retried (the error, consecutive failures).
    public var onFailure: ((any Error, Int) -> Void)?

    private let loop: EventLoop
    private let connection: Connection
    private var pending: [SQLWrite] = []
    private var inFlight: (writes: [SQLWrite], upTo: UInt64)?
    private var failures = 0
    private let retryTimer: LoopTimer
    private var waitingToRetry = false

    public static let retryMinimumMilliseconds: UInt64 = 50
    public static let retryMaximumMilliseconds: UInt64 = 1_000

    public init(loop: EventLoop, path: String, synchronous: SQLiteDatabase.Synchronous) throws(SQLiteError) {
        self.loop = loop
        connection = Connection(try SQLiteDatabase(path: path, synchronous: synchronous))
        retryTimer = LoopTimer(loop: loop)
    }

    /// Whether a submitted batch is not committed yet.
    public var isBusy: Bool { submittedEpoch != committedEpoch }

    /// Queues `writes` for the next transaction; returns the epoch to wait for. An empty batch
    /// still gets an epoch (committed in order with the others).
    @discardableResult
    public func submit(_ writes: [SQLWrite]) -> UInt64 {
        submittedEpoch += 1
        pending.append(contentsOf: writes)
        startIfIdle()
        return submittedEpoch
    }

    private func startIfIdle() {
        guard inFlight == nil, !waitingToRetry, submittedEpoch != committedEpoch else { return }
        let batch = pending
        pending = []
        let upTo = submittedEpoch
        inFlight = (batch, upTo)
        let connection = self.connection
        loop.runBlocking({ connection.commit(batch, upTo: upTo) }) { [weak self] outcome in
            self?.finished(outcome)
        }
    }

    private func finished(_ outcome: Connection.Outcome) {
        guard let (batch, upTo) = inFlight else { return }
        inFlight = nil
        switch outcome {
        case .skipped:
            return  // commitSynchronously ran it (at shutdown)
        case .committed:
            failures = 0
            committedEpoch = upTo
            onCommitted?(upTo)
            startIfIdle()
        case .failed(let error):
            failures += 1
            pending = batch + pending
            onFailure?(error, failures)
            let delay = min(Self.retryMaximumMilliseconds, Self.retryMinimumMilliseconds << UInt64(min(failures - 1, 10)))
            waitingToRetry = true
            retryTimer.start(afterMilliseconds: delay) { [weak self] in
                guard let self else { return }
                waitingToRetry = false
                startIfIdle()
            }
        }
    }

    /// Commits `writes` on the calling (loop) thread, as the next epoch, when nothing is queued or
    /// in flight: for a small batch the hand-off costs more than the write (two thread hops and a
    /// loop wake-up while the acknowledgements wait). Returns false, doing nothing, when the
    /// writer is busy (order must be kept); throws, doing nothing, when the transaction fails
    /// (the caller then submits the writes, and the writer retries them).
    public func commitInline(_ writes: [SQLWrite]) throws -> Bool {
        guard !isBusy, inFlight == nil, !waitingToRetry, pending.isEmpty else { return false }
        try connection.commitNow(writes)
        submittedEpoch += 1
        committedEpoch = submittedEpoch
        return true
    }

    /// Commits everything submitted, on the calling (loop) thread, waiting for a transaction in
    /// flight on the pool first: for a shutdown, whose last acknowledgements must not wait for a
    /// loop that is stopping. Calls `onCommitted` on success. Throws (keeping the writes) when
    /// the transaction fails.
    public func commitSynchronously() throws {
        guard isBusy else { return }
        var batch = pending
        var upTo = submittedEpoch
        if let flight = inFlight {
            // Claim it: if the pool has not started it, it skips it; if it finished, its outcome counts.
            switch connection.claim(flight.upTo) {
            case .committed: committedEpoch = flight.upTo
            case .failed, .skipped: batch = flight.writes + batch
            }
            inFlight = nil
        }
        if committedEpoch == submittedEpoch { return onCommitted?(committedEpoch) ?? () }
        upTo = submittedEpoch
        do {
            try connection.commitNow(batch)
        } catch {
            pending = batch
            throw error
        }
        pending = []
        committedEpoch = upTo
        retryTimer.stop()
        waitingToRetry = false
        onCommitted?(upTo)
    }

    /// Commits what is left, then closes the connection and the retry timer. Loop thread.
    public func close() throws {
        defer {
            retryTimer.close()
            connection.close()
        }
        try commitSynchronously()
    }

    /// The SQLite connection, touched by one thread at a time: the pool thread running the one
    /// transaction in flight, or the loop thread in `commitSynchronously`, which first takes the
    /// lock the pool thread holds while it runs. `@unchecked Sendable` on that invariant.
    final class Connection: @unchecked Sendable {
        enum Outcome: Sendable {
            case committed
            case failed(SQLiteError)
            case skipped
        }

        private let db: SQLiteDatabase
        /// Guards the connection, and which epochs the loop thread has taken over.
        /// `last`: the outcome of the latest transaction the pool ran (one is in flight at most).
        private let lock = Mutex<(claimedUpTo: UInt64, last: (upTo: UInt64, outcome: Outcome)?)>((0, nil))

        init(_ db: SQLiteDatabase) { self.db = db }

        /// Pool thread.
        func commit(_ writes: [SQLWrite], upTo: UInt64) -> Outcome {
            lock.withLock { state in
                if state.claimedUpTo >= upTo { return .skipped }
                let outcome: Outcome
                do throws(SQLiteError) {
                    try run(writes)
                    outcome = .committed
                } catch {
                    outcome = .failed(error)
                }
                state.last = (upTo, outcome)
                return outcome
            }
        }

        /// Loop thread: takes over the batch up to `upTo`, waiting if the pool is running it.
        /// Returns how it ended on the pool, or `.skipped` if the pool had not started it.
        func claim(_ upTo: UInt64) -> Outcome {
            lock.withLock { state in
                state.claimedUpTo = max(state.claimedUpTo, upTo)
                guard let last = state.last, last.upTo == upTo else { return .skipped }
                return last.outcome
            }
        }

        /// Loop thread, after `claim`.
        func commitNow(_ writes: [SQLWrite]) throws(SQLiteError) {
            try lock.withLock { _ throws(SQLiteError) in try run(writes) }
        }

        private func run(_ writes: [SQLWrite]) throws(SQLiteError) {
            try db.execute("BEGIN IMMEDIATE")
            do {
                for w in writes { try db.run(w.sql, w.values) }
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }

        func close() { lock.withLock { _ in db.close() } }
    }
}
