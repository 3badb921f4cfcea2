internal import CLibUV
internal import Glibc

/// A listening TCP socket. **Loop-thread only (not Sendable).**
///
/// Every accepted connection gets TCP_NODELAY and is handed to `onAccept` as a ``TCPStream``
/// that is not reading yet: set `handler`, then `startReading()`. A stream `onAccept` ignores stays
/// open (retained by its handle) until closed or until `EventLoop.shutdown()`. Closing the server
/// does not close accepted streams.
public final class TCPServer {
    let tcp: UnsafeMutablePointer<uv_tcp_t>
    private var onAccept: ((TCPStream) -> Void)?
    private var isClosed = false
    /// The port actually bound (the OS's choice for port 0).
    public let localPort: UInt16
    /// "127.0.0.1:40123" / "[::1]:40123".
    public let localAddress: String
    /// Called for a failed accept (e.g. EMFILE); the listener keeps running.
    public var onAcceptError: ((RuntimeError) -> Void)?

    /// host: IPv4 or IPv6 literal ("127.0.0.1", "::1", "0.0.0.0"); port 0 = OS picks.
    /// SO_REUSEADDR (libuv sets it on every TCP bind on Unix); backlog default 4096.
    public init(loop: EventLoop, host: String, port: UInt16, backlog: Int32 = 4096,
                onAccept: @escaping (TCPStream) -> Void) throws(RuntimeError) {
        try loop.checkUsable("uv_tcp_init")
        var address = try SocketAddress.parse(host: host, port: port)
        let tcp = allocateUV(uv_tcp_t.self)
        let initialised = uv_tcp_init(loop.loop, tcp)
        if initialised < 0 {
            free(tcp)
            throw RuntimeError(call: "uv_tcp_init", code: initialised)
        }
        // From here the handle is linked into the loop: a failure closes it (data is still nil,
        // so the close callback only frees it).
        let bound: sockaddr_storage
        do throws(RuntimeError) {
            try uvCheck("uv_tcp_bind", withUnsafeBytes(of: &address) { raw in
                uv_tcp_bind(tcp, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), 0)
            })
            // libuv defers EADDRINUSE from bind(2) to uv_listen, so listen before reading the name.
            try uvCheck("uv_listen", uv_listen(uvStream(tcp), backlog) { server, status in
                let owner = Unmanaged<TCPServer>.fromOpaque(server!.pointee.data!).takeUnretainedValue()
                owner.accept(status)
            })
            bound = try SocketAddress.of(tcp, peer: false)
        } catch {
            closeLoopHandle(uvHandle(tcp))
            throw error
        }
        self.tcp = tcp
        self.onAccept = onAccept
        self.localPort = SocketAddress.port(bound)
        self.localAddress = SocketAddress.describe(bound)
        // No callback can run before the loop runs again, so setting data after uv_listen is safe.
        retainOwner(self, in: tcp)
    }

    /// Stops listening and closes the socket. Accepted streams are not affected.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        closeLoopHandle(uvHandle(tcp))
    }

    private func accept(_ status: Int32) {
        guard !isClosed else { return }
        if status < 0 {
            onAcceptError?(RuntimeError(call: "uv_listen", code: status))
            return
        }
        let client = allocateUV(uv_tcp_t.self)
        let initialised = uv_tcp_init(tcp.pointee.loop, client)
        if initialised < 0 {
            free(client)
            onAcceptError?(RuntimeError(call: "uv_tcp_init", code: initialised))
            return
        }
        let accepted = uv_accept(uvStream(tcp), uvStream(client))
        if accepted < 0 {
            closeLoopHandle(uvHandle(client))
            onAcceptError?(RuntimeError(call: "uv_accept", code: accepted))
            return
        }
        uv_tcp_nodelay(client, 1)
        let remote = (try? SocketAddress.of(client, peer: true)).map(SocketAddress.describe) ?? "?"
        let stream = TCPStream(tcp: client, remoteAddress: remote)
        onAccept?(stream)
    }
}

extension TCPServer: LoopHandleOwner {
    func handleDidClose() {
        onAccept = nil
        onAcceptError = nil
    }

    func closeForShutdown() { close() }
}
