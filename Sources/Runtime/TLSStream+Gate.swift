// Durability gates of a TLS stream: the plaintext queue is a `GatedWriteQueue` (the ciphertext
// of released plaintext goes to the TCP transport, which is never gated). Loop-thread only.
extension TLSStream {
    func gate(epoch: UInt64) -> (firstGate: Bool, stillDirty: Bool) {
        guard phase == .open || phase == .closing, ssl != nil, let first = plaintext.gate(epoch: epoch) else {
            return (false, isDirty)
        }
        // Plaintext past its gate, or a close waiting for the flush, still wants this flush.
        isDirty = plaintext.count > 0 || phase == .closing
        return (first, isDirty)
    }

    func releaseGates(upTo epoch: UInt64) -> Bool {
        guard plaintext.hasGate(upTo: epoch) else { return plaintext.isGated }
        guard phase == .open || phase == .closing else {
            plaintext.dropGates()
            return false
        }
        let remaining = plaintext.releaseGates(upTo: epoch)
        if !isDirty {
            isDirty = true
            eventLoop.markDirty(self)
        }
        return remaining
    }
}
