/// Request heads for the agent's metrics endpoint (issue #16, FleetObservability's
/// HTTPRequestHeadParser): what Prometheus sends, and the shapes it must refuse.
enum SeedHTTPHeads {
    static var all: [[UInt8]] {
        [
            "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9100\r\nUser-Agent: Prometheus/2.53.0\r\nAccept: text/plain;version=0.0.4\r\nAccept-Encoding: gzip\r\nX-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n",
            "HEAD /metrics?x=1 HTTP/1.0\n\n",
            "\r\nGET / HTTP/1.1\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n",
            "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            "GET /metrics HTTP/2.0\r\n\r\n",
            "GET  /metrics HTTP/1.1\r\n\r\n",
            "GET /metrics HTTP/1.1\r\n folded: value\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET /metrics HTTP/1.1\r\nX: \u{01}\r\n\r\n",
            "GET /" + String(repeating: "m", count: 600) + " HTTP/1.1\r\n\r\n",
        ].map { Array($0.utf8) }
    }
}
