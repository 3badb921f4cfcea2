internal import Glibc

/// Bytes written before a durable commit they depend on (see `EventLoop.gateWrittenStreams`).
struct WriteGate {
    let epoch: UInt64
    let bytes: UnsafeMutableRawPointer
    let count: Int
}

/// A TCP stream's gating state; the stream frees its buffers (`drop`) when it closes.
/// Loop-thread only.
final class StreamGating {
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

// Durability gates of a TCP stream. The stream's output is, in order: the queue, then the gates,
// then the tail. Without gates, writes go to the queue as always; `gate` moves what was written
// since the queue's last flush into a gate (handing over the buffer when it is all new), and
// from then on writes go to the tail. Releasing appends the released gates to the queue (which
// then holds only bytes past their gate, so it may be written), and once no gate is left the
// tail joins the queue. A gate taken while gates are held takes the tail. Loop-thread only.
extension TCPStream {
    /// A TLS transport is never gated: its ciphertext comes from plaintext that was.
    func gate(epoch: UInt64) -> (firstGate: Bool, stillDirty: Bool) {
        guard state != .closed, !carriesTLS else { return (false, isDirty) }
        let g = gating ?? StreamGating()
        if g.gates.isEmpty {
            let fresh = queuedCount - g.sendableCount
            guard fresh > 0, let queue else { return (false, isDirty) }
            gating = g
            if g.sendableCount == 0 {
                g.gates.append(WriteGate(epoch: epoch, bytes: queue, count: fresh))
                self.queue = nil
                queuedCount = 0
                queueCapacity = 0
            } else {
                guard let copy = malloc(fresh) else { fatalError("FleetRuntime: out of memory gating \(fresh) bytes") }
                copy.copyMemory(from: queue + g.sendableCount, byteCount: fresh)
                g.gates.append(WriteGate(epoch: epoch, bytes: copy, count: fresh))
                queuedCount = g.sendableCount
            }
            g.gatedBytes += fresh
        } else {
            guard let (bytes, count) = g.tail.take() else { return (false, isDirty) }
            g.gates.append(WriteGate(epoch: epoch, bytes: bytes, count: count))
            g.gatedBytes += count
        }
        isDirty = queuedCount > 0   // bytes past their gate still go out with this flush
        return (g.gates.count == 1, isDirty)
    }

    func releaseGates(upTo epoch: UInt64) -> Bool {
        guard let g = gating, let first = g.gates.first, first.epoch <= epoch else { return !(gating?.gates.isEmpty ?? true) }
        if state == .closed {
            g.drop()
            return false
        }
        var released = 0
        while released < g.gates.count && g.gates[released].epoch <= epoch {
            appendToQueue(g.gates[released].bytes, g.gates[released].count)
            free(g.gates[released].bytes)
            g.gatedBytes -= g.gates[released].count
            released += 1
        }
        g.gates.removeFirst(released)
        g.sendableCount = queuedCount
        if g.gates.isEmpty, let (bytes, count) = g.tail.take() {
            appendToQueue(bytes, count)   // not past a gate yet: the next gate point decides
            free(bytes)
        }
        if !isDirty {
            isDirty = true
            eventLoop.markDirty(self)
        }
        return !g.gates.isEmpty
    }

    private func appendToQueue(_ bytes: UnsafeMutableRawPointer, _ count: Int) {
        let needed = queuedCount + count
        if needed > queueCapacity { growQueue(to: needed) }
        (queue! + queuedCount).copyMemory(from: bytes, byteCount: count)
        queuedCount = needed
    }

    /// Frees every gated byte and the tail (the stream is closing without them).
    func dropGates() { gating?.drop() }
}
