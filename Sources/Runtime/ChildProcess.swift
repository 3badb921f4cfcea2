internal import CLibUV
internal import Glibc
import FleetProtocol

/// A child process run on the loop (uv_spawn): an argv (no shell), stdin from /dev/null, stdout
/// and stderr read through pipes on the loop, line by line, an optional timeout, one exit report.
///
/// **Loop-thread only (not Sendable).** Nothing here blocks the loop: the fork and exec happen in
/// `uv_spawn` (libuv waits only for the exec to succeed or fail), the output arrives as reads,
/// the exit as libuv's SIGCHLD callback.
///
/// - The child leads its own process group (spawned detached: `setsid`), so the timeout's
///   SIGKILL goes to the whole group (`kill(-pid)`): a script's grandchildren die with it.
/// - `onLine` sees every line of stdout and stderr (a line longer than `maxLineBytes` in
///   pieces); the last lines are kept for `Exit.outputTail`, at most `tailBytes` of UTF-8.
/// - `onExit` runs exactly once, when the child has exited and both pipes reached EOF, or
///   `outputGraceMilliseconds` after the exit if something the child started still holds them.
///   A child that cannot be started (no such file, not executable) is reported the same way, on
///   a later loop turn, never thrown.
/// - Ownership: the process handle and each pipe handle retain their owner until their close
///   callback (LoopHandle.swift); all three close before `onExit` runs (or at
///   `EventLoop.shutdown()`, which reports nothing and leaves the child running).
/// - libuv learns of the exit from SIGCHLD: some thread of the process must leave SIGCHLD
///   unblocked (an executable's main thread does; Swift Testing's worker threads do not).
public final class ChildProcess {
    public enum Output: Sendable { case stdout, stderr }

    /// How the child ended.
    public struct Exit: Sendable, Equatable {
        /// Its exit status; -1 when a signal ended it (the timeout's SIGKILL included); 127 when
        /// the file could not be found and 126 when it could not be executed (the shell's codes).
        public var status: Int32
        /// The signal that ended it, or 0.
        public var signal: Int32
        public var timedOut: Bool
        /// Set when the child never ran: what `uv_spawn` said.
        public var spawnFailure: String?
        /// The last lines of stdout and stderr, in arrival order, joined with "\n".
        public var outputTail: String
        /// How it ended, for people: "" for exit 0, "exited with status 3", "killed by signal 15",
        /// "timed out after 900 s", "cannot start /x: no such file or directory".
        public var reason: String

        public init(status: Int32, signal: Int32 = 0, timedOut: Bool = false, spawnFailure: String? = nil, outputTail: String = "",
                    reason: String) {
            self.status = status; self.signal = signal; self.timedOut = timedOut; self.spawnFailure = spawnFailure
            self.outputTail = outputTail; self.reason = reason
        }
    }

    /// A child that exited but whose output pipes stay open (a background grandchild holds them)
    /// is reported after this long; its pipes are then closed.
    public static let outputGraceMilliseconds: UInt64 = 2_000
    /// Longer lines reach `onLine` in pieces of at most this many bytes.
    public static let maxLineBytes = 4_096

    public let argv: [String]
    /// The child's pid (also its process group id); 0 if it never ran.
    public private(set) var pid: Int32 = 0

    private let eventLoop: EventLoop
    private let timeoutMilliseconds: UInt64?
    private var onLine: ((Output, String) -> Void)?
    private var onExit: ((Exit) -> Void)?
    private var process: UnsafeMutablePointer<uv_process_t>?
    private var pipes: [ChildPipe] = []
    private let timer: LoopTimer
    private var tail: OutputTail
    private var exitStatus: Int32?
    private var termSignal: Int32 = 0
    private var timedOut = false
    private var spawnFailure: (code: Int32, message: String)?
    private var reported = false

