internal import CLibUV
internal import Glibc

/// Watches a POSIX signal on the loop (uv_signal). **Loop-thread only (not Sendable).**
///
/// The body runs on the loop thread (not in signal context). The watcher keeps the loop alive
/// until `close()`; closing the last watcher of a signal restores its default disposition.
/// libuv installs a process-wide handler: the signal must be unblocked in at least one thread
/// (a process-directed `kill` reaches any such thread; `raise` only the calling one). Swift
/// Testing's and Swift concurrency's worker threads block signals.
public final class SignalWatcher {
    private let handle: UnsafeMutablePointer<uv_signal_t>
    private var body: (() -> Void)?
    private var isClosed = false
    public let signal: Int32

    public init(loop: EventLoop, signal: Int32, _ body: @escaping () -> Void) throws(RuntimeError) {
        try loop.checkUsable("uv_signal_init")
        let handle = allocateUV(uv_signal_t.self)
        let initialised = uv_signal_init(loop.loop, handle)
        if initialised < 0 {
            free(handle)
            throw RuntimeError(call: "uv_signal_init", code: initialised)
        }
        let started = uv_signal_start(handle, { handle, _ in
            let owner = Unmanaged<SignalWatcher>.fromOpaque(handle!.pointee.data!).takeUnretainedValue()
            owner.body?()
        }, signal)
        if started < 0 {
            closeLoopHandle(uvHandle(handle))      // data is nil: only freed
            throw RuntimeError(call: "uv_signal_start", code: started)
        }
        self.handle = handle
        self.body = body
        self.signal = signal
        retainOwner(self, in: handle)
    }

    /// Stops watching and releases the handle.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        closeLoopHandle(uvHandle(handle))
    }
}

extension SignalWatcher: LoopHandleOwner {
    func handleDidClose() { body = nil }
    func closeForShutdown() { close() }
}
