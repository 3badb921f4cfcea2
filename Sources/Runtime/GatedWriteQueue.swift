internal import Glibc

/// Bytes written before a durable commit they depend on (see `EventLoop.gateWrittenStreams`).
struct WriteGate {
    let epoch: UInt64
    let bytes: UnsafeMutableRawPointer
    let count: Int
}

/// What a queue holds behind its gates; allocated the first time the queue is gated (many
/// streams never are, and an idle connection's memory is a budget). Loop-thread only.
final class WriteGating {
    /// Oldest first; each buffer is malloc'ed and owned here until released or dropped.
    var gates: [WriteGate] = []
    var gatedBytes = 0
    /// While gates are held, later writes go here (they must follow the gated bytes).
    var tail = GrowableBuffer()
    /// How much of the queue is past its gate point (already flushed once, or released): a gate
    /// taken before the next flush leaves it where it is.
    var sendableCount = 0

    func drop() {
        for g in gates { free(g.bytes) }
        gates.removeAll()
        gatedBytes = 0
        tail.release()
    }
}

/// The outgoing bytes of one stream, in order: the queue (what the next flush may write), then
/// the bytes held behind durability gates, then the tail (written while gates are held). The one
/// write queue of every stream kind: a TCP stream's socket queue and a TLS stream's plaintext
/// queue (TLS then gates plaintext; its TCP transport carries ciphertext and is never gated).
///
/// Without gates, writes go to the queue. `gate` moves what was written since the queue's last
/// flush into a gate (handing over the buffer when it is all new), and from then on writes go to
/// the tail. Releasing appends the released gates to the queue (which then holds only bytes past
/// their gate, so it may be written), and once no gate is left the tail joins the queue. A gate
/// taken while gates are held takes the tail.
///
/// A value inside its stream: **loop-thread only**. Four words while idle and nothing allocated
/// (the queue is a `GrowableBuffer`, the gates a class made at the first gate).
struct GatedWriteQueue {
    /// What the next flush may write; allocates nothing while empty.
    private var queue = GrowableBuffer()
    private var gating: WriteGating?

    /// malloc'ed; nil while nothing is queued.
    var bytes: UnsafeMutableRawPointer? { queue.bytes }
    var count: Int { queue.count }
    var capacity: Int { queue.capacity }

    /// Gates are held: writes go to the tail.
    var isGated: Bool { gating.map { !$0.gates.isEmpty } ?? false }

    /// Bytes behind gates or in the tail (not in the queue).
    var heldCount: Int { gating.map { $0.gatedBytes + $0.tail.count } ?? 0 }

    /// Nothing behind a gate and nothing in the tail.
    var holdsNothing: Bool { gating.map { $0.gates.isEmpty && $0.tail.isEmpty } ?? true }

    // MARK: Writing

    /// Appends `n` bytes that `fill` writes in place: to the queue, or behind the gates.
    mutating func append(count n: Int, _ fill: (UnsafeMutableRawPointer) -> Void) {
        if let g = gating, !g.gates.isEmpty {
            g.tail.append(count: n, fill)
            return
        }
        queue.append(count: n, fill)
    }

    /// Appends at most `n` bytes that `fill` writes in place and counts (a memory BIO's
    /// ciphertext moved without an intermediate copy). Never gated: only a TLS transport uses it.
    /// Returns how many were appended.
    mutating func append(reserving n: Int, _ fill: (UnsafeMutableRawPointer) -> Int) -> Int {
        let filled = queue.append(reserving: n, fill)
        if queue.isEmpty { gating?.sendableCount = 0 }
        return filled
    }

    // MARK: Flushing

    /// The flush has dealt with the queue: what is left of it is past its gate point.
    mutating func markFlushed() { gating?.sendableCount = count }

    /// Hands the queue's buffer over (the caller frees it); the queue is empty afterwards.
    mutating func takeQueue() -> (bytes: UnsafeMutableRawPointer, count: Int)? { queue.take() }

    /// Frees the queue (written, or dropped); gates and tail stay.
    mutating func releaseQueue() {
        queue.release()
        gating?.sendableCount = 0
    }

    /// Frees everything: queue, gates and tail (the stream is closing without them).
    mutating func releaseAll() {
        releaseQueue()
        dropGates()
    }

    // MARK: Gates

    /// Moves the bytes written since the last flush behind a gate for `epoch`. Returns nil when
    /// there was nothing to gate, else whether this is the queue's first gate.
    mutating func gate(epoch: UInt64) -> Bool? {
        let g = gating ?? WriteGating()
        if g.gates.isEmpty {
            let fresh = count - g.sendableCount
            guard fresh > 0, let bytes else { return nil }
            gating = g
            if g.sendableCount == 0, let (whole, n) = queue.take() {
                g.gates.append(WriteGate(epoch: epoch, bytes: whole, count: n))
            } else {
                guard let copy = malloc(fresh) else { fatalError("FleetRuntime: out of memory gating \(fresh) bytes") }
                copy.copyMemory(from: bytes + g.sendableCount, byteCount: fresh)
                g.gates.append(WriteGate(epoch: epoch, bytes: copy, count: fresh))
                queue.truncate(to: g.sendableCount)
            }
            g.gatedBytes += fresh
        } else {
            guard let (tailBytes, tailCount) = g.tail.take() else { return nil }
            g.gates.append(WriteGate(epoch: epoch, bytes: tailBytes, count: tailCount))
            g.gatedBytes += tailCount
        }
        return g.gates.count == 1
    }

    /// Whether a gate of `epoch` or earlier is held.
    func hasGate(upTo epoch: UInt64) -> Bool {
        guard let first = gating?.gates.first else { return false }
        return first.epoch <= epoch
    }

    /// Puts the bytes of gates up to `epoch` back at the end of the queue (then, with no gate
    /// left, the tail). Returns whether gates of later epochs remain.
    mutating func releaseGates(upTo epoch: UInt64) -> Bool {
        guard let g = gating else { return false }
        var released = 0
        while released < g.gates.count && g.gates[released].epoch <= epoch {
            let gate = g.gates[released]
            appendToQueue(gate.bytes, gate.count)
            free(gate.bytes)
            g.gatedBytes -= gate.count
            released += 1
        }
        g.gates.removeFirst(released)
        g.sendableCount = count
        if g.gates.isEmpty, let (tailBytes, tailCount) = g.tail.take() {
            appendToQueue(tailBytes, tailCount)   // not past a gate yet: the next gate point decides
            free(tailBytes)
        }
        return !g.gates.isEmpty
    }

    /// Frees every gated byte and the tail.
    mutating func dropGates() { gating?.drop() }

    private mutating func appendToQueue(_ source: UnsafeMutableRawPointer, _ n: Int) {
        queue.append(count: n) { $0.copyMemory(from: source, byteCount: n) }
    }
}