    /// Starts `argv` (argv[0] is the program: a path, or a name looked up in PATH). Throws only
    /// when the loop is shut down or a pipe cannot be made; a program that cannot be started is
    /// an `Exit` with `spawnFailure`.
    public init(loop: EventLoop, argv: [String], timeoutMilliseconds: UInt64? = nil,
                tailBytes: Int = FleetLimits.maxOutputTailBytes,
                onLine: @escaping (Output, String) -> Void = { _, _ in },
                onExit: @escaping (Exit) -> Void) throws(RuntimeError) {
        precondition(!argv.isEmpty, "ChildProcess needs a program")
        try loop.checkUsable("uv_spawn")
        self.argv = argv
        self.eventLoop = loop
        self.timeoutMilliseconds = timeoutMilliseconds
        self.onLine = onLine
        self.onExit = onExit
        self.tail = OutputTail(maxBytes: tailBytes)
        self.timer = LoopTimer(loop: loop)
        for output in [Output.stdout, .stderr] {
            let handle = allocateUV(uv_pipe_t.self)
            let rc = uv_pipe_init(loop.loop, handle, 0)
            if rc < 0 {
                free(handle)
                for pipe in pipes { pipe.close() }
                throw RuntimeError(call: "uv_pipe_init", code: rc)
            }
            pipes.append(ChildPipe(handle: handle, output: output, child: self))
        }
        spawn()
    }

    /// Whether the child has been started and not yet reported.
    public var isRunning: Bool { !reported && spawnFailure == nil && pid != 0 }

    /// Sends `signal` to the child's whole process group. No effect once it was reported.
    public func kill(signal: Int32 = 9) {  // SIGKILL (Glibc is imported internally)
        guard pid > 0, exitStatus == nil, !reported else { return }
        _ = uv_kill(-pid, signal)
    }

    // MARK: Spawning

    private func spawn() {
        let process = allocateUV(uv_process_t.self)
        var stdio = [uv_stdio_container_t](repeating: uv_stdio_container_t(), count: 3)
        shim_stdio_ignore(&stdio[0])
        shim_stdio_pipe_to_parent(&stdio[1], pipes[0].handle)
        shim_stdio_pipe_to_parent(&stdio[2], pipes[1].handle)
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        let rc: Int32 = cArgs.withUnsafeBufferPointer { args in
            stdio.withUnsafeMutableBufferPointer { slots in
                var options = uv_process_options_t()
                options.exit_cb = { process, status, signal in
                    guard let process, let data = process.pointee.data else { return }
                    Unmanaged<ChildProcess>.fromOpaque(data).takeUnretainedValue().exited(status: status, signal: signal)
                }
                options.file = UnsafePointer(args[0])
                options.args = UnsafeMutablePointer(mutating: args.baseAddress)
                options.flags = UV_PROCESS_DETACHED.rawValue
                options.stdio_count = 3
                options.stdio = slots.baseAddress
                return uv_spawn(eventLoop.loop, process, &options)
            }
        }
        if rc < 0 {
            // libuv initialised the handle (and reaped the child whose exec failed): close it.
            closeLoopHandle(uvHandle(process))
            spawnFailure = (rc, RuntimeError(call: "uv_spawn", code: rc).message)
            exitStatus = rc == UV_ENOENT.rawValue ? 127 : 126
            for pipe in pipes { pipe.close() }
            // Reported on a later turn, like every other outcome: the caller is not re-entered.
            eventLoop.runSoon { [self] in reportIfDone() }
            return
        }
        self.process = process
        pid = process.pointee.pid
        retainOwner(self, in: process)
        for pipe in pipes { pipe.startReading() }
        if let timeoutMilliseconds {
            timer.start(afterMilliseconds: timeoutMilliseconds) { [unowned self] in timeoutExpired() }
        }
    }

    private func timeoutExpired() {
        guard exitStatus == nil, pid > 0 else { return }
        timedOut = true
        _ = uv_kill(-pid, SIGKILL)
    }

    // MARK: Events

    private func exited(status: Int64, signal: Int32) {
        exitStatus = signal != 0 ? -1 : Int32(truncatingIfNeeded: status)
        termSignal = signal
        timer.stop()
        if let process {
            self.process = nil
            closeLoopHandle(uvHandle(process))
        }
        if pipes.contains(where: { $0.isOpen }) {
            timer.start(afterMilliseconds: Self.outputGraceMilliseconds) { [unowned self] in
                for pipe in pipes { pipe.close() }
                reportIfDone()
            }
        }
        reportIfDone()
    }

