import FleetRuntime
import Glibc
import Testing

/// Issue #10 §4.7: a stream closed while its peer is still writing must not end in RST, which
/// makes the peer's kernel drop what we wrote last (the reason it was dropped).
@Suite struct GracefulCloseTests {
    @Test("close() while the peer is still writing: the peer reads every byte we wrote, then EOF, no reset")
    func peerStillWritingReadsOurLastBytes() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (client, clientRecorder) = try connectClient(loop, to: server, accepted: accepted)
        let serverSide = accepted.streams[0]
        // The client floods the server; the server answers "bye" and closes with input unread.
        let flood = pattern(256 * 1024, seed: 3)
        client.write(flood)
        #expect(spin(loop) { accepted.recorders[0].received.count > 0 })
        serverSide.write(Array("bye".utf8))
        serverSide.close()
        for i in 0..<20 { client.write(pattern(16 * 1024, seed: i)) }  // keeps writing after the close
        #expect(spin(loop) { clientRecorder.received.count >= 3 })
        #expect(clientRecorder.received == Array("bye".utf8))
        // The server lingers for our EOF; once we close, both ends are done without an error.
        client.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 && clientRecorder.closedCount == 1 })
        #expect(clientRecorder.closeError == nil, "\(String(describing: clientRecorder.closeError))")
        #expect(accepted.recorders[0].closeError == nil)
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("a peer that never closes does not hold a closed stream beyond the linger bound")
    func lingerIsBounded() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (client, clientRecorder) = try connectClient(loop, to: server, accepted: accepted)
        accepted.streams[0].close()
        // The client reads the FIN (streamClosed) only if it closes itself; it does not, so the
        // server side must end on its own within closeLingerMilliseconds (+ scheduling slack).
        client.stopReading()
        var start = timespec()
        clock_gettime(CLOCK_MONOTONIC, &start)
        #expect(spin(loop, maxTicks: 1_000) { accepted.recorders[0].closedCount == 1 })
        var end = timespec()
        clock_gettime(CLOCK_MONOTONIC, &end)
        let elapsedMs = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1_000_000
        #expect(elapsedMs >= Int(TCPStream.closeLingerMilliseconds) - 50)
        _ = clientRecorder
        client.closeNow()
        server.close()
        #expect(loop.shutdown() == 0)
    }
}
