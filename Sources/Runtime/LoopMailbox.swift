internal import CLibUV
internal import Glibc
internal import Synchronization

/// Thread-safe way to run a closure on the loop thread (uv_async + Mutex queue). Sendable.
///
/// `post` may be called from any thread; closures run on the loop thread in post order, batched
/// per wake-up. Create and `close()` it on the loop thread. An open mailbox keeps the loop alive.
/// Posts after `close()` are dropped.
public final class LoopMailbox: Sendable {
    private struct State: ~Copyable {
        var jobs: [@Sendable () -> Void] = []
        var isClosed = false
    }

    private let state = Mutex(State())
    /// Invariant: dereferenced by `post` only while holding `state` with `isClosed == false`
    /// (uv_async_send is thread-safe); `close()` sets `isClosed` under the lock before uv_close,
    /// so the handle is never touched after it is freed. Everything else is loop-thread only.
    nonisolated(unsafe) private let handle: UnsafeMutablePointer<uv_async_t>

    /// Created on the loop thread.
    public init(loop: EventLoop) throws(RuntimeError) {
        try loop.checkUsable("uv_async_init")
        let handle = allocateUV(uv_async_t.self)
        let rc = uv_async_init(loop.loop, handle) { handle in
            let owner = Unmanaged<LoopMailbox>.fromOpaque(handle!.pointee.data!).takeUnretainedValue()
            owner.drain()
        }
        if rc < 0 {
            free(handle)
            throw RuntimeError(call: "uv_async_init", code: rc)
        }
        self.handle = handle
        retainOwner(self, in: handle)
    }

    /// Any thread. Queues `body` and wakes the loop.
    public func post(_ body: @escaping @Sendable () -> Void) {
        state.withLock { state in
            guard !state.isClosed else { return }
            state.jobs.append(body)
            uv_async_send(handle)
        }
    }

    /// Loop thread. Drops jobs not run yet and releases the handle.
    public func close() {
        let wasClosed = state.withLock { state in
            let was = state.isClosed
            state.isClosed = true
            state.jobs.removeAll()
            return was
        }
        if !wasClosed { closeLoopHandle(uvHandle(handle)) }
    }

    /// Loop thread: runs the queued jobs (those posted while running wait for the next wake-up).
    private func drain() {
        let jobs = state.withLock { state in
            let jobs = state.jobs
            state.jobs = []
            return jobs
        }
        for job in jobs { job() }
    }
}

extension LoopMailbox: LoopHandleOwner {
    func handleDidClose() {}
    func closeForShutdown() { close() }
}
