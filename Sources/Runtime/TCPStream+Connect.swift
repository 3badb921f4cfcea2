internal import CLibUV
internal import Glibc

/// Holds the completion of one uv_tcp_connect; retained in the request's `data`.
private final class ConnectCompletion {
    let body: (Result<TCPStream, RuntimeError>) -> Void
    init(_ body: @escaping (Result<TCPStream, RuntimeError>) -> Void) { self.body = body }
}

extension TCPStream {
    /// Connects to an IPv4/IPv6 literal. Errors known at once (bad address, socket setup) are
    /// thrown; the connect result comes later, on the loop, through `completion` (the stream has
    /// TCP_NODELAY set; a failed stream is already closed). Loop-thread only.
    public static func connect(loop: EventLoop, host: String, port: UInt16,
                               _ completion: @escaping (Result<TCPStream, RuntimeError>) -> Void) throws(RuntimeError) {
        try loop.checkUsable("uv_tcp_init")
        var address = try SocketAddress.parse(host: host, port: port)
        let tcp = allocateUV(uv_tcp_t.self)
        let initialised = uv_tcp_init(loop.loop, tcp)
        if initialised < 0 {
            free(tcp)
            throw RuntimeError(call: "uv_tcp_init", code: initialised)
        }
        let stream = TCPStream(tcp: tcp, remoteAddress: SocketAddress.describe(address))
        let request = allocateUV(uv_connect_t.self)
        request.pointee.data = Unmanaged.passRetained(ConnectCompletion(completion)).toOpaque()
        let rc = withUnsafeBytes(of: &address) { raw in
            uv_tcp_connect(request, tcp, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)) { request, status in
                guard let request else { return }
                let completion = Unmanaged<ConnectCompletion>.fromOpaque(request.pointee.data!).takeRetainedValue()
                // UV_ECANCELED (closed while connecting) also arrives before the close callback,
                // so the stream is still retained by its handle here.
                let stream = Unmanaged<TCPStream>.fromOpaque(request.pointee.handle!.pointee.data!).takeUnretainedValue()
                free(request)
                stream.didConnect(status, completion.body)
            }
        }
        if rc < 0 {
            Unmanaged<ConnectCompletion>.fromOpaque(request.pointee.data!).release()
            free(request)
            stream.closeNow()
            throw RuntimeError(call: "uv_tcp_connect", code: rc)
        }
    }

    private func didConnect(_ status: Int32, _ completion: (Result<TCPStream, RuntimeError>) -> Void) {
        if status < 0 {
            closeNow()
            completion(.failure(RuntimeError(call: "uv_tcp_connect", code: status)))
            return
        }
        if state == .closed {
            completion(.failure(RuntimeError(call: "uv_tcp_connect", code: UV_ECANCELED.rawValue)))
            return
        }
        uv_tcp_nodelay(tcp, 1)
        completion(.success(self))
    }
}
