internal import CLibUV
internal import Glibc

/// A listening TCP socket. **Loop-thread only (not Sendable).**
///
/// Every accepted connection gets TCP_NODELAY and is handed to `onAccept` as a ``TCPStream``
/// that is not reading yet: set `handler`, then `startReading()`. A stream `onAccept` ignores stays
/// open (retained by its handle) until closed or until `EventLoop.shutdown()`. Closing the server
/// does not close accepted streams.
///
/// Accepting runs here, not in libuv's `uv_listen` (TCPServer+Shedding.swift says why): the
/// listening socket is watched with a `uv_poll_t`, so that when the process is out of descriptors
/// (EMFILE/ENFILE) the listener can be *paused* for a back-off instead of being retried on every
/// loop turn.
public final class TCPServer {
    let poll: UnsafeMutablePointer<uv_poll_t>
    let eventLoop: EventLoop
    /// The listening socket; closed after the poll handle's close callback.
    let fd: Int32
    var onAccept: ((TCPStream) -> Void)?
    var isClosed = false
    /// The port actually bound (the OS's choice for port 0).
    public let localPort: UInt16
    /// "127.0.0.1:40123" / "[::1]:40123".
    public let localAddress: String
    /// Called when accepting fails (EMFILE, ENFILE, ...). Rate-limited: at most once per
    /// ``acceptErrorReportIntervalMs`` while the failures last, with ``refusedConnections`` and
    /// ``acceptPauses`` telling how many. The listener keeps running (after a back-off).
    public var onAcceptError: ((RuntimeError) -> Void)?

    // Shedding state (TCPServer+Shedding.swift).
    /// A descriptor held in reserve (`/dev/null`): closed to make room for one accept when the
    /// table is full, so pending connections can be accepted and closed instead of left hanging.
    var reserveFD: Int32 = -1
    var backoffTimer: LoopTimer?
    var nextBackoffMs = TCPServer.initialBackoffMs
    var isPaused = false
    var lastErrorReportMs: UInt64?
    /// Connections accepted only to be closed at once because the process was out of descriptors.
    public internal(set) var refusedConnections: UInt64 = 0
    /// Times accepting was paused for a back-off (descriptor table full or another accept error).
    public internal(set) var acceptPauses: UInt64 = 0

