import FleetCore
import FleetProtocol

/// What a ``FrameLink`` tells its owner (the agent's coordinator link, the coordinator's gateway
/// connection). Loop thread.
public protocol FrameLinkOwner: AnyObject {
    /// One whole, decoded frame; `raw` is the frame as it arrived (valid only during the call).
    func frameLink(_ link: FrameLink, received frame: FleetFrame, raw: UnsafeRawBufferPointer)
    /// A frame that does not decode (or whose length disagrees with its contents). The link then
    /// answers ERROR with the codec's code and closes; nothing of the frame is applied.
    func frameLink(_ link: FrameLink, malformed error: FleetFrameError, raw: UnsafeRawBufferPointer)
    /// The stream drained: bulk may be handed over again (the pull side of the writer rule).
    func frameLinkDrained(_ link: FrameLink)
    /// The stream closed, for whatever reason. Called once.
    func frameLinkClosed(_ link: FrameLink, error: RuntimeError?)
}

/// One agent-coordinator connection, either end (Protocol/agent-coordinator.md §3, §7, §8): the connection core
/// both sides share. Reassembly (`PacketAssembler`) and decoding under a frame-size limit that the
/// handshake raises; the writer rule (control first, bulk below the watermark, bounded queues,
/// `FrameWriterQueue`); pause at a frame boundary (`PausableSource`: frames already read wait in
/// the assembler and are decoded again from the loop, never from inside the callback that
/// released the hold); a deadline (handshake); and close with a reason: ERROR after the queued
/// control frames, bulk discarded, the stream half-closed, then cut after a grace period if the
/// peer does not close.
///
/// **Loop-thread only**, like the stream it owns.
public final class FrameLink: StreamHandler, PausableSource {
    public let stream: any ByteStream
    public weak var owner: FrameLinkOwner?
    private let loop: EventLoop
    private var decoder: FleetFrameDecoder
    private var assembler = PacketAssembler()
    private var writer: FrameWriterQueue
    /// After an ERROR or a close: nothing more is read, routed or queued.
    public private(set) var isClosing = false
    /// The peer's largest frame (its HELLO or HELLO_ACK); larger bulk frames are not sent.
    public var peerMaximumFrameSize = FleetLimits.maximumHelloFrameSize
    /// How long a closing connection may take to drain before it is cut.
    public var closeGraceMs: UInt64 = 2_000

    public var isThrottled = false
    public var holdCount = 0
    /// Called at the first hold and after the last release (metrics, liveness bookkeeping).
    public var onPause: (() -> Void)?
    public var onResume: (() -> Void)?
    /// Called on every read, before any frame of it is handled: any bytes count as liveness
    /// (a large frame arriving slowly is not silence).
    public var onBytes: (() -> Void)?

    private var resumeTimer: LoopTimer?
    private var deadlineTimer: LoopTimer?

    public init(stream: any ByteStream, loop: EventLoop, maximumFrameSize: Int, writer: FrameWriterQueue = FrameWriterQueue()) {
        self.stream = stream
        self.loop = loop
        self.decoder = FleetFrameDecoder(maximumFrameSize: maximumFrameSize)
        self.writer = writer
    }

    /// Takes the stream's events and starts reading.
    public func start() {
        stream.handler = self
        stream.onDrained = { [weak self] in self?.drained() }
        stream.startReading()
    }

    /// The handshake raised (or set) the largest frame we accept.
    public var maximumFrameSize: Int {
        get { decoder.maximumFrameSize }
        set { decoder.maximumFrameSize = newValue }
    }

    // MARK: Writing (Protocol/agent-coordinator.md §8)

    public var bulkDropped: UInt64 { writer.bulkDropped }
    public var queuedBulkFrames: Int { writer.queuedBulkFrames }
    public var unsentBytes: Int { stream.pendingWriteBytes }

    /// Queues a frame by its class and writes what the rule allows now. Control past the control
    /// bound means the peer stopped reading: ERROR overloaded and close (§8 rule 5).
    @discardableResult
    public func send(_ frame: FleetFrame) -> FrameWriterQueue.Enqueued {
        // Encoded into its own array: the writer queue keeps it (a reused scratch buffer would be
        // copied on the next write anyway).
        sendEncoded(FleetFrameEncoder.encode(frame), bulk: frame.isBulk)
    }

