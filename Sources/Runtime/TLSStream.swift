internal import CLibUV
internal import COpenSSL
internal import Glibc

/// A TLS connection over a ``TCPStream``, through two memory BIOs: OpenSSL never touches the
/// socket; ciphertext moves through the loop (incoming: the TCP read -> rbio -> SSL_read into the
/// loop's shared read buffer; outgoing: SSL_write at flush time -> wbio -> the TCP write queue).
///
/// **Loop-thread only (not Sendable).** Obtained from a ``TLSServer`` (handshake done and verified)
/// or ``connect(loop:host:port:context:serverName:_:)``; not reading yet: set `handler`, then
/// `startReading()`. Ownership mirrors TCP: the TCP handle retains the TCP stream, whose handler
/// (a private adapter) retains this object, until the close callback.
///
/// Memory while idle: the SSL object and its two empty memory BIOs (their buffers are freed once
/// drained, and SSL_MODE_RELEASE_BUFFERS frees the record buffers), the TCP stream, this object;
/// the plaintext queue exists only between a write and the flush.
public final class TLSStream: ByteStream {
    public var handler: StreamHandler?
    public var onDrained: (() -> Void)?
    /// Set when the handshake completed (always, for a stream the user sees).
    public private(set) var tls: TLSSessionInfo?
    public var remoteAddress: String { transport.remoteAddress }

    enum Phase: UInt8 {
        case handshaking
        case open
        /// close() was called: what is queued (gated bytes included) is encrypted at the next
        /// flush that may write it, then close_notify (TLSStream+Gate.swift).
        case closing
        /// close_notify queued, TCP draining.
        case draining
        /// closeNow(), a failure, or the TCP stream closed.
        case closed
    }

    enum HandshakeOutcome {
        case success
        case failure(reason: String)
    }

    let transport: TCPStream
    /// Keeps the SSL_CTX and its callbacks' data alive as long as `ssl`.
    let contextBox: SSLContextBox
    /// Freed when the TCP stream reports its close.
    var ssl: OpaquePointer?
    var phase = Phase.handshaking
    var userReading = false
    var isDirty = false
    /// Plaintext not yet encrypted, with what durability gates hold (the TCP stream's scheme,
    /// one layer up); allocates nothing while idle.
    var plaintext = GatedWriteQueue()
    var mustGate = false
    var lastWriteSequence: UInt64 = 0
    var closeError: RuntimeError?
    /// Until the handshake is reported (success or failure), exactly once.
    var handshakeCompletion: ((HandshakeOutcome) -> Void)?
    var handshakeTimer: LoopTimer?
    /// Client side: the SNI name we sent.
    var requestedServerName: String?

    /// Creates the SSL and its memory BIOs. The TCP stream's events come here from now on.
    init(transport: TCPStream, context: SSLContextBox) throws(TLSError) {
        self.transport = transport
        self.contextBox = context
        ERR_clear_error()
        guard let ssl = SSL_new(context.ctx) else { throw TLSError.drainingQueue("SSL_new") }
        self.ssl = ssl
        guard let rbio = Self.makeMemoryBIO(), let wbio = Self.makeMemoryBIO() else {
            SSL_free(ssl)
            self.ssl = nil
            throw TLSError.drainingQueue("BIO_new(BIO_s_mem())")
        }
        SSL_set_bio(ssl, rbio, wbio)          // the SSL owns both BIOs from here
        if context.isServer { SSL_set_accept_state(ssl) } else { SSL_set_connect_state(ssl) }
        transport.handler = TLSTransportAdapter(self)
        transport.carriesTLS = true
        transport.onDrained = { [self] in
            if phase == .open && plaintext.count == 0 { onDrained?() }
        }
    }

    /// An empty memory BIO; reading it when empty means "retry" (more bytes will come), not EOF.
    static func makeMemoryBIO() -> OpaquePointer? {
        guard let bio = BIO_new(BIO_s_mem()) else { return nil }
        shim_BIO_set_mem_eof_return(bio, -1)
        return bio
    }

    var eventLoop: EventLoop { transport.eventLoop }

    public var isClosed: Bool { phase != .open || transport.isClosed }

    public var pendingWriteBytes: Int { plaintext.count + plaintext.heldCount + transport.pendingWriteBytes }

    // MARK: Reading

    /// Starts delivering plaintext. Input that arrived while not reading (e.g. application data
    /// that came with the client's Finished) is delivered in the next loop iteration, never from
    /// inside this call.
    public func startReading() {
        guard phase == .open, !userReading else { return }
        userReading = true
        transport.startReading()
        if hasBufferedInput {
            eventLoop.runSoon { [self] in processInput() }
        }
    }

    public func stopReading() {
        guard userReading else { return }
        userReading = false
        if phase == .open { transport.stopReading() }
    }

