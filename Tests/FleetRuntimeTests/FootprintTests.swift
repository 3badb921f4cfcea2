@testable import FleetRuntime
import Glibc
import Testing

@Suite("Idle footprint and use after shutdown")
struct FootprintTests {
    @Test("an idle stream holds only its uv_tcp_t and its object: no read buffer, no write queue")
    func idleStreamFootprint() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: true)
        let (client, recorder) = try connectClient(loop, to: server, accepted: accepted)
        client.write(pattern(5_000))
        #expect(spin(loop) { recorder.received.count == 5_000 })
        // After traffic the stream is idle again: the write queue is released.
        let stream = accepted.streams[0]
        #expect(stream.queue.bytes == nil)
        #expect(stream.queue.capacity == 0)
        #expect(stream.pendingWriteBytes == 0)
        // Handle + object; remoteAddress "127.0.0.1:NNNNN" is at most 15 bytes: a small string, no allocation.
        let bytes = stream.heapFootprintBytes
        #expect(bytes < 640, "idle stream holds \(bytes) heap bytes")
        print("idle stream heap footprint: \(bytes) bytes")
        client.close()
        server.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 })
        #expect(loop.shutdown() == 0)
    }

    @Test("after shutdown: constructors throw, timers and streams ignore calls")
    func useAfterShutdown() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (client, _) = try connectClient(loop, to: server, accepted: accepted)
        let timer = LoopTimer(loop: loop)
        #expect(loop.shutdown() == 3)
        #expect(client.isClosed)
        client.write([1, 2, 3])
        client.startReading()
        #expect(client.pendingWriteBytes == 0)
        timer.start(afterMilliseconds: 1) {}
        timer.close()
        server.close()
        #expect(throws: RuntimeError.self) { _ = try TCPServer(loop: loop, host: "127.0.0.1", port: 0) { _ in } }
        #expect(throws: RuntimeError.self) { _ = try LoopMailbox(loop: loop) }
        #expect(loop.aliveHandleCount == 0)
    }
}
