internal import CLibUV
internal import Glibc

// The write/flush contract:
// - write() only copies into the stream's queue and puts the stream in the loop's dirty list.
// - Once per iteration, after the before-sleep hooks, the loop calls flush() on every dirty stream:
//   one uv_try_write of everything queued; whatever the kernel did not take is handed, with its
//   buffer (no copy), to one uv_write that frees the buffer in its callback.
// - At most one uv_write is in flight per stream; bytes queued meanwhile wait for its callback,
//   which re-dirties the stream, so they are coalesced into the next flush.

extension TCPStream: LoopFlushable {
    /// Queues bytes. They are NOT written immediately: the stream is marked dirty and the loop
    /// writes all queued bytes of all dirty streams once per iteration after the before-sleep
    /// hooks (coalescing many small packets into one uv_try_write, the rest via uv_write with the
    /// buffer kept alive until its callback). Ignored once the stream is closing (`isClosed`).
    public func write(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { write($0) }
    }

    /// Copies the bytes into the queue; see ``write(_:)-([UInt8])``.
    public func write(_ bytes: UnsafeRawBufferPointer) {
        guard state == .open, let source = bytes.baseAddress, bytes.count > 0 else { return }
        queue.append(count: bytes.count) { $0.copyMemory(from: source, byteCount: bytes.count) }
        markQueued()
    }

    /// See ``ByteStream/write(count:_:)``.
    public func write(count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void) {
        guard state == .open, count > 0 else { return }
        queue.append(count: count) { fill(UnsafeMutableRawBufferPointer(start: $0, count: count)) }
        markQueued()
    }

    /// Queues up to `count` bytes produced straight into the queue by `fill` (which returns how
    /// many it wrote): TLS moves ciphertext from its memory BIO without an intermediate copy.
    func write(reserving count: Int, _ fill: (UnsafeMutableRawPointer) -> Int) {
        guard state == .open, count > 0 else { return }
        if queue.append(reserving: count, fill) > 0 { markQueued() }
    }

    @inline(__always)
    private func markQueued() {
        loop.writeSequence &+= 1
        lastWriteSequence = loop.writeSequence
        // Also with a write in flight (its flush then does nothing): the loop must see every
        // stream written in a turn, to gate it when the turn's data goes to a background commit.
        if !isDirty {
            isDirty = true
            loop.markDirty(self)
        }
    }

    /// Bytes queued, gated or in flight in uv_write but not yet confirmed written — the broker
    /// caps this per client.
    /// Asked for every delivery (the broker's cap and congestion checks): inlined into the
    /// `ByteStream` witness instead of a second call.
    public var pendingWriteBytes: Int {
        @inline(__always) get { queue.count + inFlightBytes + queue.heldCount }
    }

    /// Only an open stream's own queue is held: a draining stream must close, the bytes of a TLS
    /// layer above were already held as plaintext, and a stream that read since the last flush is
    /// a peer talking to us: its answers (acknowledgements) go out now, or it stalls waiting.
    var holdableBytes: Int? {
        state == .open && inFlightBytes == 0 && !carriesTLS && !eventLoop.isCurrentFlush(readEpoch) ? queue.count : nil
    }

    /// Called by the loop's before-sleep flush.
    func flush() {
        isDirty = false
        guard state != .closed else { return }
        // With gates held the queue holds only bytes past their gate (GatedWriteQueue).
        defer { queue.markFlushed() }
        if queue.count > 0 && inFlightBytes == 0, let queued = queue.bytes {
            let loop = eventLoop
            var buffer = uv_buf_init(queued.assumingMemoryBound(to: CChar.self), UInt32(queue.count))
            let written = uv_try_write(uvStream(tcp), &buffer, 1)
            loop.noteTryWrite(bytes: Int(max(written, 0)))
            if written == queue.count {
                queue.releaseQueue()
            } else if written >= 0 || written == UV_EAGAIN.rawValue {
                if !startWrite(skipping: Int(max(written, 0))) { return }
            } else {
                fail(RuntimeError(call: "uv_try_write", code: written))
                return
            }
            if pendingWriteBytes == 0 { didDrain() }
        } else if state == .draining && pendingWriteBytes == 0 {
            finishDraining()
        }
    }

    /// Hands the queue (minus the first `skip` bytes, already written) to one uv_write. The write
    /// request owns the buffer from here on. Returns false if the stream failed.
    private func startWrite(skipping skip: Int) -> Bool {
        guard let (queued, queuedCount) = queue.takeQueue() else { return true }
        let request = allocateUV(uv_write_t.self)
        let remaining = queuedCount - skip
        request.pointee.data = queued               // the whole allocation, freed in the callback
        var rest = uv_buf_init((queued + skip).assumingMemoryBound(to: CChar.self), UInt32(remaining))
        let rc = uv_write(request, uvStream(tcp), &rest, 1) { request, status in
            guard let request else { return }
            free(request.pointee.data)
            // The handle (and its retained owner) outlives its requests: libuv cancels them
            // (UV_ECANCELED) before the close callback runs.
            let owner = Unmanaged<TCPStream>.fromOpaque(request.pointee.handle!.pointee.data!).takeUnretainedValue()
            free(request)
            owner.writeCompleted(status)
        }
        if rc < 0 {
            free(request.pointee.data)
            free(request)
            fail(RuntimeError(call: "uv_write", code: rc))
            return false
        }
        inFlightBytes = remaining
        eventLoop.noteQueuedWrite()
        return true
    }

    private func writeCompleted(_ status: Int32) {
        let bytes = inFlightBytes
        inFlightBytes = 0
        guard state != .closed else { return }
        if status < 0 {
            fail(RuntimeError(call: "uv_write", code: status))
            return
        }
        eventLoop.noteWriteCompleted(bytes: bytes)
        if queue.count > 0 {
            if !isDirty {
                isDirty = true
                eventLoop.markDirty(self)
            }
            return
        }
        didDrain()
    }

    /// Nothing pending any more: finish a graceful close, or tell the owner.
    private func didDrain() {
        if state == .draining {
            finishDraining()
        } else if let onDrained {
            onDrained()
        }
    }
}
