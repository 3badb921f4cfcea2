/// A byte stream on the loop: plain TCP (``TCPStream``) or TLS (``TLSStream``). MQTT, the
/// managed-socket service and the coordinator link talk to this, so TLS needs no `if tls` branch.
///
/// **Loop-thread only.** The write contract is the same for every kind: `write` only queues; the
/// loop flushes once per iteration after the before-sleep hooks (TLS encrypts then, in as few
/// SSL_write calls as possible, and the ciphertext goes out through the TCP flush of the same
/// iteration), so nothing leaves before the hooks (e.g. the broker's group commit) ran.
public protocol ByteStream: AnyObject {
    /// Strong; cleared by the stream after `streamClosed`.
    var handler: StreamHandler? { get set }
    /// "127.0.0.1:5555" or "[::1]:5555".
    var remoteAddress: String { get }
    /// Starts delivering bytes to `handler.streamReceived` (never from inside this call).
    func startReading()
    func stopReading()
    func write(_ bytes: [UInt8])
    func write(_ bytes: UnsafeRawBufferPointer)
    /// Queues exactly `count` bytes that `fill` writes in place, straight into the stream's queue
    /// (an encoder needs no buffer of its own). `fill` must initialize all `count` bytes. Ignored,
    /// without calling `fill`, once the stream is closing.
    func write(count: Int, _ fill: (UnsafeMutableRawBufferPointer) -> Void)
    /// Bytes accepted by `write` and not yet handed to the kernel (TLS: plaintext not yet encrypted
    /// plus ciphertext pending) — the broker caps this per client.
    var pendingWriteBytes: Int { get }
    /// Called when `pendingWriteBytes` drops to 0 after having been > 0 (not while closing).
    var onDrained: (() -> Void)? { get set }
    /// Graceful: write what is queued (TLS: then close_notify), then close.
    func close()
    /// Drops queued bytes and closes now.
    func closeNow()
    /// True as soon as closing began; writes are then ignored.
    var isClosed: Bool { get }
    /// Negotiated TLS details; nil for plain TCP.
    var tls: TLSSessionInfo? { get }
}

/// Receives the events of one ``ByteStream``. Called on the loop thread only.
public protocol StreamHandler: AnyObject {
    /// Bytes are valid only during the call (they live in ONE read buffer shared by the whole loop:
    /// no per-connection read buffer). Copy what must outlive the call (e.g. a partial packet).
    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer)
    /// Called exactly once, after the stream is closed for any reason (peer EOF, error, close()).
    /// error is nil for a clean EOF or local close.
    func streamClosed(_ stream: any ByteStream, error: RuntimeError?)
}

/// A stream the loop flushes in its before-sleep phase (see `EventLoop.markDirty`).
protocol LoopFlushable: AnyObject {
    /// Writes what may go: nothing while bytes gated by an earlier commit are still held.
    func flush()
    /// Moves the bytes queued since the last flush behind the durability gate `epoch` (see
    /// `EventLoop.gateWrittenStreams`). Returns whether this made its first gate (the loop then
    /// lists it until its gates are released), and whether the stream still wants this flush
    /// (bytes past an earlier gate; a TLS transport's ciphertext).
    func gate(epoch: UInt64) -> (firstGate: Bool, stillDirty: Bool)
    /// Written while handling something that changed durable state: the turn's gate takes it.
    var mustGate: Bool { get set }
    /// `EventLoop.writeSequence` at this stream's latest write.
    var lastWriteSequence: UInt64 { get }
    /// Puts the bytes of gates up to `epoch` back in front of the queue (and marks the stream
    /// dirty). Returns whether gates of later epochs remain.
    func releaseGates(upTo epoch: UInt64) -> Bool
    /// Bytes queued that the loop may hold back for another iteration (see
    /// `EventLoop.flushDirtyStreams`); nil when the flush must not wait (closing, a TLS layer's
    /// ciphertext, nothing to gain).
    var holdableBytes: Int? { get }
}
