import FleetProtocol
import FleetRuntime

/// The stream the link works on (TCP or TLS).
public typealias LinkStream = any ByteStream

/// One agent connection at the coordinator: the handshake phase, the gateway's identity and
/// per-connection interest sequencing, heartbeats, backpressure towards origins. Framing, the
/// writer rule, pausing and closing with a reason are the shared link core (`FrameLink`, the same
/// as the agent's end); what frames *mean* is the ``Fabric``'s business.
///
/// **Loop-thread only, no locks.** Every method runs on the coordinator's single loop thread,
/// which owns every gateway connection and all fabric state.
final class GatewayConnection: FrameLinkOwner {
    enum Phase: Equatable {
        /// Accepted; nothing but HELLO is accepted, nothing but one ERROR is written.
        case awaitingHello
        case established
        /// An ERROR was sent or the peer went away: nothing more is read or routed.
        case closing
    }

    unowned let fabric: Fabric
    let link: FrameLink
    var stream: LinkStream { link.stream }
    let serial: UInt64
    private(set) var phase = Phase.awaitingHello
    /// Set by a successful HELLO.
    private(set) var gatewayId: String?
    /// Largest frame the agent accepts (its HELLO).
    var peerMaximumFrameSize: Int { link.peerMaximumFrameSize }
    /// Set when a newer session of the same gateway replaced this one (the gateway stays up).
    var replaced = false

    /// Origins not being read until this destination drains (GatewayConnection+Backpressure).
    var heldOrigins: [GatewayConnection] = []
    var queuedBulkFrames: Int { link.queuedBulkFrames }

    /// Loop clock (ms).
    let connectedAtMs: UInt64
    var lastReceivedMs: UInt64
    var lastHeartbeatSentMs: UInt64
    var heartbeatSequence: UInt64 = 0

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
        self.serial = serial
        link = FrameLink(stream: stream, loop: fabric.loop, maximumFrameSize: FleetLimits.maximumHelloFrameSize,
                         writer: FrameWriterQueue(lowWatermark: CoordinatorLimits.bulkLowWatermark,
                                                  maxBulkFrames: CoordinatorLimits.maxQueuedBulkFrames,
                                                  maxBulkBytes: CoordinatorLimits.maxQueuedBulkBytes,
                                                  maxUnsentControlBytes: CoordinatorLimits.maxUnsentControlBytes))
        link.closeGraceMs = CoordinatorLimits.closeGraceMs
        connectedAtMs = now
        interest = InterestSequencer(maxFilters: fabric.config.maxInterestFilters)
        durableInterest = InterestSequencer(maxFilters: fabric.config.maxInterestFilters)
        lastReceivedMs = now
        lastHeartbeatSentMs = now
    }

    /// Starts reading, with the handshake deadline (Protocol/agent-coordinator.md §7.2).
    func start() {
        link.owner = self
        // It was silent because we did not read it: a held origin is not timed out.
        link.onResume = { [unowned self] in lastReceivedMs = fabric.loop.now }
        link.onBytes = { [unowned self] in lastReceivedMs = fabric.loop.now }
        link.startDeadline(afterMs: CoordinatorLimits.handshakeTimeoutMs) { [unowned self] in
            fail(.handshakeTimeout, related: nil, "no HELLO within \(CoordinatorLimits.handshakeTimeoutMs) ms")
        }
        link.start()
    }

    var bulkDropped: UInt64 { link.bulkDropped }
    var unsentBytes: Int { link.unsentBytes }

    // MARK: - FrameLinkOwner

    func frameLink(_ link: FrameLink, received frame: FleetFrame, raw: UnsafeRawBufferPointer) {
        guard phase != .closing else { return }
        fabric.received(frame, raw: raw, on: self)
    }

    func frameLink(_ link: FrameLink, malformed error: FleetFrameError, raw: UnsafeRawBufferPointer) {
        fabric.counters.malformedFrames += 1
        fabric.counters.countOut(.error)
        endSession()  // the link answers ERROR and closes
    }

    func frameLinkDrained(_ link: FrameLink) {
        guard phase == .established else { return }
        releaseHeldOrigins()
    }

    func frameLinkClosed(_ link: FrameLink, error: RuntimeError?) {
        let wasEstablished = phase == .established
        phase = .closing
        helloTimer?.close()
        helloTimer = nil
        fabric.connectionClosed(self, wasEstablished: wasEstablished, error: error)
    }

    // MARK: - Phases

    /// HELLO accepted: the coordinator's own frame limit applies from now on.
    func establish(gatewayId: String, peerMaximumFrameSize: Int, maximumFrameSize: Int) {
        self.gatewayId = gatewayId
        link.peerMaximumFrameSize = peerMaximumFrameSize
        link.maximumFrameSize = maximumFrameSize
        link.clearDeadline()
        phase = .established
    }

    // MARK: - Writing

    /// Queues a frame by its class (control or bulk) and writes what the rule allows now.
    @discardableResult
    func send(_ frame: FleetFrame) -> FrameWriterQueue.Enqueued {
        guard phase == .established else { return .queued }
        return counted(link.send(frame), frame.kind)
    }

    /// An already encoded frame (a relayed FORWARD is passed on as the bytes it arrived as).
    @discardableResult
    func sendEncoded(_ bytes: [UInt8], bulk: Bool, kind: FleetFrameKind) -> FrameWriterQueue.Enqueued {
        guard phase == .established else { return .queued }
        return counted(link.sendEncoded(bytes, bulk: bulk), kind)
    }

    private func counted(_ result: FrameWriterQueue.Enqueued, _ kind: FleetFrameKind) -> FrameWriterQueue.Enqueued {
        if result == .queued { fabric.counters.countOut(kind) }
        if result == .overloaded { fabric.counters.countOut(.error) }  // the link answered ERROR overloaded
        if link.isClosing { endSession() }
        return result
    }

    /// Sends ERROR and closes: queued control frames still go out, bulk is discarded (§8.6). The
    /// fabric forgets the session at once. Before HELLO_ACK this ERROR is the only frame written.
    func fail(_ code: FleetErrorCode, related: FleetFrameKind?, _ message: String) {
        guard phase != .closing else { return }
        fabric.counters.countOut(.error)
        link.fail(code, related: related, message)
        endSession()
    }

    /// Closes without an ERROR (the peer sent a fatal one, or is gone).
    func closeGracefully() {
        guard phase != .closing else { return }
        link.close()
        endSession()
    }

    /// The connection is closing: held origins are let go and the fabric forgets the session now
    /// (not when the stream finally closes).
    private func endSession() {
        guard phase != .closing else { return }
        let wasEstablished = phase == .established
        phase = .closing
        releaseHeldOrigins(force: true)
        if wasEstablished { fabric.sessionEnded(self) }
    }

    /// Cuts the connection now (shutdown).
    func closeNow() { link.close(now: true) }
}