    /// host: IPv4 or IPv6 literal ("127.0.0.1", "::1", "0.0.0.0"); port 0 = OS picks.
    /// SO_REUSEADDR (as libuv sets on every TCP bind on Unix); backlog default 4096.
    ///
    /// `sharedPort`: SO_REUSEPORT, so one listener per loop can bind the same address and the
    /// kernel spreads new connections across them (by a hash of the peer's address and port, not
    /// by load) — the accept side of one loop per core. Every listener of the group must set it;
    /// with port 0 the first picks the port and the others bind its `localPort`. Closing one
    /// listener resets the connections still waiting in its own backlog.
    public init(loop: EventLoop, host: String, port: UInt16, backlog: Int32 = 4096, sharedPort: Bool = false,
                onAccept: @escaping (TCPStream) -> Void) throws(RuntimeError) {
        try loop.checkUsable("uv_poll_init_socket")
        var address = try SocketAddress.parse(host: host, port: port)
        let fd = try Self.listeningSocket(&address, backlog: backlog, sharedPort: sharedPort)
        let bound: sockaddr_storage
        do throws(RuntimeError) {
            bound = try SocketAddress.ofSocket(fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        let poll = allocateUV(uv_poll_t.self)
        let initialised = uv_poll_init_socket(loop.loop, poll, fd)
        if initialised < 0 {
            free(poll)
            Glibc.close(fd)
            throw RuntimeError(call: "uv_poll_init_socket", code: initialised)
        }
        self.poll = poll
        self.fd = fd
        self.eventLoop = loop
        self.onAccept = onAccept
        self.localPort = SocketAddress.port(bound)
        self.localAddress = SocketAddress.describe(bound)
        self.reserveFD = Self.openReserve()
        retainOwner(self, in: poll)
        startPolling()
    }

    /// Stops listening and closes the socket. Accepted streams are not affected.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        backoffTimer?.close()
        backoffTimer = nil
        closeLoopHandle(uvHandle(poll))
    }

    /// socket + SO_REUSEADDR (+ SO_REUSEPORT) + bind + listen, non-blocking and close-on-exec.
    private static func listeningSocket(_ address: inout sockaddr_storage, backlog: Int32,
                                        sharedPort: Bool) throws(RuntimeError) -> Int32 {
        let family = Int32(address.ss_family)
        let fd = socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        if fd < 0 { throw RuntimeError(call: "socket", code: -errno) }
        var on: Int32 = 1
        let length = socklen_t(family == AF_INET6 ? MemoryLayout<sockaddr_in6>.size : MemoryLayout<sockaddr_in>.size)
        if setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size)) != 0
            || (sharedPort && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, socklen_t(MemoryLayout<Int32>.size)) != 0) {
            let code = errno
            Glibc.close(fd)
            throw RuntimeError(call: "setsockopt", code: -code)
        }
        let boundRC = withUnsafeBytes(of: &address) { raw in
            bind(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
        if boundRC != 0 {
            let code = errno
            Glibc.close(fd)
            throw RuntimeError(call: "bind", code: -code)
        }
        if listen(fd, backlog) != 0 {
            let code = errno
            Glibc.close(fd)
            throw RuntimeError(call: "listen", code: -code)
        }
        return fd
    }

    func startPolling() {
        uv_poll_start(poll, Int32(UV_READABLE.rawValue)) { poll, status, _ in
            let owner = Unmanaged<TCPServer>.fromOpaque(poll!.pointee.data!).takeUnretainedValue()
            owner.readable(status)
        }
    }

    /// The listening socket is readable: accept what is pending (bounded per wakeup, so one busy
    /// listener cannot starve the rest of the loop turn).
    private func readable(_ status: Int32) {
        guard !isClosed else { return }
        if status < 0 {
            pause(RuntimeError(call: "uv_poll", code: status))
            return
        }
        for _ in 0..<Self.maxAcceptsPerWakeup {
            let client = shim_accept_nonblocking(fd)
            if client >= 0 {
                nextBackoffMs = Self.initialBackoffMs
                adopt(client)
                if isClosed { return }
                continue
            }
            let code = errno
            switch code {
            case EAGAIN, EWOULDBLOCK: return
            // The peer gave up while queued, or a signal: nothing wrong with the listener.
            case EINTR, ECONNABORTED, EPROTO: continue
            case EMFILE, ENFILE: shed(code)
            default: pause(RuntimeError(call: "accept4", code: -code))
            }
            return
        }
    }

    /// Wraps an accepted descriptor in a stream and hands it on.
    private func adopt(_ client: Int32) {
        let tcp = allocateUV(uv_tcp_t.self)
        uv_tcp_init(eventLoop.loop, tcp)              // AF_UNSPEC: creates no socket, cannot fail
        let opened = uv_tcp_open(tcp, uv_os_sock_t(client))
        if opened < 0 {
            Glibc.close(client)
            closeLoopHandle(uvHandle(tcp))
            report(RuntimeError(call: "uv_tcp_open", code: opened))
            return
        }
        uv_tcp_nodelay(tcp, 1)
        let remote = (try? SocketAddress.of(tcp, peer: true)).map(SocketAddress.describe) ?? "?"
        onAccept?(TCPStream(tcp: tcp, remoteAddress: remote))
    }
}

extension TCPServer: LoopHandleOwner {
    func handleDidClose() {
        Glibc.close(fd)
        if reserveFD >= 0 { Glibc.close(reserveFD) }
        reserveFD = -1
        onAccept = nil
        onAcceptError = nil
    }

    func closeForShutdown() { close() }
}
