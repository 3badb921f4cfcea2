#if canImport(Glibc)
import Glibc
#endif

/// Errors from the socket layer; each names the call that failed.
struct SystemError: Error, CustomStringConvertible {
    let call: String
    let code: Int32
    /// Code 0: not an errno (TLS setup errors carry their reason in `call`).
    var description: String { code == 0 ? call : "\(call): \(String(cString: strerror(code))) (errno \(code))" }
}

/// An IPv4 loopback endpoint.
struct Endpoint: CustomStringConvertible {
    let host: String
    let port: UInt16

    /// Parses "127.x.y.z:port"; refuses anything outside 127.0.0.0/8.
    init(parsing text: String) throws(SystemError) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw SystemError(call: "parse endpoint \(text)", code: EINVAL)
        }
        let host = String(text[..<colon])
        guard host.hasPrefix("127.") else { throw SystemError(call: "loopback only (\(host))", code: EINVAL) }
        self.host = host
        self.port = port
    }

    init(host: String, port: UInt16) { self.host = host; self.port = port }

    var description: String { "\(host):\(port)" }

    func sockaddr(port override: UInt16? = nil) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = (override ?? port).bigEndian
        inet_pton(AF_INET, host, &addr.sin_addr)
        return addr
    }
}

/// Source address number `i` (0-based) of the 127.0.0.x pool: 127.0.0.1, .2, ...
func sourceAddress(_ i: Int) -> Endpoint { Endpoint(host: "127.0.0.\(1 + i % 250)", port: 0) }

/// <linux/in.h>, not exported by the Glibc module.
private let ipBindAddressNoPort: Int32 = 24

enum Socket {
    /// Creates a non-blocking TCP socket bound to `source` (port chosen at connect time) and
    /// starts connecting to `destination`. Returns the fd; the connection completes when writable.
    static func startConnect(to destination: Endpoint, from source: Endpoint?) throws(SystemError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SystemError(call: "socket", code: errno) }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if let source {
            // Defer the port choice to connect(), so ports are unique per 4-tuple, not per address.
            setsockopt(fd, Int32(IPPROTO_IP), ipBindAddressNoPort, &one, socklen_t(MemoryLayout<Int32>.size))
            var src = source.sockaddr()
            let rc = withUnsafePointer(to: &src) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if rc != 0 { let e = errno; close(fd); throw SystemError(call: "bind \(source.host)", code: e) }
        }
        var dst = destination.sockaddr()
        let rc = withUnsafePointer(to: &dst) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS { let e = errno; close(fd); throw SystemError(call: "connect \(destination)", code: e) }
        return fd
    }

    /// ACK what arrived right away instead of after the delayed-ACK timer (Linux resets this
    /// after a while, so it is set again after each read while connecting).
    @inline(__always)
    static func quickAck(_ fd: Int32) {
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_QUICKACK, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Pending socket error after a non-blocking connect (0 when connected).
    static func pendingError(_ fd: Int32) -> Int32 {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)
        return err
    }
}

/// Level-triggered epoll. Swift's Glibc module does not include <sys/epoll.h>, and this target
/// has no C module of its own (it imports only COpenSSL, for TLS), so the three calls are
/// resolved with dlsym as C function pointers and `struct epoll_event` is laid out by hand
/// (packed, 12 bytes, on x86_64; 16 elsewhere). The 64-bit user data is a connection index.
final class EventLoop {
    typealias Create1 = @convention(c) (Int32) -> Int32
    typealias Ctl = @convention(c) (Int32, Int32, Int32, UnsafeMutableRawPointer?) -> Int32
    typealias PWait2 = @convention(c) (Int32, UnsafeMutableRawPointer?, Int32, UnsafePointer<timespec>?, UnsafeRawPointer?) -> Int32

    static let inEvent: UInt32 = 0x001        // EPOLLIN
    static let outEvent: UInt32 = 0x004       // EPOLLOUT
    static let errEvent: UInt32 = 0x008       // EPOLLERR
    static let hupEvent: UInt32 = 0x010       // EPOLLHUP
    static let rdHupEvent: UInt32 = 0x2000    // EPOLLRDHUP
    static let readable = inEvent | rdHupEvent
    static let writable = outEvent
    private static let ctlAdd: Int32 = 1, ctlDel: Int32 = 2, ctlMod: Int32 = 3
    private static let cloexec: Int32 = 0x80000
    #if arch(x86_64)
    private static let eventSize = 12, dataOffset = 4
    #else
    private static let eventSize = 16, dataOffset = 8
    #endif

    let epfd: Int32
    private let ctl: Ctl
    private let pwait2: PWait2
    private let events: UnsafeMutableRawPointer
    private let capacity = 1024
    private let scratch: UnsafeMutableRawPointer

    init() throws(SystemError) {
        guard let handle = dlopen(nil, RTLD_NOW),
              let c1 = dlsym(handle, "epoll_create1"), let c2 = dlsym(handle, "epoll_ctl"),
              let c3 = dlsym(handle, "epoll_pwait2")
        else { throw SystemError(call: "dlsym epoll", code: ENOSYS) }
        let create1 = unsafeBitCast(c1, to: Create1.self)
        ctl = unsafeBitCast(c2, to: Ctl.self)
        pwait2 = unsafeBitCast(c3, to: PWait2.self)
        epfd = create1(Self.cloexec)
        guard epfd >= 0 else { throw SystemError(call: "epoll_create1", code: errno) }
        events = .allocate(byteCount: capacity * Self.eventSize, alignment: 8)
        scratch = .allocate(byteCount: 16, alignment: 8)
    }

    deinit {
        events.deallocate()
        scratch.deallocate()
        close(epfd)
    }

    private func control(_ op: Int32, _ fd: Int32, token: Int, events mask: UInt32) {
        scratch.storeBytes(of: mask, toByteOffset: 0, as: UInt32.self)
        scratch.storeBytes(of: UInt64(token), toByteOffset: Self.dataOffset, as: UInt64.self)
        _ = ctl(epfd, op, fd, scratch)
    }

    func add(_ fd: Int32, token: Int, events mask: UInt32) { control(Self.ctlAdd, fd, token: token, events: mask) }
    func modify(_ fd: Int32, token: Int, events mask: UInt32) { control(Self.ctlMod, fd, token: token, events: mask) }
    func remove(_ fd: Int32) { control(Self.ctlDel, fd, token: 0, events: 0) }

    /// Waits up to `timeoutNanos` (0 = poll; nanosecond resolution through epoll_pwait2) and
    /// calls `handle(token, events)` for each ready descriptor.
    @inline(__always)
    func poll(timeoutNanos: UInt64, _ handle: (Int, UInt32) -> Void) {
        var ts = timespec(tv_sec: Int(timeoutNanos / 1_000_000_000), tv_nsec: Int(timeoutNanos % 1_000_000_000))
        let n = pwait2(epfd, events, Int32(capacity), &ts, nil)
        if n <= 0 { return }
        for i in 0..<Int(n) {
            let e = events + i * Self.eventSize
            handle(Int(e.loadUnaligned(fromByteOffset: Self.dataOffset, as: UInt64.self)),
                   e.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        }
    }
}
