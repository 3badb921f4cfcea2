import FleetProtocol
import FleetRuntime

/// The stream type the link works on. The TLS branch turns `StreamHandler`'s parameter into
/// `any ByteStream` (with `TCPStream: ByteStream`); on that merge this becomes
/// `typealias LinkStream = any ByteStream` and nothing else changes.
public typealias LinkStream = any ByteStream

/// One agent connection: framing, the handshake phase, the writer (PROTOCOL.md §8) and the
/// per-connection interest sequencing. What frames *mean* is the ``Fabric``'s business.
///
/// **Loop-thread only, no locks.** Every method runs on the coordinator's single loop thread,
/// which owns every gateway connection and all fabric state.
final class GatewayConnection: StreamHandler {
    enum Phase: Equatable {
        /// Accepted; nothing but HELLO is accepted, nothing but one ERROR is written.
        case awaitingHello
        case established
        /// An ERROR was sent or the peer went away: nothing more is read or routed.
        case closing
    }

    unowned let fabric: Fabric
    let stream: LinkStream
    let serial: UInt64
    private(set) var phase = Phase.awaitingHello
    /// Set by a successful HELLO.
    private(set) var gatewayId: String?
    /// Largest frame the agent accepts (its HELLO).
    private(set) var peerMaximumFrameSize = FleetLimits.maximumHelloFrameSize
    /// Set when a newer session of the same gateway replaced this one (the gateway stays up).
    var replaced = false

    private var decoder = FleetFrameDecoder(maximumFrameSize: FleetLimits.maximumHelloFrameSize)
    /// Reassembles frames split across reads (the same `PacketAssembler` as the agent's streams);
    /// holds bytes only while a frame is partial (reads use the loop's shared buffer).
    private var assembler = PacketAssembler()
    private var writer = FrameWriterQueue()
    /// Origins not being read until this destination drains (GatewayConnection+Backpressure).
    var heldOrigins: [GatewayConnection] = []
    /// How many destinations hold this origin; it is read again at 0 (PausableSource).
    var holdCount = 0
    var isThrottled = false
    var queuedBulkFrames: Int { writer.queuedBulkFrames }

    /// Loop clock (ms).
    let connectedAtMs: UInt64
    var lastReceivedMs: UInt64
    var lastHeartbeatSentMs: UInt64
    var heartbeatSequence: UInt64 = 0
    var closeDeadlineMs: UInt64 = .max

    /// Filter bytes per REMOTE_INTEREST frame: the protocol's 64 KiB cut, or less if the agent
    /// announced a small maximum frame (header + the fixed fields stay below 64 bytes).
    var remoteInterestFilterBytes: Int { min(FleetLimits.snapshotPartBytes, peerMaximumFrameSize - 64) }

    var interest: InterestSequencer
    /// The agent's DURABLE_INTEREST stream (its own epochs, the same rules).
    var durableInterest: InterestSequencer
    /// Holds a HELLO whose host must wait (Fabric+HelloAdmission); closed with the connection.
    var helloTimer: LoopTimer?
    var remoteInterest = RemoteInterestSender()

    init(fabric: Fabric, stream: LinkStream, serial: UInt64, now: UInt64) {
        self.fabric = fabric
        self.stream = stream
        self.serial = serial
        connectedAtMs = now
        interest = InterestSequencer(maxFilters: fabric.config.maxInterestFilters)
        durableInterest = InterestSequencer(maxFilters: fabric.config.maxInterestFilters)
        lastReceivedMs = now
        lastHeartbeatSentMs = now
    }

    /// Starts reading; the writer resumes bulk whenever the socket drains.
    func start() {
        stream.handler = self
        stream.onDrained = { [unowned self] in self.pump() }
        stream.startReading()
    }

    var bulkDropped: UInt64 { writer.bulkDropped }
    var unsentBytes: Int { stream.pendingWriteBytes }

    // MARK: - Reading

    func streamReceived(_ stream: LinkStream, _ bytes: UnsafeRawBufferPointer) {
        guard phase != .closing else { return }
        lastReceivedMs = fabric.loop.now
        // The size is read from `self.decoder` each time: HELLO raises its limit for the frames
        // that follow in the same read.
        assembler.feed(bytes, size: { [unowned self] in decoder.frameSize($0) }) { handleFrame($0) }
        if phase == .closing { assembler.reset() }
    }

