internal import Glibc

/// Accepts TCP, runs the TLS handshake, and hands `onAccept` only completed, verified TLS streams
/// (not reading yet: set `handler`, then `startReading()`). **Loop-thread only (not Sendable).**
///
/// Each handshaking stream has a timer (closed when the handshake ends) and counts towards
/// `maxConcurrentHandshakes`; sockets beyond it are closed at once. Failures are reported to
/// `onHandshakeFailure` and never reach `onAccept`. Closing the server stops listening; handshakes
/// already running finish (and are delivered), like accepted TCP streams outlive a `TCPServer`.
public final class TLSServer {
    public let context: TLSContext
    private var onAccept: ((any ByteStream) -> Void)?
    private var listener: TCPServer?
    /// The TCP listener's counters (connections refused while out of descriptors, back-offs).
    public var refusedConnections: UInt64 { listener?.refusedConnections ?? 0 }
    public var acceptPauses: UInt64 { listener?.acceptPauses ?? 0 }
    /// (remote address, reason): "handshake timeout", "too many concurrent handshakes",
    /// "certificate expired: certificate has expired; certificate verify failed",
    /// "unknown ca: unable to get local issuer certificate; certificate verify failed",
    /// "peer did not return a certificate", "connection closed during handshake", ...
    public var onHandshakeFailure: ((_ remoteAddress: String, _ reason: String) -> Void)?
    /// Called for a failed accept (e.g. EMFILE); the listener keeps running.
    public var onAcceptError: ((RuntimeError) -> Void)? {
        didSet { listener?.onAcceptError = onAcceptError }
    }
    public private(set) var handshakesInProgress = 0
    public let localPort: UInt16
    public let localAddress: String

    /// `sharedPort`: see ``TCPServer/init(loop:host:port:backlog:sharedPort:onAccept:)``.
    public init(loop: EventLoop, host: String, port: UInt16, context: TLSContext, backlog: Int32 = 4096,
                sharedPort: Bool = false, onAccept: @escaping (any ByteStream) -> Void) throws(RuntimeError) {
        self.context = context
        self.onAccept = onAccept
        // The listener's accept closure holds this server until the listener's handle closes (as a
        // TCPServer's closure is held by its handle): close() or EventLoop.shutdown() end the cycle.
        final class Target { var server: TLSServer? }
        let target = Target()
        let listener = try TCPServer(loop: loop, host: host, port: port, backlog: backlog, sharedPort: sharedPort) { transport in
            target.server?.accepted(transport)
        }
        self.listener = listener
        self.localPort = listener.localPort
        self.localAddress = listener.localAddress
        target.server = self
    }

    /// Stops listening. Handshakes in progress finish; accepted streams are not affected.
    public func close() {
        guard let listener else { return }
        self.listener = nil
        listener.close()
    }

    private func accepted(_ transport: TCPStream) {
        let configuration = context.configuration
        let remote = transport.remoteAddress
        if handshakesInProgress >= configuration.maxConcurrentHandshakes {
            transport.closeNow()
            onHandshakeFailure?(remote, "too many concurrent handshakes")
            return
        }
        let stream: TLSStream
        do {
            stream = try TLSStream(transport: transport, context: context.current)
        } catch {
            transport.closeNow()
            onHandshakeFailure?(remote, error.message)
            return
        }
        handshakesInProgress += 1
        stream.beginHandshake(timeoutMs: configuration.handshakeTimeoutMs) { [self] outcome in
            handshakesInProgress -= 1
            switch outcome {
            case .success:
                if let onAccept { onAccept(stream) } else { stream.closeNow() }
            case .failure(let reason):
                onHandshakeFailure?(remote, reason)
            }
        }
    }
}
