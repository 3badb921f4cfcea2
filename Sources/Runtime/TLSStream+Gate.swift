internal import Glibc

// Durability gates of a TLS stream: TCPStream+Gate.swift's scheme on the plaintext queue (the
// ciphertext of released plaintext goes to the TCP transport, which is never gated).
// Loop-thread only.
extension TLSStream {
    func gate(epoch: UInt64) -> (firstGate: Bool, stillDirty: Bool) {
        guard phase == .open || phase == .closing, ssl != nil else { return (false, isDirty) }
        if gates.isEmpty {
            let fresh = plaintextCount - sendableCount
            guard fresh > 0, let plaintext else { return (false, isDirty) }
            if sendableCount == 0 {
                gates.append(WriteGate(epoch: epoch, bytes: plaintext, count: fresh))
                self.plaintext = nil
                plaintextCount = 0
                plaintextCapacity = 0
            } else {
                guard let copy = malloc(fresh) else { fatalError("FleetRuntime: out of memory gating \(fresh) bytes") }
                copy.copyMemory(from: plaintext + sendableCount, byteCount: fresh)
                gates.append(WriteGate(epoch: epoch, bytes: copy, count: fresh))
                plaintextCount = sendableCount
            }
            gatedBytes += fresh
        } else {
            guard let (bytes, count) = tail.take() else { return (false, isDirty) }
            gates.append(WriteGate(epoch: epoch, bytes: bytes, count: count))
            gatedBytes += count
        }
        // Plaintext past its gate, or a close waiting for the flush, still wants this flush.
        isDirty = plaintextCount > 0 || phase == .closing
        return (gates.count == 1, isDirty)
    }

    func releaseGates(upTo epoch: UInt64) -> Bool {
        guard let first = gates.first, first.epoch <= epoch else { return !gates.isEmpty }
        guard phase == .open || phase == .closing else {
            dropGates()
            return false
        }
        var released = 0
        while released < gates.count && gates[released].epoch <= epoch {
            appendPlaintext(gates[released].bytes, gates[released].count)
            free(gates[released].bytes)
            gatedBytes -= gates[released].count
            released += 1
        }
        gates.removeFirst(released)
        sendableCount = plaintextCount
        if gates.isEmpty, let (bytes, count) = tail.take() {
            appendPlaintext(bytes, count)
            free(bytes)
        }
        if !isDirty {
            isDirty = true
            eventLoop.markDirty(self)
        }
        return !gates.isEmpty
    }

    private func appendPlaintext(_ bytes: UnsafeMutableRawPointer, _ count: Int) {
        let needed = plaintextCount + count
        if needed > plaintextCapacity {
            let capacity = max(needed, plaintextCapacity * 2, TCPStream.minimumQueueCapacity)
            guard let grown = realloc(plaintext, capacity) else { fatalError("FleetRuntime: out of memory for a TLS write queue of \(capacity) bytes") }
            plaintext = grown
            plaintextCapacity = capacity
        }
        (plaintext! + plaintextCount).copyMemory(from: bytes, byteCount: count)
        plaintextCount = needed
    }

    func dropGates() {
        for g in gates { free(g.bytes) }
        gates.removeAll()
        gatedBytes = 0
        tail.release()
    }
}
