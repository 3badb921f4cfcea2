import FleetProtocol
import Testing
@testable import FleetRuntime

/// The link core both ends of the agent-coordinator connection share, on a loopback socket: frames
/// in order across reads, a pause that stops at a frame boundary and resumes from the loop, close
/// with a reason (control queued before the ERROR still goes out, bulk does not), a deadline.
@Suite(.serialized) struct FrameLinkTests {
    final class Owner: FrameLinkOwner {
        var frames: [FleetFrame] = []
        var malformed: [FleetFrameError] = []
        var drained = 0
        var closed = 0
        /// Called on each frame (to hold the link from inside a frame, as a congested subscriber does).
        var onFrame: ((FleetFrame) -> Void)?
        func frameLink(_ link: FrameLink, received frame: FleetFrame, raw: UnsafeRawBufferPointer) {
            frames.append(frame)
            onFrame?(frame)
        }
        func frameLink(_ link: FrameLink, malformed error: FleetFrameError, raw: UnsafeRawBufferPointer) { malformed.append(error) }
        func frameLinkDrained(_ link: FrameLink) { drained += 1 }
        func frameLinkClosed(_ link: FrameLink, error: RuntimeError?) { closed += 1 }
    }

    /// A FrameLink on the server side of a loopback connection, and the raw client stream.
    func pair(_ loop: EventLoop, writer: FrameWriterQueue = FrameWriterQueue()) throws -> (FrameLink, Owner, TCPStream, Recorder, TCPServer) {
        let (server, accepted) = try makeServer(loop, echo: false, read: false)
        let (client, recorder) = try connectClient(loop, to: server, accepted: accepted)
        let link = FrameLink(stream: accepted.streams[0], loop: loop, maximumFrameSize: 1 << 20, writer: writer)
        let owner = Owner()
        link.owner = owner
        link.start()
        return (link, owner, client, recorder, server)
    }

    static func heartbeats(_ range: ClosedRange<UInt64>) -> [UInt8] {
        range.flatMap { FleetFrameEncoder.encode(.heartbeat(.init(sequence: $0, timestampMs: 0))) }
    }

    @Test func framesSplitAcrossWritesArriveWholeAndInOrder() throws {
        let loop = try EventLoop()
        let (_, owner, client, _, server) = try pair(loop)
        defer { server.close() }
        let bytes = Self.heartbeats(1...20)
        for chunk in stride(from: 0, to: bytes.count, by: 7) { client.write(Array(bytes[chunk..<min(chunk + 7, bytes.count)])); turn(loop) }
        #expect(spin(loop) { owner.frames.count == 20 })
        #expect(owner.frames == (1...20).map { .heartbeat(.init(sequence: $0, timestampMs: 0)) })
    }

    @Test func aHoldStopsAtTheFrameBoundaryAndTheRestIsHandledAfterTheRelease() throws {
        let loop = try EventLoop()
        let (link, owner, client, _, server) = try pair(loop)
        defer { server.close() }
        owner.onFrame = { frame in if case .heartbeat(let h) = frame, h.sequence == 3 { link.hold() } }
        client.write(Self.heartbeats(1...10))
        #expect(spin(loop) { owner.frames.count == 3 })
        turn(loop, 20)
        #expect(owner.frames.count == 3)  // the rest waits in the assembler
        link.release()
        #expect(spin(loop) { owner.frames.count == 10 })
    }

    @Test func failSendsQueuedControlThenTheErrorAndNoBulk() throws {
        let loop = try EventLoop()
        // Watermark 0: bulk stays queued, so the close has some to discard.
        let (link, _, _, recorder, server) = try pair(loop, writer: FrameWriterQueue(lowWatermark: 0))
        defer { server.close() }
        link.send(.forward(.init(originGatewayId: "o", sequence: 1, topic: "t", qos: .atLeastOnce, payload: [1])))
        link.send(.heartbeat(.init(sequence: 1, timestampMs: 0)))
        link.fail(.overloaded, related: nil, "test")
        link.sendEncoded(FleetFrameEncoder.encode(.heartbeat(.init(sequence: 2, timestampMs: 0))), bulk: false)  // ignored: closing
        #expect(spin(loop) { recorder.closedCount == 1 })
        let decoder = FleetFrameDecoder()
        var rest = recorder.received
        var kinds: [FleetFrameKind] = []
        while let (frame, used) = try decoder.decode(rest) { kinds.append(frame.kind); rest.removeFirst(used) }
        #expect(kinds == [.heartbeat, .error])
    }

    @Test func aMalformedFrameIsReportedAnsweredAndCloses() throws {
        let loop = try EventLoop()
        let (_, owner, client, recorder, server) = try pair(loop)
        defer { server.close() }
        client.write([0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0xFF])  // HEARTBEAT with a 1-byte body
        #expect(spin(loop) { owner.malformed.count == 1 && recorder.closedCount == 1 })
        let decoded = try FleetFrameDecoder().decode(recorder.received)
        if case .error(let e)? = decoded?.frame { #expect(e.code == .malformedFrame) } else { Issue.record("no ERROR: \(String(describing: decoded))") }
        #expect(owner.frames.isEmpty)
    }

    @Test func theDeadlineFiresUnlessCleared() throws {
        let loop = try EventLoop()
        let (link, _, _, _, server) = try pair(loop)
        defer { server.close() }
        final class Flag { var fired = 0 }
        let flag = Flag()
        link.startDeadline(afterMs: 20) { flag.fired += 1 }
        #expect(spin(loop) { flag.fired == 1 })
        link.startDeadline(afterMs: 20) { flag.fired += 1 }
        link.clearDeadline()
        turn(loop, 10)
        #expect(!spin(loop, maxTicks: 60) { flag.fired == 2 })
    }
}
