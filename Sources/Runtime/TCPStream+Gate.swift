internal import Glibc

/// Bytes written before a durable commit they depend on (see `EventLoop.gateWrittenStreams`).
struct WriteGate {
    let epoch: UInt64
    let bytes: UnsafeMutableRawPointer
    let count: Int
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
        if gates.isEmpty {
            let fresh = queuedCount - sendableCount
            guard fresh > 0, let queue else { return (false, isDirty) }
            if sendableCount == 0 {
                gates.append(WriteGate(epoch: epoch, bytes: queue, count: fresh))
                self.queue = nil
                queuedCount = 0
                queueCapacity = 0
            } else {
                guard let copy = malloc(fresh) else { fatalError("FleetRuntime: out of memory gating \(fresh) bytes") }
                copy.copyMemory(from: queue + sendableCount, byteCount: fresh)
                gates.append(WriteGate(epoch: epoch, bytes: copy, count: fresh))
                queuedCount = sendableCount
            }
            gatedBytes += fresh
        } else {
            guard let (bytes, count) = tail.take() else { return (false, isDirty) }
            gates.append(WriteGate(epoch: epoch, bytes: bytes, count: count))
            gatedBytes += count
        }
        isDirty = queuedCount > 0   // bytes past their gate still go out with this flush
        return (gates.count == 1, isDirty)
    }

    func releaseGates(upTo epoch: UInt64) -> Bool {
        guard let first = gates.first, first.epoch <= epoch else { return !gates.isEmpty }
        if state == .closed {
            dropGates()
            return false
        }
        var released = 0
        while released < gates.count && gates[released].epoch <= epoch {
            appendToQueue(gates[released].bytes, gates[released].count)
            free(gates[released].bytes)
            gatedBytes -= gates[released].count
            released += 1
        }
        gates.removeFirst(released)
        sendableCount = queuedCount
        if gates.isEmpty, let (bytes, count) = tail.take() {
            appendToQueue(bytes, count)   // not past a gate yet: the next gate point decides
            free(bytes)
        }
        if !isDirty {
            isDirty = true
            eventLoop.markDirty(self)
        }
        return !gates.isEmpty
    }

    private func appendToQueue(_ bytes: UnsafeMutableRawPointer, _ count: Int) {
        let needed = queuedCount + count
        if needed > queueCapacity { growQueue(to: needed) }
        (queue! + queuedCount).copyMemory(from: bytes, byteCount: count)
        queuedCount = needed
    }

    /// Frees every gated byte and the tail (the stream is closing without them).
    func dropGates() {
        for g in gates { free(g.bytes) }
        gates.removeAll()
        gatedBytes = 0
        tail.release()
    }
}
