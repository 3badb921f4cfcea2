import FleetRuntime
import Glibc
import Testing

/// The accept side of one loop per core: listeners on several loops share one port
/// (SO_REUSEPORT) and the kernel spreads connections across them.
@Suite("Listeners sharing a port")
struct SharedPortTests {
    /// A blocking IPv4 loopback connection; the kernel completes it into a listener's backlog
    /// whether or not anyone accepts yet.
    private func connectBlocking(port: UInt16) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        #expect(rc == 0, "connect: errno \(errno)")
        return fd
    }

    @Test("two loops' listeners bind one port with sharedPort, and both accept")
    func twoLoopsShareAPort() throws {
        let first = try EventLoop(), second = try EventLoop()
        final class Count { var value = 0 }
        let acceptedFirst = Count(), acceptedSecond = Count()
        let a = try TCPServer(loop: first, host: "127.0.0.1", port: 0, sharedPort: true) { stream in
            acceptedFirst.value += 1
            stream.closeNow()
        }
        let b = try TCPServer(loop: second, host: "127.0.0.1", port: a.localPort, sharedPort: true) { stream in
            acceptedSecond.value += 1
            stream.closeNow()
        }
        #expect(b.localPort == a.localPort)
        let clients = (0..<64).map { _ in connectBlocking(port: a.localPort) }
        defer { for fd in clients { close(fd) } }
        for _ in 0..<2_000 where acceptedFirst.value + acceptedSecond.value < clients.count {
            first.runOnce(nowait: true)
            second.runOnce(nowait: true)
            usleep(1_000)
        }
        #expect(acceptedFirst.value + acceptedSecond.value == clients.count)
        // The kernel hashes each connection's 4-tuple: 64 connections all on one listener would
        // mean the port is not shared (odds 2^-63 otherwise).
        #expect(acceptedFirst.value > 0 && acceptedSecond.value > 0, "\(acceptedFirst.value) / \(acceptedSecond.value)")
        a.close()
        b.close()
        turn(first, 3)
        turn(second, 3)
        #expect(first.shutdown() == 0)
        #expect(second.shutdown() == 0)
    }

    @Test("without sharedPort a second listener on a bound port is refused (EADDRINUSE)")
    func unsharedPortIsExclusive() throws {
        let loop = try EventLoop()
        let a = try TCPServer(loop: loop, host: "127.0.0.1", port: 0, sharedPort: true) { _ in }
        #expect(throws: RuntimeError.self) {
            _ = try TCPServer(loop: loop, host: "127.0.0.1", port: a.localPort) { _ in }
        }
        a.close()
        turn(loop, 3)
        #expect(loop.shutdown() == 0)
    }
}