    fileprivate func received(_ output: Output, line: String) {
        tail.append(line)
        onLine?(output, line)
    }

    fileprivate func pipeEnded() { reportIfDone() }

    private func reportIfDone() {
        guard !reported, exitStatus != nil, !pipes.contains(where: { $0.isOpen }) else { return }
        reported = true
        timer.close()
        let exit = Exit(status: exitStatus ?? -1, signal: termSignal, timedOut: timedOut, spawnFailure: spawnFailure?.message,
                        outputTail: tail.text, reason: reason())
        let report = onExit
        onExit = nil
        onLine = nil
        report?(exit)
    }

    private func reason() -> String {
        if let spawnFailure { return "cannot start \(argv[0]): \(spawnFailure.message)" }
        if timedOut, let ms = timeoutMilliseconds {
            return ms % 1000 == 0 ? "timed out after \(ms / 1000) s" : "timed out after \(ms) ms"
        }
        if termSignal != 0 { return "killed by signal \(termSignal)" }
        if let status = exitStatus, status != 0 { return "exited with status \(status)" }
        return ""
    }
}

extension ChildProcess: LoopHandleOwner {
    func handleDidClose() {}

    /// `EventLoop.shutdown()`: stop watching; the child keeps running, nothing is reported.
    func closeForShutdown() {
        reported = true
        timer.close()
        onExit = nil
        onLine = nil
        for pipe in pipes { pipe.close() }
        if let process {
            self.process = nil
            closeLoopHandle(uvHandle(process))
        }
    }
}

/// One output pipe of a child (its own libuv handle, so its own owner).
private final class ChildPipe {
    let handle: UnsafeMutablePointer<uv_pipe_t>
    let output: Output
    /// Strong until the pipe closes: the child's owner is the process handle, which may close first.
    private var child: ChildProcess?
    private var lines = LineSplitter(maxLineBytes: ChildProcess.maxLineBytes)
    private(set) var isOpen = true
    typealias Output = ChildProcess.Output

    init(handle: UnsafeMutablePointer<uv_pipe_t>, output: Output, child: ChildProcess) {
        self.handle = handle
        self.output = output
        self.child = child
        retainOwner(self, in: handle)
    }

    private var stream: UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutableRawPointer(handle).assumingMemoryBound(to: uv_stream_t.self)
    }

    func startReading() {
        let rc = uv_read_start(stream, { handle, _, buf in
            let loop = eventLoop(of: handle!.pointee.loop)
            buf!.pointee = uv_buf_init(loop.readBuffer, UInt32(EventLoop.readBufferSize))
        }, { stream, nread, buf in
            let owner = Unmanaged<ChildPipe>.fromOpaque(stream!.pointee.data!).takeUnretainedValue()
            owner.didRead(nread, buf?.pointee.base)
        })
        if rc < 0 { end() }
    }

    private func didRead(_ nread: Int, _ base: UnsafeMutablePointer<CChar>?) {
        guard isOpen else { return }
        if nread > 0 {
            let bytes = UnsafeRawBufferPointer(start: base, count: nread)
            lines.feed(bytes) { child?.received(output, line: $0) }
        } else if nread < 0 {
            end()  // EOF, or a read error: either way nothing more comes
        }
    }

    /// EOF: the last partial line, then closed.
    private func end() {
        guard isOpen else { return }
        let child = self.child
        close()
        child?.pipeEnded()
    }

    /// Closes the handle (the partial line, if any, is handed on first). Idempotent.
    func close() {
        guard isOpen else { return }
        isOpen = false
        lines.finish { child?.received(output, line: $0) }
        closeLoopHandle(uvHandle(handle))
    }
}

extension ChildPipe: LoopHandleOwner {
    func handleDidClose() { child = nil }
    func closeForShutdown() {
        child = nil
        close()
    }
}
