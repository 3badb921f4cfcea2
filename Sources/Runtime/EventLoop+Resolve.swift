internal import CLibUV
internal import Glibc

/// Host name resolution without blocking the loop (issue #10 §4.8): libuv's `uv_getaddrinfo`
/// runs getaddrinfo(3) on libuv's thread pool and completes on the loop thread. A plain
/// getaddrinfo on the loop thread stalls every connection, timer and heartbeat of the loop for as
/// long as DNS takes (seconds per retry with an unreachable server).
extension EventLoop {
    /// Resolves `host` to its numeric addresses ("127.0.0.1", "::1"), in getaddrinfo's order,
    /// for TCP. An IPv4/IPv6 literal is returned as is without a lookup. `completion` runs on the
    /// loop thread, always later (never inside this call); a name that does not resolve gives a
    /// `RuntimeError` naming `uv_getaddrinfo` (e.g. EAI_NONAME). Pending lookups are cancelled by
    /// `shutdown()` and their completions dropped. **Loop-thread only.**
    public func resolve(host: String, completion: @escaping (Result<[String], RuntimeError>) -> Void) {
        guard !isShutDown else { return }
        if (try? SocketAddress.parse(host: host, port: 0)) != nil {
            runSoon { completion(.success([host])) }
            return
        }
        let request = allocateUV(uv_getaddrinfo_t.self)
        let pending = PendingResolution(completion)
        request.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        let rc = uv_getaddrinfo(loop, request, { request, status, result in
            guard let request else { return }
            let pending = Unmanaged<PendingResolution>.fromOpaque(request.pointee.data!).takeRetainedValue()
            let owner = eventLoop(of: request.pointee.loop)
            owner.resolutions.remove(UnsafeMutableRawPointer(request))
            free(request)
            defer { if let result { uv_freeaddrinfo(result) } }
            if status == UV_EAI_CANCELED.rawValue || owner.resolutionsCancelled { return }   // shutdown() dropped it
            if status < 0 {
                pending.completion(.failure(RuntimeError(call: "uv_getaddrinfo", code: status)))
                return
            }
            let addresses = numericAddresses(result)
            if addresses.isEmpty {
                pending.completion(.failure(RuntimeError(call: "uv_getaddrinfo", code: UV_EAI_NODATA.rawValue)))
            } else {
                pending.completion(.success(addresses))
            }
        }, host, nil, &hints)
        if rc < 0 {
            Unmanaged<PendingResolution>.fromOpaque(request.pointee.data!).release()
            free(request)
            let error = RuntimeError(call: "uv_getaddrinfo", code: rc)
            runSoon { completion(.failure(error)) }
            return
        }
        resolutions.insert(UnsafeMutableRawPointer(request))
    }

    /// Asks libuv to cancel every lookup still queued (one already running finishes, and its
    /// completion is dropped).
    func cancelResolutions() {
        resolutionsCancelled = true
        for request in resolutions {
            uv_cancel(request.assumingMemoryBound(to: uv_req_t.self))
        }
    }
}

/// The completion of one lookup, retained in the request's `data` until its callback.
final class PendingResolution {
    let completion: (Result<[String], RuntimeError>) -> Void
    init(_ completion: @escaping (Result<[String], RuntimeError>) -> Void) { self.completion = completion }
}

/// The numeric host of every IPv4/IPv6 entry of an addrinfo list, without duplicates.
private func numericAddresses(_ list: UnsafeMutablePointer<addrinfo>?) -> [String] {
    var addresses: [String] = []
    var entry = list
    while let e = entry {
        if let sa = e.pointee.ai_addr {
            var name = [CChar](repeating: 0, count: 64)
            var text: String?
            switch e.pointee.ai_family {
            case AF_INET:
                sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { _ = uv_ip4_name($0, &name, name.count) }
                text = SocketAddress.string(name)
            case AF_INET6:
                sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { _ = uv_ip6_name($0, &name, name.count) }
                text = SocketAddress.string(name)
            default:
                break
            }
            if let text, !text.isEmpty, !addresses.contains(text) { addresses.append(text) }
        }
        entry = e.pointee.ai_next
    }
    return addresses
}
