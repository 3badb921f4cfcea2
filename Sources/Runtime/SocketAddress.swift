internal import CLibUV
internal import Glibc

/// IPv4/IPv6 literal + port <-> `sockaddr_storage`, and the "host:port" / "[v6]:port" spelling.
enum SocketAddress {
    /// Parses an IPv4 or IPv6 literal (a ':' means IPv6). No name resolution.
    static func parse(host: String, port: UInt16) throws(RuntimeError) -> sockaddr_storage {
        var storage = sockaddr_storage()
        let rc: Int32
        if host.contains(":") {
            rc = withUnsafeMutableBytes(of: &storage) { raw in
                uv_ip6_addr(host, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self))
            }
            try uvCheck("uv_ip6_addr", rc)
        } else {
            rc = withUnsafeMutableBytes(of: &storage) { raw in
                uv_ip4_addr(host, Int32(port), raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self))
            }
            try uvCheck("uv_ip4_addr", rc)
        }
        return storage
    }

    /// "127.0.0.1:5555" or "[::1]:5555"; "?" for an address family other than IPv4/IPv6.
    static func describe(_ storage: sockaddr_storage) -> String {
        var storage = storage
        return withUnsafeMutableBytes(of: &storage) { raw -> String in
            switch Int32(raw.load(as: sockaddr.self).sa_family) {
            case AF_INET:
                let sin = raw.load(as: sockaddr_in.self)
                return describeIPv4(sin.sin_addr, port: UInt16(bigEndian: sin.sin_port))
            case AF_INET6:
                let sin6 = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                var name = [CChar](repeating: 0, count: 64)
                uv_ip6_name(sin6, &name, name.count)
                return "[\(string(name))]:\(UInt16(bigEndian: sin6.pointee.sin6_port))"
            default:
                return "?"
            }
        }
    }

    /// "a.b.c.d:port", the same text `uv_ip4_name` and the interpolation gave, formatted in place:
    /// that path (snprintf, three arrays) was ~3,400 instructions per accepted connection (callgrind).
    static func describeIPv4(_ address: in_addr, port: UInt16) -> String {
        withUnsafeBytes(of: address) { octets in                  // network order: a, b, c, d
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { text in
                var n = 0
                func decimal(_ value: Int) {
                    var divisor = 1
                    while divisor * 10 <= value { divisor *= 10 }
                    while divisor > 0 {
                        text[n] = UInt8(truncatingIfNeeded: 48 + value / divisor % 10)
                        n += 1
                        divisor /= 10
                    }
                }
                for i in 0..<4 {
                    if i > 0 { text[n] = UInt8(ascii: "."); n += 1 }
                    decimal(Int(octets[i]))
                }
                text[n] = UInt8(ascii: ":"); n += 1
                decimal(Int(port))
                return String(decoding: UnsafeBufferPointer(rebasing: text[..<n]), as: UTF8.self)
            }
        }
    }

    /// The NUL-terminated text in a C buffer.
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The port of an IPv4/IPv6 address, 0 otherwise.
    static func port(_ storage: sockaddr_storage) -> UInt16 {
        var storage = storage
        return withUnsafeMutableBytes(of: &storage) { raw -> UInt16 in
            switch Int32(raw.load(as: sockaddr.self).sa_family) {
            case AF_INET: return UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
            case AF_INET6: return UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
            default: return 0
            }
        }
    }

    /// `uv_tcp_getsockname` / `uv_tcp_getpeername` into a `sockaddr_storage`.
    static func of(_ tcp: UnsafeMutablePointer<uv_tcp_t>, peer: Bool) throws(RuntimeError) -> sockaddr_storage {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutableBytes(of: &storage) { raw in
            let sa = raw.baseAddress!.assumingMemoryBound(to: sockaddr.self)
            return peer ? uv_tcp_getpeername(tcp, sa, &length) : uv_tcp_getsockname(tcp, sa, &length)
        }
        try uvCheck(peer ? "uv_tcp_getpeername" : "uv_tcp_getsockname", rc)
        return storage
    }

    /// `getsockname` of a plain socket descriptor into a `sockaddr_storage`.
    static func ofSocket(_ fd: Int32) throws(RuntimeError) -> sockaddr_storage {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutableBytes(of: &storage) { raw in
            getsockname(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), &length)
        }
        if rc != 0 { throw RuntimeError(call: "getsockname", code: -errno) }
        return storage
    }
}
