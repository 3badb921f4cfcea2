internal import CLibUV
internal import Glibc

// Accepting when the process is out of descriptors (issue #10 §3.2).
//
// A listening socket with pending connections stays readable while accept() fails with EMFILE:
// level-triggered polling wakes the loop at once, again and again. libuv's own answer
// (`uv__emfile_trick` in src/unix/stream.c) closes a reserved descriptor, accepts and closes what
// is pending and reopens the reserve — but it keeps polling the listener, the reserve is one per
// loop and is lost for good when another thread takes the freed slot between close and reopen
// (the coordinator's HTTP threads do), and from then on `uv__server_io` calls the connection
// callback with EMFILE in a `while` loop that never returns: the loop thread spins at 100 % and no
// timer (heartbeats, gateway timeouts) runs again. So the listener is polled here instead, and on
// EMFILE/ENFILE it (1) spends its own reserve to accept and close what is queued, so those clients
// get a prompt close rather than a hang, and (2) stops polling for a back-off that grows from
// `initialBackoffMs` to `maxBackoffMs` and resets after the next successful accept.
extension TCPServer {
    /// First pause after a failed accept; doubled per consecutive failure.
    static let initialBackoffMs: UInt64 = 100
    /// Longest pause: a refused client waits at most this long (in the backlog) to learn it.
    static let maxBackoffMs: UInt64 = 1_000
    /// Accepts per readable wakeup before yielding to the rest of the loop turn.
    static let maxAcceptsPerWakeup = 128
    /// Pending connections accepted-and-closed per shedding episode (the backlog is 4096; what is
    /// left is shed after the next back-off).
    static let maxShedPerEpisode = 4_096
    /// `onAcceptError` is called at most this often while failures last (callers log it).
    static let acceptErrorReportIntervalMs: UInt64 = 10_000

    /// `/dev/null`, read-only, close-on-exec; -1 if even that cannot be opened now.
    static func openReserve() -> Int32 {
        open("/dev/null", O_RDONLY | O_CLOEXEC)
    }

    /// Out of descriptors: refuse what is queued using the reserve, then pause.
    func shed(_ code: Int32) {
        if reserveFD >= 0 {
            Glibc.close(reserveFD)
            reserveFD = -1
            var shedCount = 0
            while shedCount < Self.maxShedPerEpisode {
                let client = shim_accept_nonblocking(fd)
                if client < 0 {
                    if errno == EINTR || errno == ECONNABORTED { continue }
                    break
                }
                Glibc.close(client)
                shedCount += 1
            }
            refusedConnections &+= UInt64(shedCount)
            // Another thread may take the slot first; then the next episode only pauses.
            reserveFD = Self.openReserve()
        }
        pause(RuntimeError(call: "accept4", code: -code))
    }

    /// Stops polling the listener for the current back-off, then polls again.
    func pause(_ error: RuntimeError) {
        guard !isClosed else { return }
        acceptPauses &+= 1
        report(error)
        if !isPaused {
            isPaused = true
            uv_poll_stop(poll)
        }
        let timer = backoffTimer ?? LoopTimer(loop: eventLoop)
        backoffTimer = timer
        let delay = nextBackoffMs
        nextBackoffMs = min(nextBackoffMs * 2, Self.maxBackoffMs)
        timer.start(afterMilliseconds: delay) { [unowned self] in self.resume() }
    }

    private func resume() {
        guard !isClosed, isPaused else { return }
        isPaused = false
        if reserveFD < 0 { reserveFD = Self.openReserve() }
        startPolling()
    }

    /// Calls `onAcceptError`, at most once per `acceptErrorReportIntervalMs`.
    func report(_ error: RuntimeError) {
        let now = eventLoop.now
        if let last = lastErrorReportMs, now &- last < Self.acceptErrorReportIntervalMs { return }
        lastErrorReportMs = now
        onAcceptError?(error)
    }
}
