internal import CLibUV
internal import Glibc

/// One `runBlocking` call; retained in the uv_work_t's `data` from queueing to the after-callback.
/// The work closure runs on a libuv pool thread and writes `result`; libuv's queue hands the
/// request back to the loop thread (mutex + uv_async), which orders that write before the read.
private protocol BlockingJob: AnyObject {
    func runOnPool()
    func completeOnLoop()
}

private final class BlockingWork<T: Sendable>: BlockingJob {
    let work: @Sendable () -> T
    let completion: (T) -> Void
    var result: T?

    init(work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        self.work = work
        self.completion = completion
    }

    func runOnPool() { result = work() }

    func completeOnLoop() {
        // Never cancelled by FleetRuntime; if libuv cancelled it anyway, run the work here.
        completion(result ?? work())
    }
}

extension EventLoop {
    /// Runs `work` on libuv's thread pool (uv_queue_work; UV_THREADPOOL_SIZE threads, 4 by default)
    /// and `completion` with its result on the loop thread. A queued item keeps the loop alive;
    /// `shutdown()` lets it finish (its completion runs during shutdown) before closing handles.
    /// For blocking work such as password hashing at CONNECT. Ignored after `shutdown()`.
    public func runBlocking<T: Sendable>(_ work: @escaping @Sendable () -> T, completion: @escaping (T) -> Void) {
        guard !isShutDown else { return }
        let request = allocateUV(uv_work_t.self)
        let job: AnyObject = BlockingWork(work: work, completion: completion)
        request.pointee.data = Unmanaged.passRetained(job).toOpaque()
        let rc = uv_queue_work(loop, request, { request in
            let job = Unmanaged<AnyObject>.fromOpaque(request!.pointee.data!).takeUnretainedValue()
            (job as! BlockingJob).runOnPool()
        }, { request, _ in
            guard let request else { return }
            let job = Unmanaged<AnyObject>.fromOpaque(request.pointee.data!).takeRetainedValue()
            free(request)
            (job as! BlockingJob).completeOnLoop()
        })
        if rc < 0 {
            // Only for a NULL work callback (UV_EINVAL); not reachable here, but never leak.
            Unmanaged<AnyObject>.fromOpaque(request.pointee.data!).release()
            free(request)
        }
    }
}
