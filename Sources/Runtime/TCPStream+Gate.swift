// Durability gates of a TCP stream: its `GatedWriteQueue` does the work; this is when the loop
// may gate and what the stream does after. Loop-thread only.
extension TCPStream {
    /// A TLS transport is never gated: its ciphertext comes from plaintext that was.
    func gate(epoch: UInt64) -> (firstGate: Bool, stillDirty: Bool) {
        guard state != .closed, !carriesTLS, let first = queue.gate(epoch: epoch) else { return (false, isDirty) }
        isDirty = queue.count > 0   // bytes past their gate still go out with this flush
        return (first, isDirty)
    }

    func releaseGates(upTo epoch: UInt64) -> Bool {
        guard queue.hasGate(upTo: epoch) else { return queue.isGated }
        guard state != .closed else {
            queue.dropGates()
            return false
        }
        let remaining = queue.releaseGates(upTo: epoch)
        if !isDirty {
            isDirty = true
            eventLoop.markDirty(self)
        }
        return remaining
    }
}
