internal import CLibUV
internal import Glibc

/// One socket curl asked the loop to watch: a `uv_poll_t` on curl's descriptor. Loop-thread only.
///
/// curl owns the descriptor (it opens and closes it); the poll handle only watches it. curl says
/// CURL_POLL_REMOVE before it closes a socket, and the handle is closed then: `uv_close` drops the
/// descriptor from epoll at once, so a new socket that gets the same number can be watched by a
/// new handle while the old one waits for its close callback.
final class CurlSocket {
    let fd: Int32
    private let poll: UnsafeMutablePointer<uv_poll_t>
    weak var client: HTTPClient?
    private var events: Int32 = 0
    private var isClosed = false

    /// nil if libuv cannot watch the descriptor.
    init?(client: HTTPClient, fd: Int32) {
        let poll = allocateUV(uv_poll_t.self)
        let rc = uv_poll_init_socket(client.eventLoop.loop, poll, fd)
        if rc < 0 {
            free(poll)
            return nil
        }
        self.fd = fd
        self.poll = poll
        self.client = client
        retainOwner(self, in: poll)
    }

    /// Watches for `events` (UV_READABLE | UV_WRITABLE), replacing what was watched.
    func watch(_ events: Int32) {
        guard !isClosed else { return }
        self.events = events
        rewatch()
    }

    /// Starts the poll again with the last events (libuv stops a poll that reported an error).
    func rewatch() {
        guard !isClosed else { return }
        uv_poll_start(poll, events) { poll, status, events in
            let owner = Unmanaged<CurlSocket>.fromOpaque(poll!.pointee.data!).takeUnretainedValue()
            owner.client?.socketReady(owner, status: status, events: events)
        }
    }

    /// Stops watching and releases the handle; the descriptor stays curl's.
    func close() {
        guard !isClosed else { return }
        isClosed = true
        closeLoopHandle(uvHandle(poll))
    }
}

extension CurlSocket: LoopHandleOwner {
    func handleDidClose() {}

    /// `EventLoop.shutdown()` closes the whole client: curl must not keep a socket the loop no
    /// longer watches.
    func closeForShutdown() {
        client?.close()
        close()
    }
}
