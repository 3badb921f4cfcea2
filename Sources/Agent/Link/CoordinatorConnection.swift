import FleetProtocol
import FleetRuntime

/// The byte stream the link runs on (TCP or TLS).
typealias LinkStream = any ByteStream

/// The agent's end of one connection to the coordinator: the shared link core (`FrameLink`:
/// framing, the writer rule, pause at a frame boundary, ERROR-then-close) plus what only the agent
/// does with it. Its bulk (FORWARD) frames wait in the link's own durable queues (the outbound
/// log, the QoS 0 queue) and are handed over one at a time while `canTakeBulk`; `frameLinkDrained`
/// asks the link for more. So at most the watermark plus one bulk frame sits in front of any
/// control frame (Protocol/agent-coordinator.md §8). Loop-thread only.
final class CoordinatorConnection: FrameLinkOwner {
    let core: FrameLink
    var stream: LinkStream { core.stream }
    private weak var link: CoordinatorLink?

    init(stream: LinkStream, link: CoordinatorLink, limits: LinkLimits) {
        self.link = link
        core = FrameLink(stream: stream, loop: link.loop, maximumFrameSize: limits.maximumFrameSize,
                         writer: FrameWriterQueue(lowWatermark: limits.bulkLowWatermark, maxUnsentControlBytes: limits.controlHighWatermark))
        // Backpressure (PausableSource, Broker+Backpressure.swift): a local subscriber that
        // forwarded messages congest pauses the link like a device publisher; the coordinator
        // then holds the origin and the origin's durable log keeps the backlog.
        core.onPause = { [weak link] in link?.metrics.pausedForSubscribers += 1 }
        core.owner = self
    }

    func start() { core.start() }

    /// The coordinator's maximum frame size (HELLO_ACK); we never send a larger frame.
    var peerMaximumFrameSize: Int {
        get { core.peerMaximumFrameSize }
        set { core.peerMaximumFrameSize = newValue }
    }
    var isThrottled: Bool { core.isThrottled }

    /// A control frame goes out now; one past the control bound means the coordinator stopped
    /// reading: ERROR overloaded and close (§8 rule 5).
    func sendControl(_ frame: FleetFrame) {
        if core.send(frame) == .overloaded {
            link?.log.warning("coordinator link: \(core.unsentBytes) bytes unsent, the coordinator is not reading; closing")
        }
    }

    /// Whether a bulk frame may be handed to the stream now (§8 rule 3).
    var canTakeBulk: Bool { core.canTakeBulk }

    /// Encodes a FORWARD; nil if it is larger than the coordinator accepts.
    func encodeBulk(_ frame: FleetFrame) -> [UInt8]? {
        let bytes = FleetFrameEncoder.encode(frame)
        return bytes.count <= core.peerMaximumFrameSize ? bytes : nil
    }

    func sendBulk(_ bytes: [UInt8]) { core.sendEncoded(bytes, bulk: true) }

    /// Sends ERROR and closes once it is written (§8 rule 6).
    func fail(_ code: FleetErrorCode, related: FleetFrameKind? = nil, _ message: String) {
        core.fail(code, related: related, message)
    }

    /// Closes without a word (the peer closed, a fatal ERROR arrived, shutdown).
    func close(now: Bool = false) { core.close(now: now) }

    // MARK: FrameLinkOwner

    /// Forwarded messages are delivered with this connection as the publisher to pause.
    func frameLink(_ link: FrameLink, received frame: FleetFrame, raw: UnsafeRawBufferPointer) {
        guard let owner = self.link else { return }
        let broker = owner.broker
        let previous = broker.currentPublisher
        broker.currentPublisher = core
        defer { broker.currentPublisher = previous }
        owner.received(frame, on: self)
    }

    func frameLink(_ link: FrameLink, malformed error: FleetFrameError, raw: UnsafeRawBufferPointer) {
        self.link?.log.warning("coordinator link: bad frame from the coordinator: \(error)")
    }

    func frameLinkDrained(_ link: FrameLink) { self.link?.pump() }

    func frameLinkClosed(_ link: FrameLink, error: RuntimeError?) {
        self.link?.connectionClosed(self, error: error)
    }
}
