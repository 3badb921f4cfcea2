import FleetCore

/// The control-before-bulk writer rule of Protocol/agent-coordinator.md §8 for one connection, without the socket:
/// two FIFO queues of encoded frames. The connection asks `next(unsentBytes:)` for the next frame
/// to hand to its stream until it returns nil, whenever frames were queued or the stream drained.
///
/// - Control frames always come first and ignore the watermark; they are never dropped. If they
///   pile up past `maxUnsentControlBytes` the peer is too slow (`enqueue` says `.overloaded`).
/// - A bulk frame is handed out only while the stream's unsent bytes are below `lowWatermark`, one
///   at a time, and the control queue is looked at again before each one.
/// - The bulk queue is bounded (frames and bytes); a full queue refuses the frame (`.bulkFull`)
///   and counts it in `bulkDropped`.
///
/// Pure value type, loop-thread owned.
public struct FrameWriterQueue: Sendable {
    public enum Enqueued: Equatable, Sendable { case queued, bulkFull, overloaded }

    public let lowWatermark: Int
    public let maxBulkFrames: Int
    public let maxBulkBytes: Int
    public let maxUnsentControlBytes: Int

    private var control = RingBuffer<[UInt8]>()
    private var bulk = RingBuffer<[UInt8]>()
    private var controlBytes = 0
    private var bulkBytes = 0
    public private(set) var bulkDropped: UInt64 = 0

    public init(lowWatermark: Int = 64 * 1024, maxBulkFrames: Int = 4_096, maxBulkBytes: Int = 32 * 1024 * 1024,
                maxUnsentControlBytes: Int = 16 * 1024 * 1024) {
        self.lowWatermark = lowWatermark
        self.maxBulkFrames = maxBulkFrames
        self.maxBulkBytes = maxBulkBytes
        self.maxUnsentControlBytes = maxUnsentControlBytes
    }

    public var queuedControlFrames: Int { control.count }
    public var queuedBulkFrames: Int { bulk.count }
    public var queuedBulkBytes: Int { bulkBytes }

    /// `unsentBytes`: what the stream holds unsent now (for the control bound).
    public mutating func enqueue(_ frame: [UInt8], bulk isBulk: Bool, unsentBytes: Int = 0) -> Enqueued {
        if isBulk {
            guard bulk.count < maxBulkFrames, bulkBytes + frame.count <= maxBulkBytes else {
                bulkDropped += 1
                return .bulkFull
            }
            bulk.append(frame)
            bulkBytes += frame.count
        } else {
            guard unsentBytes + controlBytes + frame.count <= maxUnsentControlBytes else { return .overloaded }
            control.append(frame)
            controlBytes += frame.count
        }
        return .queued
    }

    /// The next frame to write: any control frame; else one bulk frame if `unsentBytes` is below
    /// the watermark; else nil.
    public mutating func next(unsentBytes: Int) -> [UInt8]? {
        if let c = control.popFirst() {
            controlBytes -= c.count
            return c
        }
        if unsentBytes < lowWatermark, let b = bulk.popFirst() {
            bulkBytes -= b.count
            return b
        }
        return nil
    }

    /// Whether a bulk frame handed over now would go to the stream at once (nothing queued ahead of
    /// it, the stream below the watermark): the pull side of the rule, for a sender whose bulk
    /// already waits in its own durable queue (the agent's outbound log).
    public func takesBulkNow(unsentBytes: Int) -> Bool { control.isEmpty && bulk.isEmpty && unsentBytes < lowWatermark }

    /// Before closing after an ERROR (§8.6): bulk is discarded, control is still written.
    public mutating func discardBulk() {
        bulk.removeAll()
        bulkBytes = 0
    }
}
