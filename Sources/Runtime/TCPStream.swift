internal import CLibUV
internal import Glibc

/// One TCP connection (accepted by a ``TCPServer`` or made by ``connect(loop:host:port:_:)``).
///
/// **Loop-thread only (not Sendable).** Ownership: the libuv handle retains the stream from
/// creation until its close callback, so a stream stays alive (and open) while nobody else holds
/// it; after `streamClosed` the stream drops its `handler` and `onDrained`, which breaks the usual
/// handler <-> stream cycle.
///
/// Memory while idle: the `uv_tcp_t` (malloc'ed) and this object; reads go to the loop's shared
/// buffer, and the write queue is allocated only while bytes are pending.
public final class TCPStream: ByteStream {
    /// Strong; cleared by the stream after `streamClosed`.
    public var handler: StreamHandler?
    /// "127.0.0.1:5555" or "[::1]:5555" ("?" if the peer address could not be read).
    public let remoteAddress: String
    /// Called on the loop when `pendingWriteBytes` drops to 0 after having been > 0 (not while
    /// closing). It may write again.
    public var onDrained: (() -> Void)?

    enum State: UInt8 {
        case open
        /// close() was called: no more writes; input is read and discarded; the queued bytes are
        /// being written, then the write side is shut down (`lingering`).
        case draining
        /// FIN sent (uv_shutdown): input is read and discarded until the peer's EOF or the linger
        /// deadline, then uv_close. Closing a socket with unread input makes the kernel send RST,
        /// and a peer that was still writing would lose what we wrote last (the reason it was
        /// dropped) to "connection reset".
        case lingering
        /// uv_close was called; the handle memory may already be gone.
        case closed
    }

    /// How long a graceful close may take, from `close()` to uv_close: writing what is queued,
    /// then reading and discarding until the peer's EOF. Bounded so that a peer that never reads
    /// or never closes cannot hold the descriptor; 2 s is plenty for a few final packets on any
    /// network a device survives on.
    public static let closeLingerMilliseconds: UInt64 = 2_000

    /// malloc'ed; freed by the close callback (never by this object).
    let tcp: UnsafeMutablePointer<uv_tcp_t>
    var state = State.open
    var isReading = false
    /// In the loop's dirty list (will be flushed before the loop blocks).
    var isDirty = false
    /// Carries a TLSStream's ciphertext: never held (its plaintext already was; handshakes must go).
    var carriesTLS = false
    /// Written while handling something that changed durable state (EventLoop.markWritten).
    var mustGate = false
    /// The peer sent EOF while we were still writing: no linger needed once the writes are done.
    private var peerEnded = false
    // (The flags sit together: each alone between 8-byte fields cost 7 bytes of padding in every
    // connection.)
    /// The loop's flush epoch when this stream last read (see `EventLoop.isCurrentFlush`).
    var readEpoch: UInt32 = 0
    /// Bytes not yet handed to the kernel, with those held behind durability gates
    /// (TCPStream+Gate.swift); allocates nothing while idle.
    var queue = GatedWriteQueue()
    /// Bytes handed to one outstanding uv_write (at most one per stream), not yet confirmed.
    var inFlightBytes = 0
    var lastWriteSequence: UInt64 = 0
    /// The loop, which outlives every stream of it (unowned(unsafe): no reference counting on the
    /// write path, which used to find it through the handle for every write).
    unowned(unsafe) let loop: EventLoop
    /// The first error that closed the stream; given to `streamClosed`.
    var closeError: RuntimeError?
    /// Bounds a graceful close (`closeLingerMilliseconds`); exists only while closing.
    private var lingerTimer: LoopTimer?

    /// Takes ownership of an initialised `uv_tcp_t` and retains `self` in its `data`.
    init(tcp: UnsafeMutablePointer<uv_tcp_t>, remoteAddress: String) {
        self.tcp = tcp
        self.remoteAddress = remoteAddress
        self.loop = FleetRuntime.eventLoop(of: tcp.pointee.loop)
        retainOwner(self, in: tcp)
    }

    var eventLoop: EventLoop { loop }

    /// True as soon as closing began (close(), closeNow(), EOF, error): writes are then ignored.
    public var isClosed: Bool { state != .open }

    /// Plain TCP: always nil.
    public var tls: TLSSessionInfo? { nil }

    /// Starts delivering bytes to `handler.streamReceived`. A read error closes the stream
    /// (`streamClosed` with the error); peer EOF closes it gracefully (error nil).
    public func startReading() {
        guard state == .open, !isReading else { return }
        beginReading()
    }

