import FleetProtocol
import FleetRuntime

/// The byte stream the link runs on. The TLS branch turns `StreamHandler`'s parameter into
/// `any ByteStream`; this alias is then the one word to change.
typealias LinkStream = any ByteStream

/// One connection to the coordinator: frames in (decoded, handed to the link in arrival order)
/// and the sending half of the writer rule (docs/PROTOCOL.md §8).
///
/// The writer's two queues: control frames go to the stream at once — the stream's own queue,
/// flushed by the loop after the before-sleep hooks, is the control queue, so control never waits
/// behind bulk held in user space. Bulk (FORWARD) frames stay in the link's queues (the outbound
/// log and the QoS 0 queue) and are handed over one at a time, only while the stream holds less
/// than the low watermark; `onDrained` asks the link for more. So at most the watermark plus one
/// bulk frame sits in front of any control frame. Loop-thread only.
final class CoordinatorConnection: StreamHandler {
    let stream: LinkStream
    private weak var link: CoordinatorLink?
    private let limits: LinkLimits
    private let decoder: FleetFrameDecoder
    /// Reassembles frames split across reads (the same `PacketAssembler` as device connections);
    /// holds bytes only while a frame is partial or reading is paused.
    private var assembler = PacketAssembler()
    /// Set once the connection is being torn down: nothing more is read or written.
    private(set) var isFailed = false
    /// The coordinator's maximum frame size (HELLO_ACK); we never send a larger frame.
    var peerMaximumFrameSize = FleetLimits.maximumHelloFrameSize
    private var scratch: [UInt8] = []

    // Backpressure (PausableSource, Broker+Backpressure.swift): a local subscriber that forwarded
    // messages congest pauses the link like a device publisher; the coordinator then holds the
    // origin and the origin's durable log keeps the backlog, instead of the subscriber's queue
    // overflowing and dropping. Frames already read stay in the assembler while paused.
    var isThrottled = false
    var holdCount = 0
    /// Resumes decoding of what the assembler holds on the next loop turn (see `resumeInput`).
    private var resumeTimer: LoopTimer?

    init(stream: LinkStream, link: CoordinatorLink, limits: LinkLimits) {
        self.stream = stream
        self.link = link
        self.limits = limits
        self.decoder = FleetFrameDecoder(maximumFrameSize: limits.maximumFrameSize)
        stream.onDrained = { [weak self] in self?.drained() }
    }

    // MARK: Writing

    /// Writes a control frame now (ignores the bulk watermark). A peer that lets control pile up
    /// past `controlHighWatermark` has stopped reading: ERROR overloaded and close (§8 rule 5).
    func sendControl(_ frame: FleetFrame) {
        guard !isFailed else { return }
        scratch.removeAll(keepingCapacity: true)
        FleetFrameEncoder.encode(frame, into: &scratch)
        stream.write(scratch)
        if stream.pendingWriteBytes > limits.controlHighWatermark {
            isFailed = true
            link?.log.warning("coordinator link: \(stream.pendingWriteBytes) bytes unsent, the coordinator is not reading; closing")
            stream.closeNow()
        }
    }

    /// Whether a bulk frame may be handed to the stream now (§8 rule 3).
    var canTakeBulk: Bool { !isFailed && stream.pendingWriteBytes < limits.bulkLowWatermark }

    /// Encodes a FORWARD; nil if it is larger than the coordinator accepts.
    func encodeBulk(_ frame: FleetFrame) -> [UInt8]? {
        let bytes = FleetFrameEncoder.encode(frame)
        return bytes.count <= peerMaximumFrameSize ? bytes : nil
    }

    func sendBulk(_ bytes: [UInt8]) {
        guard !isFailed else { return }
        stream.write(bytes)
    }

    /// Sends ERROR and closes once it is written (§8 rule 6: control flushed, bulk not pumped).
    func fail(_ code: FleetErrorCode, related: FleetFrameKind? = nil, _ message: String) {
        guard !isFailed else { return }
        sendControl(.error(FleetFrame.ErrorReport(code: code, relatedKind: related, message: message)))
        isFailed = true
        stream.close()
    }

    /// Closes without a word (the peer closed, a fatal ERROR arrived, shutdown).
    func close(now: Bool = false) {
        isFailed = true
        if now { stream.closeNow() } else { stream.close() }
    }

    private func drained() {
        guard !isFailed else { return }
        link?.pump()
    }

    // MARK: Reading

    func streamReceived(_ stream: LinkStream, _ bytes: UnsafeRawBufferPointer) {
        guard !isFailed else { return }
        asPublisher { assembler.feed(bytes, size: decoder.frameSize) { handleFrame($0) } }
        if isFailed { assembler.reset() }
    }

    /// Forwarded messages are delivered with this link as the source to pause (restored after: a
    /// resume runs from a timer, but keep whoever was current).
    private func asPublisher(_ body: () -> Void) {
        let broker = link?.broker
        let previous = broker?.currentPublisher
        broker?.currentPublisher = self
        defer { broker?.currentPublisher = previous }
        body()
    }

    /// Decodes and dispatches one whole frame (or raises the error of a bad header). Returns
    /// whether more may be handled now: not once failed, nor while paused (the rest waits in the
    /// assembler).
    private func handleFrame(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard !isFailed, !isThrottled else { return false }
        do throws(FleetFrameError) {
            guard let (frame, consumed) = try decoder.decode(bytes), consumed == bytes.count else {
                throw FleetFrameError.malformed("frame length disagrees with its contents")
            }
            link?.received(frame, on: self)
        } catch {
            link?.log.warning("coordinator link: bad frame from the coordinator: \(error)")
            fail(error.errorCode, "\(error)")
        }
        return !isFailed && !isThrottled
    }

    /// Frames read before a pause: decoded again from the loop (a timer), never from inside the
    /// callback that relieved the subscriber, whose queue handling is still on the stack.
    private func continueAfterPause() {
        guard !isFailed, !isThrottled else { return }
        asPublisher { assembler.resume(size: decoder.frameSize) { handleFrame($0) } }
        if isFailed { assembler.reset() }
        if !isThrottled && !isFailed { stream.startReading() }
    }

    func streamClosed(_ stream: LinkStream, error: RuntimeError?) {
        isFailed = true
        assembler.reset()
        resumeTimer?.close()
        resumeTimer = nil
        link?.connectionClosed(self, error: error)
    }
}

extension CoordinatorConnection: PausableSource {
    func pauseInput() {
        stream.stopReading()
        link?.metrics.pausedForSubscribers += 1
    }

    func resumeInput() {
        guard !isFailed, let loop = link?.loop else { return }
        let timer = resumeTimer ?? LoopTimer(loop: loop)
        resumeTimer = timer
        timer.start(afterMilliseconds: 0) { [weak self] in self?.continueAfterPause() }
    }
}