    /// Decodes and dispatches one whole frame. A decode error is answered with ERROR (the codec's
    /// code) and the connection closes; nothing of the bad frame is applied. Returns whether more
    /// frames may be handled.
    private func handleFrame(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard phase != .closing else { return false }
        do throws(FleetFrameError) {
            guard let (frame, consumed) = try decoder.decode(bytes), consumed == bytes.count else {
                throw FleetFrameError.malformed("frame length disagrees with its contents")
            }
            fabric.received(frame, raw: bytes, on: self)
        } catch {
            let kind = bytes.count >= 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : 0
            fabric.counters.malformedFrames += 1
            fail(error.errorCode, related: kind == 0 ? nil : FleetFrameKind(kind), "\(error)")
        }
        return phase != .closing
    }

    func streamClosed(_ stream: LinkStream, error: RuntimeError?) {
        let wasEstablished = phase == .established
        phase = .closing
        assembler.reset()
        helloTimer?.close()
        helloTimer = nil
        fabric.connectionClosed(self, wasEstablished: wasEstablished, error: error)
    }

    // MARK: - Phases

    /// HELLO accepted: the coordinator's own frame limit applies from now on.
    func establish(gatewayId: String, peerMaximumFrameSize: Int, maximumFrameSize: Int) {
        self.gatewayId = gatewayId
        self.peerMaximumFrameSize = peerMaximumFrameSize
        decoder.maximumFrameSize = maximumFrameSize
        phase = .established
    }

    // MARK: - Writing

    /// Queues a frame by its class (control or bulk) and writes what the rule allows now.
    @discardableResult
    func send(_ frame: FleetFrame) -> FrameWriterQueue.Enqueued {
        sendEncoded(FleetFrameEncoder.encode(frame), bulk: frame.isBulk, kind: frame.kind)
    }

    /// An already encoded frame (a relayed FORWARD is passed on as the bytes it arrived as).
    @discardableResult
    func sendEncoded(_ bytes: [UInt8], bulk: Bool, kind: FleetFrameKind) -> FrameWriterQueue.Enqueued {
        guard phase == .established else { return .queued }
        let result = writer.enqueue(bytes, bulk: bulk, unsentBytes: stream.pendingWriteBytes)
        switch result {
        case .queued:
            fabric.counters.countOut(kind)
            pump()
        case .bulkFull:
            break
        case .overloaded:
            fail(.overloaded, related: nil, "control frames are not being read (more than \(writer.maxUnsentControlBytes) bytes unsent)")
        }
        return result
    }

    /// Control first, then bulk one frame at a time while below the watermark.
    private func pump() {
        guard phase == .established else { return }
        while let frame = writer.next(unsentBytes: stream.pendingWriteBytes) { stream.write(frame) }
        releaseHeldOrigins()
    }

    /// Sends ERROR and closes: queued control frames still go out, bulk is discarded (§8.6). The
    /// fabric forgets the session at once. Before HELLO_ACK this ERROR is the only frame written.
    func fail(_ code: FleetErrorCode, related: FleetFrameKind?, _ message: String) {
        guard phase != .closing else { return }
        writer.discardBulk()
        while let frame = writer.next(unsentBytes: .max) { stream.write(frame) }
        stream.write(FleetFrameEncoder.encode(.error(.init(code: code, relatedKind: related, message: message))))
        fabric.counters.countOut(.error)
        closeGracefully()
    }

    /// Closes without an ERROR (the peer sent a fatal one, or is gone).
    func closeGracefully() {
        guard phase != .closing else { return }
        let wasEstablished = phase == .established
        phase = .closing
        // Not the assembler: this may run inside its feed (streamReceived resets it after).
        closeDeadlineMs = fabric.loop.now + CoordinatorLimits.closeGraceMs
        releaseHeldOrigins(force: true)
        stream.close()
        if wasEstablished { fabric.sessionEnded(self) }
    }

    /// A sweep found the close grace over: cut the connection.
    func closeNow() { stream.closeNow() }
}
