import FleetRuntime
import Glibc
import Testing

/// Issue #10 §3.5: the loop holds the bytes of a turn whose data is being committed off the loop
/// thread, and only those (EventLoop.gateWrittenStreams / releaseGates).
@Suite struct DurabilityGateTests {
    private func settle(_ loop: EventLoop) { _ = spin(loop, maxTicks: 5) { false } }

    @Test("gated bytes wait for their epoch, later bytes wait behind them, other streams flow")
    func gatesHoldInOrder() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (heldClient, held) = try connectClient(loop, to: server, accepted: accepted)
        let (freeClient, free) = try connectClient(loop, to: server, accepted: accepted)
        let gatedSide = accepted.streams[0], freeSide = accepted.streams[1]
        // A hook plays the agent's TurnCommitter for one turn: write, then gate epoch 1.
        final class Script { var step = 0 }
        let script = Script()
        loop.addBeforeSleepHook {
            switch script.step {
            case 1:
                gatedSide.write(Array("one".utf8))
                loop.gateWrittenStreams(epoch: 1)
                script.step = 2
            case 3:
                gatedSide.write(Array("two".utf8))
                loop.gateWrittenStreams(epoch: 2)
                script.step = 4
            case 5:
                gatedSide.write(Array("three".utf8))  // a turn with nothing to commit: not gated
                freeSide.write(Array("free".utf8))
                script.step = 6
            default: break
            }
        }
        script.step = 1
        settle(loop)
        script.step = 3
        settle(loop)
        script.step = 5
        settle(loop)
        #expect(free.received == Array("free".utf8))      // streams with nothing gated flow
        #expect(held.received.isEmpty)
        #expect(gatedSide.pendingWriteBytes == 11)
        loop.releaseGates(upTo: 1)
        #expect(spin(loop) { held.received.count >= 3 })
        settle(loop)
        #expect(held.received == Array("one".utf8))       // "two" waits for epoch 2, "three" behind it
        loop.releaseGates(upTo: 2)
        #expect(spin(loop) { held.received.count >= 11 })
        #expect(held.received == Array("onetwothree".utf8))
        #expect(loop.gatedStreamCount == 0)
        heldClient.close()
        freeClient.close()
        #expect(spin(loop) { accepted.recorders.allSatisfy { $0.closedCount == 1 } && held.closedCount == 1 && free.closedCount == 1 })
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("bytes already past their gate are not taken by the next gate")
    func releasedBytesAreNotGatedAgain() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (client, held) = try connectClient(loop, to: server, accepted: accepted)
        let side = accepted.streams[0]
        final class Script { var step = 0 }
        let script = Script()
        loop.addBeforeSleepHook {
            if script.step == 1 {
                side.write(Array("a".utf8))
                loop.gateWrittenStreams(epoch: 1)
                script.step = 2
            } else if script.step == 3 {
                // Released in this turn's callbacks; then new bytes, gated with epoch 2.
                loop.releaseGates(upTo: 1)
                side.write(Array("b".utf8))
                loop.gateWrittenStreams(epoch: 2)
                script.step = 4
            }
        }
        script.step = 1
        settle(loop)
        script.step = 3
        #expect(spin(loop) { held.received.count >= 1 })
        settle(loop)
        #expect(held.received == Array("a".utf8))
        loop.releaseGates(upTo: 2)
        #expect(spin(loop) { held.received.count >= 2 })
        #expect(held.received == Array("ab".utf8))
        client.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 && held.closedCount == 1 })
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("a stream closed while gated finishes its close once its bytes are released")
    func closeWaitsForTheGate() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (client, held) = try connectClient(loop, to: server, accepted: accepted)
        let side = accepted.streams[0]
        final class Script { var step = 0 }
        let script = Script()
        loop.addBeforeSleepHook {
            if script.step == 1 {
                side.write(Array("bye".utf8))
                side.close()
                loop.gateWrittenStreams(epoch: 1)
                script.step = 2
            }
        }
        script.step = 1
        settle(loop)
        #expect(held.received.isEmpty && held.closedCount == 0)
        loop.releaseGates(upTo: 1)
        #expect(spin(loop) { held.closedCount == 1 })
        #expect(held.received == Array("bye".utf8))
        client.close()
        #expect(spin(loop) { accepted.recorders[0].closedCount == 1 })
        server.close()
        #expect(loop.shutdown() == 0)
    }

    @Test("only streams written while handling a durable change are gated")
    func onlyMarkedStreamsAreGated() throws {
        let loop = try EventLoop()
        let (server, accepted) = try makeServer(loop, echo: false)
        let (aClient, a) = try connectClient(loop, to: server, accepted: accepted)
        let (bClient, b) = try connectClient(loop, to: server, accepted: accepted)
        let (cClient, c) = try connectClient(loop, to: server, accepted: accepted)
        let aSide = accepted.streams[0], bSide = accepted.streams[1], cSide = accepted.streams[2]
        final class Script { var step = 0 }
        let script = Script()
        loop.addBeforeSleepHook {
            guard script.step == 1 else { return }
            script.step = 2
            bSide.write(Array("b".utf8))                  // a packet that changed nothing durable
            let before = loop.writeSequence
            aSide.write(Array("a".utf8))                  // one that did: it wrote to a and c
            cSide.write(Array("c".utf8))
            loop.markWritten(since: before)
            bSide.write(Array("2".utf8))   // an untracked write after: not marked
            loop.gateWrittenStreams(epoch: 1, onlyMarked: true)
        }
        script.step = 1
        #expect(spin(loop) { b.received.count >= 2 })
        _ = spin(loop, maxTicks: 5) { false }
        #expect(b.received == Array("b2".utf8))
        #expect(a.received.isEmpty && c.received.isEmpty)
        loop.releaseGates(upTo: 1)
        #expect(spin(loop) { a.received.count == 1 && c.received.count == 1 })
        for client in [aClient, bClient, cClient] { client.close() }
        #expect(spin(loop) { accepted.recorders.allSatisfy { $0.closedCount == 1 } && [a, b, c].allSatisfy { $0.closedCount == 1 } })
        server.close()
        #expect(loop.shutdown() == 0)
    }
}