    var hasBufferedInput: Bool {
        guard let ssl else { return false }
        return SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0
    }

    /// Ciphertext from the TCP stream (valid only during the call: it is the loop's read buffer).
    func transportReceived(_ bytes: UnsafeRawBufferPointer) {
        guard let ssl, phase == .handshaking || phase == .open, let base = bytes.baseAddress else { return }
        // A memory BIO write only fails on allocation failure.
        if BIO_write(SSL_get_rbio(ssl), base, Int32(bytes.count)) != Int32(bytes.count) {
            fail(reason: "BIO_write: out of memory")
            return
        }
        processInput()
    }

    /// Advances the handshake or decrypts and delivers what the read BIO holds.
    func processInput() {
        if phase == .handshaking {
            advanceHandshake()
            return                      // leftover application data waits for startReading
        }
        guard let ssl, phase == .open else { return }
        // The ciphertext was copied into the read BIO, so the loop's shared read buffer is free
        // to receive the plaintext.
        let buffer = eventLoop.readBuffer
        let capacity = EventLoop.readBufferSize
        while userReading && phase == .open {
            var filled = 0
            var status = SSL_ERROR_NONE
            ERR_clear_error()
            while filled < capacity {
                var count = 0
                if SSL_read_ex(ssl, buffer + filled, capacity - filled, &count) == 1 {
                    filled += count
                } else {
                    status = SSL_get_error(ssl, 0)
                    break
                }
            }
            drainOutput()               // SSL_read may answer (KeyUpdate, alerts)
            if filled > 0 {
                handler?.streamReceived(self, UnsafeRawBufferPointer(start: buffer, count: filled))
            }
            switch status {
            case SSL_ERROR_NONE:
                continue                // the buffer filled up: there may be more
            case SSL_ERROR_WANT_READ:
                break
            case SSL_ERROR_ZERO_RETURN:
                close()                 // the peer's close_notify: answer it and close
            default:
                fail(reason: Self.failureReason(ssl, fallback: "SSL_read failed"))
            }
            break
        }
        releaseIdleBuffers()
    }

    // MARK: Handshake

    /// Starts the handshake: the client sends its ClientHello now. `completion` runs once.
    func beginHandshake(timeoutMs: UInt64, _ completion: @escaping (HandshakeOutcome) -> Void) {
        handshakeCompletion = completion
        let timer = LoopTimer(loop: eventLoop)
        handshakeTimer = timer
        timer.start(afterMilliseconds: timeoutMs) { [self] in
            guard phase == .handshaking else { return }
            reportHandshake(.failure(reason: "handshake timeout"))
            closeNow()
        }
        transport.startReading()
        if !contextBox.isServer { advanceHandshake() }
    }

    private func advanceHandshake() {
        guard let ssl else { return }
        ERR_clear_error()
        let rc = SSL_do_handshake(ssl)
        if rc == 1 {
            drainOutput()
            phase = .open
            tls = TLSSessionInfo(ssl, requestedServerName: requestedServerName)
            if !userReading { transport.stopReading() }
            releaseIdleBuffers()
            reportHandshake(.success)
            return
        }
        let error = SSL_get_error(ssl, rc)
        if error == SSL_ERROR_WANT_READ {
            drainOutput()
            releaseIdleBuffers()
            return
        }
        let reason = Self.failureReason(ssl, fallback: "handshake failed")
        drainOutput()                   // the alert
        phase = .closed
        reportHandshake(.failure(reason: reason))
        transport.close()               // graceful: the alert goes out first
    }

    func reportHandshake(_ outcome: HandshakeOutcome) {
        handshakeTimer?.close()
        handshakeTimer = nil
        guard let completion = handshakeCompletion else { return }
        handshakeCompletion = nil
        completion(outcome)
    }

    /// Why a handshake or read failed: the certificate verification result first (in the words
    /// of the TLS alert it causes, then OpenSSL's), then the OpenSSL error queue.
    static func failureReason(_ ssl: OpaquePointer, fallback: String) -> String {
        var parts: [String] = []
        let verify = Int32(truncatingIfNeeded: SSL_get_verify_result(ssl))
        if verify != X509_V_OK {
            parts.append("\(verifyAlert(verify)): \(String(cString: X509_verify_cert_error_string(Int(verify))))")
        }
        parts += openSSLErrorQueue()
        return parts.isEmpty ? fallback : parts.joined(separator: "; ")
    }

    /// The alert OpenSSL sends for a verification error (as in ssl_verify_alarm_type).
    static func verifyAlert(_ code: Int32) -> String {
        switch code {
        case X509_V_ERR_CERT_HAS_EXPIRED, X509_V_ERR_CRL_HAS_EXPIRED: return "certificate expired"
        case X509_V_ERR_CERT_REVOKED: return "certificate revoked"
        case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
             X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN, X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT,
             X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE, X509_V_ERR_CERT_CHAIN_TOO_LONG:
            return "unknown ca"
        default: return "bad certificate"
        }
    }

