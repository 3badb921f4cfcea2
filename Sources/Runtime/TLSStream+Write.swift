internal import COpenSSL
internal import Glibc

// The write/flush contract is TCP's (TCPStream+Write.swift), one layer up:
// - write() copies plaintext into the stream's queue and puts the stream in the loop's dirty list.
// - The loop's before-sleep flush (after the hooks) encrypts the whole queue in as few SSL_write
//   calls as possible (one per `maxEncryptChunk`), moves the ciphertext into the TCP write queue,
//   which dirties the TCP stream; the same flush (next round) writes it to the socket.

extension TLSStream: LoopFlushable {
    /// Plaintext per SSL_write at flush time (4 records): bounds the write BIO's buffer.
    static let maxEncryptChunk = 64 * 1024

    /// Queues plaintext; see the contract above. Ignored once the stream is closing.
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress else { return }
        write(count: bytes.count) { $0.baseAddress!.copyMemory(from: source, byteCount: bytes.count) }
    }

    /// See ``ByteStream/write(count:_:)``: plaintext queued here is encrypted at the flush.
    public func write(count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) {
        guard phase == .open, !transport.isClosed, count > 0 else { return }
        let loop = eventLoop
        loop.writeSequence &+= 1
        lastWriteSequence = loop.writeSequence
        plaintext.append(count: count) { fill(UnsafeMutableRawBufferPointer(start: $0, count: count)) }
        if !isDirty {
            isDirty = true
            eventLoop.markDirty(self)
        }
    }

    /// Plaintext of an open session may be held (fewer, fuller records); handshakes, closes and
    /// answers to a peer that just sent something (see TCPStream.holdableBytes) are not.
    var holdableBytes: Int? {
        phase == .open && !transport.isClosed && !eventLoop.isCurrentFlush(transport.readEpoch) ? plaintext.count : nil
    }

    /// Called by the loop's before-sleep flush.
    func flush() {
        isDirty = false
        guard phase == .open || phase == .closing, ssl != nil else { return }
        // With gates held the plaintext queue holds only bytes past their gate.
        encryptQueued()
        drainOutput()
        plaintext.markFlushed()
        if phase == .closing && plaintext.holdsNothing { return finishClose() }
        releaseIdleBuffers()
    }

    /// SSL_write of the queued plaintext into the write BIO, chunk by chunk, each drained into the
    /// TCP queue; then the plaintext queue is freed. A memory BIO never blocks, so SSL_write takes
    /// each chunk whole.
    func encryptQueued() {
        guard let ssl, plaintext.count > 0, let queued = plaintext.bytes else { return }
        var offset = 0
        ERR_clear_error()
        while offset < plaintext.count {
            let chunk = min(plaintext.count - offset, Self.maxEncryptChunk)
            var written = 0
            if SSL_write_ex(ssl, queued + offset, chunk, &written) != 1 || written == 0 {
                plaintext.releaseQueue()
                fail(reason: Self.failureReason(ssl, fallback: "SSL_write failed"))
                return
            }
            offset += written
            drainOutput()
        }
        plaintext.releaseQueue()
    }
}
