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
        ].map { Array($0.utf8) }
    }
}
