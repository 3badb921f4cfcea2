import Testing
@testable import FleetRuntime

/// `SocketAddress.describe` formats IPv4 itself; the text is what `uv_ip4_name` gave.
@Suite struct SocketAddressTests {
    @Test func ipv4IsDottedDecimalAndPort() throws {
        for (host, port) in [("0.0.0.0", 0), ("127.0.0.1", 1883), ("127.0.0.8", 54321), ("10.1.20.255", 8),
                             ("255.255.255.255", 65535), ("192.168.100.9", 10), ("1.23.100.200", 999)] as [(String, UInt16)] {
            let storage = try SocketAddress.parse(host: host, port: port)
            #expect(SocketAddress.describe(storage) == "\(host):\(port)")
        }
    }

    @Test func ipv6IsBracketed() throws {
        #expect(SocketAddress.describe(try SocketAddress.parse(host: "::1", port: 5555)) == "[::1]:5555")
    }
}
