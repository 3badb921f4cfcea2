internal import CLibUV
internal import Glibc

/// Owns one `uv_loop_t` and runs it.
///
/// **Loop-thread only (not Sendable).** Create it, run it, register hooks and create handles on one
/// thread; other threads reach the loop only through a ``LoopMailbox``.
///
/// Per iteration (libuv order): timers, pending callbacks, **before-sleep** (the hooks, then the
/// flush of every stream written to since the last flush), poll for I/O (read callbacks), check,
/// close callbacks. Writes made in read or timer callbacks are therefore flushed before the loop
/// blocks again.
public final class EventLoop {
    /// The libuv loop; malloc'ed, freed by `shutdown()`. `loop.data` points (unretained) at `self`.
    let loop: UnsafeMutablePointer<uv_loop_t>
    /// Runs the before-sleep hooks and the write flush. `data == nil`: not a user handle.
    private let prepare: UnsafeMutablePointer<uv_prepare_t>
    /// Started only when a flush had to stop early, so the poll does not block with dirty streams.
    private let idle: UnsafeMutablePointer<uv_idle_t>
    /// Runs the `runSoon` jobs in the idle phase of the next iteration (before the hooks).
    private let soonIdle: UnsafeMutablePointer<uv_idle_t>
    private var soonJobs: [() -> Void] = []
    /// `uv_getaddrinfo` requests in flight (EventLoop+Resolve.swift); cancelled by `shutdown()`.
    var resolutions = Set<UnsafeMutableRawPointer>()
    /// Set by `shutdown()`: completions of lookups that still finish are dropped.
    var resolutionsCancelled = false
    private var prepareReferenced = false
    private var idleActive = false
    private(set) var isShutDown = false

    /// The one read buffer shared by every stream of this loop (libuv reads into it, the stream
    /// handler sees it during `streamReceived`, the next read reuses it).
    let readBuffer: UnsafeMutablePointer<CChar>
    static let readBufferSize = 64 * 1024

    private var hooks: [() -> Void] = []
    /// Streams with queued bytes (or a pending graceful close) since the last flush.
    private var dirtyStreams: [any LoopFlushable] = []
    /// The batch being flushed; swapped with `dirtyStreams` so neither array reallocates.
    private var flushingStreams: [any LoopFlushable] = []
    /// A flush repeats while callbacks it triggers (onDrained) queue more bytes, at most this often.
    static let maxFlushRounds = 16

    // Holding small writes while saturated (see `flushDirtyStreams`).
    /// An iteration that read at least this much is "saturated": more input is almost surely
    /// waiting, and a small write is worth holding for the messages it will bring.
    static let saturatedReadBytes = 16 * 1024
    /// A stream with at least this much queued is flushed anyway: one write() is then well used.
    static let holdBelowBytes = 4 * 1024
    /// At most this many consecutive iterations hold writes; the next one flushes everything.
    static let maxHeldIterations = 3
    private var bytesReadThisIteration = 0
    /// Counts flushes (wrapping); a stream that reads records it, so the next flush knows the
    /// stream read since the previous one.
    private(set) var flushEpoch: UInt32 = 1
    private var heldIterations = 0
    private var heldStreams: [any LoopFlushable] = []
    /// Streams holding bytes behind a durability gate (`gateWrittenStreams`).
    private var gatedStreams: [any LoopFlushable] = []
    /// Counts writes to the streams of this loop; each stream keeps the count at its latest write
    /// (`markWritten(since:)`).
    public internal(set) var writeSequence: UInt64 = 0

    /// Counters for benchmarks and tests (monotonic since init).
    public private(set) var statistics = LoopStatistics()