    private func beginReading() {
        let rc = uv_read_start(uvStream(tcp), { handle, _, buf in
            let loop = FleetRuntime.eventLoop(of: handle!.pointee.loop)
            buf!.pointee = uv_buf_init(loop.readBuffer, UInt32(EventLoop.readBufferSize))
        }, { stream, nread, buf in
            let owner = Unmanaged<TCPStream>.fromOpaque(stream!.pointee.data!).takeUnretainedValue()
            owner.didRead(nread, buf?.pointee.base)
        })
        if rc < 0 {
            fail(RuntimeError(call: "uv_read_start", code: rc))
        } else {
            isReading = true
        }
    }

    /// Stops delivering bytes (the kernel buffers them; TCP flow control pushes back on the peer).
    /// No effect once closing: the stream then reads (and discards) on its own account.
    public func stopReading() {
        guard isReading, state == .open else { return }
        uv_read_stop(uvStream(tcp))
        isReading = false
    }

    /// Graceful: write what is queued, shut down the write side (FIN), read and discard input
    /// until the peer's EOF, then close; all within `closeLingerMilliseconds`, after which the
    /// stream is closed regardless. The handler hears nothing more but `streamClosed`.
    public func close() {
        guard state == .open else { return }
        state = .draining
        if !isReading { beginReading() }
        guard state == .draining else { return }  // reading could not start: already closed
        let timer = LoopTimer(loop: eventLoop)
        timer.isGracefulCloseDeadline = true
        timer.start(afterMilliseconds: Self.closeLingerMilliseconds) { [unowned self] in closeNow() }
        lingerTimer = timer
        if pendingWriteBytes == 0 { finishDraining() }
        // else: the stream is dirty (flush) or has a write in flight (writeCompleted); both call
        // finishDraining once nothing is pending.
    }

    /// Everything queued is written: send FIN and linger for the peer's EOF (or close at once if
    /// it already came).
    func finishDraining() {
        guard state == .draining else { return }
        if peerEnded { return closeHandle() }
        state = .lingering
        let request = allocateUV(uv_shutdown_t.self)
        let rc = uv_shutdown(request, uvStream(tcp)) { request, status in
            guard let request else { return }
            // The handle outlives its requests: libuv cancels them before the close callback.
            let owner = Unmanaged<TCPStream>.fromOpaque(request.pointee.handle!.pointee.data!).takeUnretainedValue()
            free(request)
            if status < 0 && status != UV_ECANCELED.rawValue { owner.closeHandle() }
        }
        if rc < 0 {
            free(request)
            closeHandle()
        }
    }

    /// Drops queued bytes and closes now (in-flight writes are cancelled).
    public func closeNow() {
        guard state != .closed else { return }
        closeHandle()
    }

    func didRead(_ nread: Int, _ base: UnsafeMutablePointer<CChar>?) {
        if state != .open {
            // Closing: input is read only to keep the kernel from answering it with RST.
            if nread == Int(UV_EOF.rawValue) {
                if state == .lingering { closeHandle() } else { peerEnded = true; uv_read_stop(uvStream(tcp)); isReading = false }
            } else if nread < 0 {
                fail(RuntimeError(call: "uv_read", code: Int32(truncatingIfNeeded: nread)))
            }
            return
        }
        if nread > 0 {
            let loop = eventLoop
            loop.noteRead(bytes: nread)
            readEpoch = loop.flushEpoch
            handler?.streamReceived(self, UnsafeRawBufferPointer(start: base, count: nread))
        } else if nread == Int(UV_EOF.rawValue) {
            peerEnded = true  // nothing to linger for: close as soon as our bytes are written
            close()
        } else if nread < 0 {
            fail(RuntimeError(call: "uv_read", code: Int32(truncatingIfNeeded: nread)))
        }
        // nread == 0: EAGAIN, nothing to do.
    }

    /// Closes now because of an error; the first error is reported to `streamClosed`.
    func fail(_ error: RuntimeError) {
        guard state != .closed else { return }
        if closeError == nil { closeError = error }
        closeHandle()
    }

    func closeHandle() {
        guard state != .closed else { return }
        state = .closed
        isReading = false
        lingerTimer?.close()
        lingerTimer = nil
        queue.releaseAll()
        closeLoopHandle(uvHandle(tcp))
    }
}

extension TCPStream {
    /// Heap bytes this stream holds right now (handle, object, write queue; not the address
    /// string, which is inline for IPv4). For footprint tests.
    var heapFootprintBytes: Int {
        var bytes = shim_malloc_usable_size(Unmanaged.passUnretained(self).toOpaque())
        if state != .closed { bytes += shim_malloc_usable_size(tcp) }
        if let queued = queue.bytes { bytes += shim_malloc_usable_size(queued) }
        return bytes
    }
}

extension TCPStream: LoopHandleOwner {
    func handleDidClose() {
        queue.releaseAll()
        handler?.streamClosed(self, error: closeError)
        handler = nil
        onDrained = nil
        closeError = nil
    }

    func closeForShutdown() { closeNow() }
    var isClosingGracefully: Bool { state == .draining || state == .lingering }
}
