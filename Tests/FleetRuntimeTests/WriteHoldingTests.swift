import FleetRuntime
import Glibc
import Testing

/// The loop holds small writes back while it is saturated (EventLoop.flushDirtyStreams): a relay
/// like a broker's fan-out, one publisher stream whose every read writes a few bytes to each of
/// several receiver streams, all on one loop and real loopback sockets.
@Suite("Write holding under saturated input")
struct WriteHoldingTests {
    /// Writes `bytesPerRead` to every receiver for each read of the publisher's stream, and a
    /// 4-byte acknowledgement back to the publisher (as a broker answers QoS 1 with PUBACK).
    final class Relay: StreamHandler {
        var receivers: [TCPStream] = []
        var reads = 0
        let bytesPerRead: Int
        init(bytesPerRead: Int) { self.bytesPerRead = bytesPerRead }
        func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
            reads += 1
            for r in receivers { r.write(pattern(bytesPerRead, seed: reads)) }
            stream.write([0xAC, 0xAC, 0xAC, 0xAC])
        }
        func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {}
    }

    struct Fleet {
        let loop: EventLoop
        let server: TCPServer
        let publisher: TCPStream
        let relay: Relay
        let publisherRecorder: Recorder
        let receiverRecorders: [Recorder]
        let clients: [TCPStream]
    }

    /// A publisher client and `receivers` receiver clients; the server side of the publisher relays.
    func makeFleet(receivers: Int) throws -> Fleet {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (publisher, publisherRecorder) = try connectClient(loop, to: server, accepted: accepted)
        let relay = Relay(bytesPerRead: 8)
        accepted.streams[0].handler = relay
        var recorders: [Recorder] = [], clients = [publisher]
        for _ in 0..<receivers {
            let (client, recorder) = try connectClient(loop, to: server, accepted: accepted)
            recorders.append(recorder)
            clients.append(client)
        }
        relay.receivers = Array(accepted.streams[1...])
        return Fleet(loop: loop, server: server, publisher: publisher, relay: relay,
                     publisherRecorder: publisherRecorder, receiverRecorders: recorders, clients: clients)
    }

    func tearDown(_ f: Fleet) {
        for c in f.clients { c.close() }
        f.server.close()
        spin(f.loop) { f.loop.aliveHandleCount == 0 }
        #expect(f.loop.shutdown() == 0)
    }

    @Test("saturated input holds small writes at most 3 turns in a row; a turn without input flushes them")
    func saturatedHoldsBounded() throws {
        let f = try makeFleet(receivers: 4)
        var heldPerTurn: [UInt64] = []
        for turnIndex in 0..<16 {
            f.publisher.write(pattern(32 * 1024, seed: turnIndex))   // well above the 16 KiB mark
            let before = f.loop.statistics.heldFlushes
            turn(f.loop)
            heldPerTurn.append(f.loop.statistics.heldFlushes - before)
        }
        // Holding happened, for every receiver at once, but never for the publisher's stream,
        // which read in that turn: its acknowledgements go out at once (4, never 5).
        #expect(heldPerTurn.contains(4), "held per turn: \(heldPerTurn)")
        #expect(heldPerTurn.allSatisfy { $0 <= 4 }, "held per turn: \(heldPerTurn)")
        // ...but never more than maxHeldIterations turns in a row.
        var run = 0, longest = 0
        for h in heldPerTurn {
            run = h > 0 ? run + 1 : 0
            longest = max(longest, run)
        }
        #expect(longest <= 3, "held per turn: \(heldPerTurn)")
        // Input stops: everything relayed arrives, and the quiet turns hold nothing.
        let expected = f.relay.reads * 8
        #expect(spin(f.loop) { f.receiverRecorders.allSatisfy { $0.received.count >= expected } })
        let heldAfterInput = f.loop.statistics.heldFlushes
        turn(f.loop, 3)
        #expect(f.loop.statistics.heldFlushes == heldAfterInput)
        for r in f.receiverRecorders { #expect(r.received.count == expected) }
        #expect(spin(f.loop) { f.publisherRecorder.received.count >= f.relay.reads * 4 })
        tearDown(f)
    }

    @Test("light input never holds: each relayed write goes out in the next flush")
    func lightInputNeverHolds() throws {
        let f = try makeFleet(receivers: 4)
        let heldBefore = f.loop.statistics.heldFlushes
        for turnIndex in 0..<16 {
            f.publisher.write(pattern(100, seed: turnIndex))
            let reads = f.relay.reads
            #expect(spin(f.loop) { f.relay.reads > reads })
            let expected = f.relay.reads * 8
            // Delivered without waiting for more input.
            #expect(spin(f.loop) { f.receiverRecorders.allSatisfy { $0.received.count >= expected } })
        }
        #expect(f.loop.statistics.heldFlushes == heldBefore)
        tearDown(f)
    }
}