    public init() throws(RuntimeError) {
        Self.ignoreBrokenPipeSignals()
        loop = allocateUV(uv_loop_t.self)
        let rc = uv_loop_init(loop)
        if rc < 0 {
            free(loop)
            throw RuntimeError(call: "uv_loop_init", code: rc)
        }
        prepare = allocateUV(uv_prepare_t.self)
        idle = allocateUV(uv_idle_t.self)
        soonIdle = allocateUV(uv_idle_t.self)
        readBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Self.readBufferSize)
        // uv_prepare_init / uv_idle_init cannot fail on Unix (they only link the handle in).
        uv_prepare_init(loop, prepare)
        uv_idle_init(loop, idle)
        uv_idle_init(loop, soonIdle)
        loop.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        uv_prepare_start(prepare) { prepare in
            eventLoop(of: prepare!.pointee.loop).beforeSleep()
        }
        // The prepare handle runs every iteration but keeps the loop alive only while a flush is owed.
        uv_unref(uvHandle(prepare))
    }

    deinit {
        if !isShutDown { shutdown() }
    }

    /// libuv writes with plain write()/writev(). Once a peer has closed and answered a write with
    /// RST, the next write() raises SIGPIPE, whose default action ends the process: one device
    /// that disconnects while paused would take every other connection of the gateway with it.
    /// Ignored, the write fails with EPIPE and only that stream closes. Process-wide by nature
    /// (Linux has no per-socket SO_NOSIGPIPE; libuv offers no MSG_NOSIGNAL), and idempotent, so
    /// every loop sets it rather than trusting each executable's main to remember.
    private static func ignoreBrokenPipeSignals() {
        signal(SIGPIPE, SIG_IGN)
    }

    /// The loop's cached clock (`uv_now`), in milliseconds.
    public var now: UInt64 { uv_now(loop) }

    /// Runs the loop (`UV_RUN_DEFAULT`) until `stop()` or until no referenced handle or request is alive.
    public func run() {
        uv_run(loop, UV_RUN_DEFAULT)
    }

    /// One iteration; with `nowait` it does not block for I/O. Returns whether anything is still alive.
    /// Note: when nothing is alive the iteration does not run at all (libuv), hooks included.
    @discardableResult
    public func runOnce(nowait: Bool) -> Bool {
        uv_run(loop, nowait ? UV_RUN_NOWAIT : UV_RUN_ONCE) != 0
    }

    /// Makes `run()` return after the current iteration.
    public func stop() {
        uv_stop(loop)
    }

    /// Hooks run in registration order once per loop iteration, just before the loop blocks for I/O
    /// (uv_prepare: after all I/O callbacks and timers of the iteration — redis' beforeSleep). After
    /// the hooks, the loop flushes every stream that was written to during the iteration (see
    /// ``TCPStream/write(_:)-([UInt8])``). Hooks may write to streams. Loop-thread only; hooks do not
    /// keep the loop alive and cannot be removed (check a flag inside the hook instead).
    public func addBeforeSleepHook(_ body: @escaping () -> Void) {
        hooks.append(body)
    }

    /// Handles that are alive and not closing, excluding the loop's own internal handles (`uv_walk`).
    public var aliveHandleCount: Int {
        if isShutDown { return 0 }
        return userHandles().count
    }

    /// Closes every handle (streams are closed at once, queued bytes dropped), runs the loop until
    /// the close callbacks ran (so every `streamClosed` is delivered), closes and frees the loop.
    /// Returns the number of handles that were still alive (not closing) before closing, not
    /// counting streams already closing gracefully: 0 in a clean test. Call it on the loop
    /// thread, outside `run()`. Idempotent (later calls return 0).
    @discardableResult
    public func shutdown() -> Int {
        if isShutDown { return 0 }
        let handles = userHandles()
        let open = handles.filter { !(Self.owner(of: $0)?.isClosingGracefully ?? false) }
        for handle in handles { closeForShutdown(handle) }
        cancelResolutions()
        closeLoopHandle(uvHandle(prepare))
        closeLoopHandle(uvHandle(idle))
        closeLoopHandle(uvHandle(soonIdle))
        soonJobs.removeAll()
        dirtyStreams.removeAll()
        flushingStreams.removeAll()
        gatedStreams.removeAll()
        hooks.removeAll()
        // Runs the close callbacks (and cancelled write callbacks). Bounded: each round also closes
        // whatever those callbacks may have opened.
        uv_run(loop, UV_RUN_DEFAULT)
        var rc = uv_loop_close(loop)
        var rounds = 0
        while rc == UV_EBUSY.rawValue && rounds < 100 {
            rounds += 1
            for handle in allHandles() where uv_is_closing(handle) == 0 { closeForShutdown(handle) }
            uv_run(loop, UV_RUN_DEFAULT)
            rc = uv_loop_close(loop)
        }
        dirtyStreams.removeAll()
        if rc == 0 {
            free(loop)
        }
        // else: something never finished closing; leaking the loop is safer than freeing it.
        readBuffer.deallocate()
        isShutDown = true
        return open.count
    }

    // MARK: - Internals

    /// Handle constructors call this first: after `shutdown()` the uv_loop_t memory is gone.
    func checkUsable(_ call: String) throws(RuntimeError) {
        if isShutDown { throw RuntimeError(call: call, code: UV_EINVAL.rawValue) }
    }

    private func allHandles() -> [UnsafeMutablePointer<uv_handle_t>] {
        var handles: [UnsafeMutablePointer<uv_handle_t>] = []
        withUnsafeMutablePointer(to: &handles) { list in
            uv_walk(loop, { handle, arg in
                guard let handle, let arg else { return }
                arg.assumingMemoryBound(to: [UnsafeMutablePointer<uv_handle_t>].self).pointee.append(handle)
            }, list)
        }
        return handles
    }

    private func userHandles() -> [UnsafeMutablePointer<uv_handle_t>] {
        let own = [UnsafeMutableRawPointer(prepare), UnsafeMutableRawPointer(idle), UnsafeMutableRawPointer(soonIdle)]
        return allHandles().filter { handle in
            uv_is_closing(handle) == 0 && !own.contains(UnsafeMutableRawPointer(handle))
        }
    }

    private static func owner(of handle: UnsafeMutablePointer<uv_handle_t>) -> LoopHandleOwner? {
        guard let data = handle.pointee.data else { return nil }
        return loopHandleOwner(Unmanaged<AnyObject>.fromOpaque(data).takeUnretainedValue())
    }

    private func closeForShutdown(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        Self.owner(of: handle)?.closeForShutdown()
        if uv_is_closing(handle) == 0 { closeLoopHandle(handle) }
    }

    /// Called by a stream whose queue went from clean to dirty. Keeps the loop alive until flushed.
    func markDirty(_ stream: any LoopFlushable) {
        dirtyStreams.append(stream)
        if !prepareReferenced {
            prepareReferenced = true
            uv_ref(uvHandle(prepare))
        }
    }

    /// Durability gates. A before-sleep hook that handed this turn's durable writes to a
    /// background commit (`StorageWriter`) calls this with the commit's epoch: every byte written
    /// to any stream since the last flush is held back, in order, until `releaseGates(upTo:)`
    /// reports that epoch committed; bytes written later queue behind them. So an
    /// acknowledgement never leaves before the data it acknowledges is on disk, while the loop
    /// goes on reading and answering streams whose bytes wait for no commit. Loop thread only.
    ///
    /// `onlyMarked`: gate only the streams `markWritten(since:)` marked (written while handling something
    /// that changed durable state); the others flush as usual. Marks are cleared either way.
    public func gateWrittenStreams(epoch: UInt64, onlyMarked: Bool = false) {
        guard !dirtyStreams.isEmpty else { return }
        swap(&dirtyStreams, &flushingStreams)
        for stream in flushingStreams {
            let marked = stream.mustGate
            stream.mustGate = false
            guard marked || !onlyMarked else {
                dirtyStreams.append(stream)
                continue
            }
            let (firstGate, stillDirty) = stream.gate(epoch: epoch)
            if firstGate { gatedStreams.append(stream) }
            if stillDirty { dirtyStreams.append(stream) }
        }
        flushingStreams.removeAll(keepingCapacity: true)
    }

    /// Marks for the turn's gate (`gateWrittenStreams(epoch:onlyMarked: true)`) every stream
    /// written after `sequence` (a `writeSequence` taken before handling something that turned out
    /// to change durable state). Every stream written since the last flush is in the dirty list,
    /// so this costs a walk of it, and only for such packets; the write path pays one counter.
    public func markWritten(since sequence: UInt64) {
        for stream in dirtyStreams where stream.lastWriteSequence > sequence { stream.mustGate = true }
    }

    /// Forgets the marks of streams that no gate took (a turn whose changes cancelled out).
    public func clearGateMarks() {
        for stream in dirtyStreams { stream.mustGate = false }
    }

    /// The commit of `epoch` (and of every earlier one) is durable: the bytes gated up to it are
    /// marked dirty again and go out with the next before-sleep flush (called from a loop
    /// callback, that is the flush of the iteration about to begin, before the loop blocks).
    public func releaseGates(upTo epoch: UInt64) {
        guard !gatedStreams.isEmpty else { return }
        var still: [any LoopFlushable] = []
        for stream in gatedStreams where stream.releaseGates(upTo: epoch) { still.append(stream) }
        gatedStreams = still
    }

    /// Streams holding bytes behind durability gates, for tests and metrics.
    public var gatedStreamCount: Int { gatedStreams.count }

    /// Runs `body` on this loop in the idle phase of the next iteration: after this iteration's
    /// I/O callbacks, before the next before-sleep hooks (so writes it makes are still flushed
    /// after the hooks). While jobs are queued the poll does not block. Dropped by `shutdown()`.
    /// Used by TLS streams to deliver input that arrived while the user was not reading.
    func runSoon(_ body: @escaping () -> Void) {
        guard !isShutDown else { return }
        soonJobs.append(body)
        if soonJobs.count == 1 {
            uv_idle_start(soonIdle) { idle in
                eventLoop(of: idle!.pointee.loop).runSoonJobs()
            }
        }
    }

    private func runSoonJobs() {
        let jobs = soonJobs
        soonJobs = []
        uv_idle_stop(soonIdle)
        for job in jobs { job() }
    }

    /// The uv_prepare callback: hooks, then the write flush.
    private func beforeSleep() {
        statistics.iterations &+= 1
        for hook in hooks { hook() }
        flushDirtyStreams()
    }

    /// Flushes every dirty stream. Stream callbacks run during the flush (onDrained, closes) may
    /// dirty streams again; those are flushed in further rounds, bounded by `maxFlushRounds`. If
    /// streams are still dirty after that, the idle handle makes the poll non-blocking so the next
    /// iteration flushes them.
    ///
    /// Holding: when this iteration read at least `saturatedReadBytes` (input is arriving faster
    /// than one turn handles), streams with less than `holdBelowBytes` queued are not written in
    /// this turn but kept dirty, for at most `maxHeldIterations` turns in a row. With many
    /// receivers each getting one or two messages per turn, one write() per message is what costs
    /// (the kernel's send and loopback receive path); holding gives each write several. The poll
    /// does not block while streams are held, so an iteration without input flushes them at once:
    /// an idle or lightly loaded loop (the latency case) never holds anything.
    func flushDirtyStreams() {
        let hold = bytesReadThisIteration >= Self.saturatedReadBytes && heldIterations < Self.maxHeldIterations
        bytesReadThisIteration = 0
        var rounds = 0
        while !dirtyStreams.isEmpty && rounds < Self.maxFlushRounds {
            rounds += 1
            swap(&dirtyStreams, &flushingStreams)
            for stream in flushingStreams {
                // Only the first round holds: later rounds carry bytes the flush itself produced.
                if hold && rounds == 1, let queued = stream.holdableBytes, queued < Self.holdBelowBytes {
                    heldStreams.append(stream)
                } else {
                    stream.flush()
                }
            }
            flushingStreams.removeAll(keepingCapacity: true)
        }
        flushEpoch &+= 1
        if flushEpoch == 0 { flushEpoch = 1 }   // 0 is a new stream's "never read"
        if heldStreams.isEmpty {
            heldIterations = 0
        } else {
            heldIterations += 1
            statistics.heldFlushes &+= UInt64(heldStreams.count)
            dirtyStreams.append(contentsOf: heldStreams)   // still isDirty: new writes join them
            heldStreams.removeAll(keepingCapacity: true)
        }
        if dirtyStreams.isEmpty {
            if prepareReferenced {
                prepareReferenced = false
                uv_unref(uvHandle(prepare))
            }
            if idleActive {
                idleActive = false
                uv_idle_stop(idle)
            }
        } else if !idleActive {
            idleActive = true
            uv_idle_start(idle) { _ in }
        }
    }

    func noteTryWrite(bytes: Int) {
        statistics.tryWrites &+= 1
        statistics.bytesWritten &+= UInt64(bytes)
    }

    func noteQueuedWrite() { statistics.queuedWrites &+= 1 }

    func noteWriteCompleted(bytes: Int) { statistics.bytesWritten &+= UInt64(bytes) }

    /// Whether `epoch` (a stream's `readEpoch`) is this flush's: the stream read since the last one.
    func isCurrentFlush(_ epoch: UInt32) -> Bool { epoch == flushEpoch }

    func noteRead(bytes: Int) {
        bytesReadThisIteration &+= bytes
        statistics.reads &+= 1
        statistics.bytesRead &+= UInt64(bytes)
    }
}

/// Counters kept by an ``EventLoop`` (for benchmarks, metrics and tests).
public struct LoopStatistics: Sendable, Equatable {
    /// Before-sleep phases run (one per loop iteration that ran).
    public var iterations: UInt64 = 0
    /// `uv_try_write` calls made by flushes (one per dirty stream per flush).
    public var tryWrites: UInt64 = 0
    /// `uv_write` requests issued for bytes `uv_try_write` could not take.
    public var queuedWrites: UInt64 = 0
    /// Times a dirty stream's small write was held for another iteration (saturated loop).
    public var heldFlushes: UInt64 = 0
    /// Bytes confirmed written to sockets.
    public var bytesWritten: UInt64 = 0
    /// Read callbacks with data, and their bytes.
    public var reads: UInt64 = 0
    public var bytesRead: UInt64 = 0
}
