internal import CLibUV
internal import Glibc

/// One-shot or repeating timer (uv_timer). **Loop-thread only (not Sendable).**
///
/// The handle is created on the first `start` (an unused timer costs nothing) and retains the
/// timer until `close()` (or `EventLoop.shutdown()`); a running timer keeps the loop alive.
public final class LoopTimer {
    /// Strong: the uv_loop_t must outlive the timer's handle, and `start` checks it is not shut down.
    private let eventLoop: EventLoop
    private var timer: UnsafeMutablePointer<uv_timer_t>?
    private var body: (() -> Void)?
    private var isClosed = false
    /// Set by a stream for its close deadline (`EventLoop.shutdown()` does not count it as left open).
    var isGracefulCloseDeadline = false

    public init(loop: EventLoop) {
        self.eventLoop = loop
    }

    /// (Re)starts the timer, replacing the body. `repeatEveryMilliseconds` 0 = one-shot.
    /// Ignored after `close()` or after the loop was shut down.
    public func start(afterMilliseconds: UInt64, repeatEveryMilliseconds: UInt64 = 0, _ body: @escaping () -> Void) {
        guard !isClosed, !eventLoop.isShutDown else { return }
        let timer: UnsafeMutablePointer<uv_timer_t>
        if let existing = self.timer {
            timer = existing
        } else {
            timer = allocateUV(uv_timer_t.self)
            uv_timer_init(eventLoop.loop, timer)          // cannot fail on Unix
            retainOwner(self, in: timer)
            self.timer = timer
        }
        self.body = body
        uv_timer_start(timer, { timer in
            let owner = Unmanaged<LoopTimer>.fromOpaque(timer!.pointee.data!).takeUnretainedValue()
            owner.body?()
        }, afterMilliseconds, repeatEveryMilliseconds)
    }

    /// Stops the timer; it can be started again.
    public func stop() {
        guard !isClosed, let timer else { return }
        uv_timer_stop(timer)
    }

    /// Stops the timer and releases its handle. The timer cannot be used afterwards.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        if let timer { closeLoopHandle(uvHandle(timer)) } else { body = nil }
    }
}

extension LoopTimer: LoopHandleOwner {
    func handleDidClose() {
        timer = nil
        body = nil
    }

    func closeForShutdown() { close() }
    var isClosingGracefully: Bool { isGracefulCloseDeadline }
}
