/// Managed-socket handshake lines (issue #14, FleetCore's SocketHandshake): accepted ones with
/// data behind them, and the refusals' shapes.
enum SeedSocketLines {
    static var all: [[UInt8]] {
        [
            "OPEN meter\n",
            "OPEN meter.v2 client=dev-7 password=s3cr=t\r\nHELLO",
            "  OPEN   a_b-c   password=p   client=c  \n\u{01}\u{02}",
            "OPEN meter client=a client=b\n",
            "OPEN meter user=x\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "OPEN bad/name\n",
            "OPEN meter\rX\n",
            "OPEN " + String(repeating: "m", count: 1_100),
            // Peering (issue #15): a requested id, a gateway-shaped one (refused), the agents' PEER line.
            "OPEN bridge client=d1 id=meter-bridge\nxyz",
            "OPEN bridge id=gw-1-7\n",
            "PEER gw-2-3 000102030405060708090a0b0c0d0e0f\n\u{00}\u{FF}",
            "PEER gw-2-3 0001\n",
        ].map { Array($0.utf8) }
    }
}