    /// An encoded frame (a relayed FORWARD goes on as the bytes it arrived as).
    @discardableResult
    public func sendEncoded(_ bytes: [UInt8], bulk: Bool) -> FrameWriterQueue.Enqueued {
        guard !isClosing else { return .queued }
        let result = writer.enqueue(bytes, bulk: bulk, unsentBytes: stream.pendingWriteBytes)
        switch result {
        case .queued: pump()
        case .bulkFull: break
        case .overloaded:
            fail(.overloaded, related: nil, "control frames are not being read (more than \(writer.maxUnsentControlBytes) bytes unsent)")
        }
        return result
    }

    /// Whether a bulk frame handed over now goes to the stream at once (the agent keeps its bulk
    /// in its outbound log and hands one over at a time).
    public var canTakeBulk: Bool { !isClosing && writer.takesBulkNow(unsentBytes: stream.pendingWriteBytes) }

    /// Control first, then bulk one frame at a time while below the watermark.
    private func pump() {
        while let frame = writer.next(unsentBytes: stream.pendingWriteBytes) { stream.write(frame) }
    }

    private func drained() {
        guard !isClosing else { return }
        pump()
        owner?.frameLinkDrained(self)
    }

    // MARK: Closing

    /// Sends ERROR and closes: queued control frames still go out, bulk is discarded (§8 rule 6).
    public func fail(_ code: FleetErrorCode, related: FleetFrameKind?, _ message: String) {
        guard !isClosing else { return }
        writer.discardBulk()
        while let frame = writer.next(unsentBytes: .max) { stream.write(frame) }
        stream.write(FleetFrameEncoder.encode(.error(FleetFrame.ErrorReport(code: code, relatedKind: related, message: message))))
        close()
    }

    /// Closes once what is written has gone out (cut after `closeGraceMs`), or at once.
    /// Safe inside the assembler's feed: nothing after the current frame is handled.
    public func close(now: Bool = false) {
        if now {
            isClosing = true
            stream.closeNow()
            return
        }
        guard !isClosing else { return }
        isClosing = true
        stream.close()
        startDeadline(afterMs: closeGraceMs) { [weak self] in self?.stream.closeNow() }
    }

    /// Runs `expired` after `ms` unless cleared (a handshake that must complete in time).
    public func startDeadline(afterMs ms: UInt64, _ expired: @escaping () -> Void) {
        let timer = deadlineTimer ?? LoopTimer(loop: loop)
        deadlineTimer = timer
        timer.start(afterMilliseconds: ms, expired)
    }

    public func clearDeadline() { deadlineTimer?.stop() }

    // MARK: Reading

    public func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        guard !isClosing else { return }
        onBytes?()
        // The size is read from `self.decoder` each time: a handshake raises the limit for the
        // frames that follow in the same read.
        assembler.feed(bytes, size: { [unowned self] in decoder.frameSize($0) }) { handle($0) }
        if isClosing { assembler.reset() }
    }

    /// Decodes and dispatches one whole frame. Returns whether more may be handled now: not once
    /// closing, nor while paused (the rest waits in the assembler).
    private func handle(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !isClosing, !isThrottled else { return false }
        do throws(FleetFrameError) {
            guard let (frame, consumed) = try decoder.decode(bytes), consumed == bytes.count else {
                throw FleetFrameError.malformed("frame length disagrees with its contents")
            }
            owner?.frameLink(self, received: frame, raw: bytes)
        } catch {
            owner?.frameLink(self, malformed: error, raw: bytes)
            let kind = bytes.count >= 2 ? UInt16(bytes[0]) << 8 | UInt16(bytes[1]) : 0
            fail(error.errorCode, related: kind == 0 ? nil : FleetFrameKind(kind), "\(error)")
        }
        return !isClosing && !isThrottled
    }

    public func pauseInput() {
        stream.stopReading()
        onPause?()
    }

    /// Frames read before the pause are decoded on the next loop turn, then reading resumes.
    public func resumeInput() {
        guard !isClosing else { return }
        let timer = resumeTimer ?? LoopTimer(loop: loop)
        resumeTimer = timer
        timer.start(afterMilliseconds: 0) { [weak self] in self?.continueAfterPause() }
    }

    private func continueAfterPause() {
        guard !isClosing, !isThrottled else { return }
        onResume?()
        assembler.resume(size: { [unowned self] in decoder.frameSize($0) }) { handle($0) }
        if isClosing { assembler.reset() }
        if !isThrottled && !isClosing { stream.startReading() }
    }

    public func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        isClosing = true
        assembler.reset()
        resumeTimer?.close()
        resumeTimer = nil
        deadlineTimer?.close()
        deadlineTimer = nil
        owner?.frameLinkClosed(self, error: error)
    }
}