    // MARK: Output and buffers

    /// Moves everything in the write BIO into the TCP write queue (no intermediate copy).
    func drainOutput() {
        guard let ssl, let wbio = SSL_get_wbio(ssl) else { return }
        var pending = Int(BIO_ctrl_pending(wbio))
        guard pending > 0 else { return }
        if transport.isClosed {
            BIO_ctrl(wbio, BIO_CTRL_RESET, 0, nil)
            return
        }
        while pending > 0 {
            transport.write(reserving: pending) { destination in
                Int(max(BIO_read(wbio, destination, Int32(clamping: pending)), 0))
            }
            let left = Int(BIO_ctrl_pending(wbio))
            if left >= pending { break }            // nothing moved (cannot happen); never spin
            pending = left
        }
    }

    /// Frees the memory BIOs' buffers once they are empty (a memory BIO keeps its largest buffer
    /// otherwise): an idle connection holds no ciphertext buffer.
    func releaseIdleBuffers() {
        guard let ssl else { return }
        if let rbio = SSL_get_rbio(ssl), BIO_ctrl_pending(rbio) == 0, shim_BIO_mem_capacity(rbio) > 0,
           let fresh = Self.makeMemoryBIO() {
            SSL_set0_rbio(ssl, fresh)       // frees the old one
        }
        if let wbio = SSL_get_wbio(ssl), BIO_ctrl_pending(wbio) == 0, shim_BIO_mem_capacity(wbio) > 0,
           let fresh = Self.makeMemoryBIO() {
            SSL_set0_wbio(ssl, fresh)
        }
    }

    // MARK: Closing

    /// Graceful: at the loop's next flush that may write them, encrypts what is queued (after any
    /// bytes held behind a durability gate), sends close_notify, then closes the TCP stream once
    /// everything is written.
    public func close() {
        guard phase == .open else { return }
        userReading = false
        guard ssl != nil else {
            phase = .draining
            plaintext.releaseAll()
            return transport.close()
        }
        phase = .closing
        if !isDirty {
            isDirty = true
            eventLoop.markDirty(self)
        }
    }

    /// The close() of a stream whose every byte is now encrypted.
    func finishClose() {
        guard phase == .closing, let ssl else { return }
        ERR_clear_error()
        SSL_shutdown(ssl)
        drainOutput()
        phase = .draining
        plaintext.releaseAll()
        transport.close()
    }

    /// Drops queued bytes and closes now.
    public func closeNow() {
        guard phase != .closed else { return }
        phase = .closed
        userReading = false
        plaintext.releaseAll()
        transport.closeNow()
    }

    /// A TLS-level failure after which the stream cannot continue: the alert (if any) is written,
    /// then the TCP stream closes; `streamClosed` gets the reason.
    func fail(reason: String) {
        guard phase != .closed else { return }
        if phase == .handshaking { reportHandshake(.failure(reason: reason)) }
        if closeError == nil {
            closeError = RuntimeError(call: "SSL", code: UV_EPROTO.rawValue, message: reason)
        }
        drainOutput()
        phase = .closed
        userReading = false
        plaintext.releaseAll()
        transport.close()
    }

    /// The TCP stream's close callback ran: free the SSL, tell the handler (or the handshake).
    func transportClosed(_ error: RuntimeError?) {
        let wasHandshaking = handshakeCompletion != nil
        phase = .closed
        userReading = false
        plaintext.releaseAll()
        if let ssl { SSL_free(ssl) }
        ssl = nil
        if wasHandshaking {
            reportHandshake(.failure(reason: error.map { "connection closed during handshake: \($0)" }
                                     ?? "connection closed during handshake"))
        } else if tls != nil {
            handler?.streamClosed(self, error: closeError ?? error)
        }
        handler = nil
        onDrained = nil
        closeError = nil
    }
}

/// The TCP stream's handler: forwards its events to the TLS stream. A separate object so
/// `TLSStream` does not expose `StreamHandler` methods.
private final class TLSTransportAdapter: StreamHandler {
    let stream: TLSStream
    init(_ stream: TLSStream) { self.stream = stream }

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        self.stream.transportReceived(bytes)
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        self.stream.transportClosed(error)
    }
}

extension TLSStream {
    /// Heap bytes this stream holds right now besides OpenSSL's own structures: this object, the
    /// TCP stream, the plaintext queue and the memory BIOs' buffers. For footprint tests.
    var bufferedBytes: (plaintext: Int, readBIO: Int, writeBIO: Int) {
        guard let ssl else { return (plaintext.capacity, 0, 0) }
        return (plaintext.capacity, shim_BIO_mem_capacity(SSL_get_rbio(ssl)), shim_BIO_mem_capacity(SSL_get_wbio(ssl)))
    }
}
