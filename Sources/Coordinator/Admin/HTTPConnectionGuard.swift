import NIOCore
import NIOHTTPTypes
import Synchronization

/// The admin listener's cap on open connections (issue #10 §3.2), shared by every connection.
/// Sendable: atomics only. A connection past the cap is closed as soon as it is accepted and
/// counted, so idle connections can never hold the process's descriptors.
public final class HTTPConnectionLimiter: Sendable {
    public let maxConnections: Int
    private let open = Atomic<Int>(0)
    private let refused = Atomic<UInt64>(0)

    public init(maxConnections: Int) {
        self.maxConnections = maxConnections
    }

    /// Takes a slot; false (and counted as refused) when all are taken.
    func admit() -> Bool {
        if open.add(1, ordering: .relaxed).newValue > maxConnections {
            open.subtract(1, ordering: .relaxed)
            refused.add(1, ordering: .relaxed)
            return false
        }
        return true
    }

    func release() { open.subtract(1, ordering: .relaxed) }

    /// Connections holding a slot now.
    public var openConnections: Int { open.load(ordering: .relaxed) }
    /// Connections closed at accept because the cap was reached (monotonic).
    public var refusedConnections: UInt64 { refused.load(ordering: .relaxed) }
}

/// Per admin connection, after HTTP decoding: enforces the connection cap and the request-read
/// deadline. **Runs on the connection's NIO event loop** (a channel handler).
///
/// The deadline starts when the connection opens and again after each response; it ends when the
/// request's last part (`.end`) has been read. A client that sends its head or body too slowly
/// (slowloris) is closed when it passes. Hummingbird's idle timeout cannot do this: it counts from
/// the last *decoded* part, and a half-sent head decodes nothing.
final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let limiter: HTTPConnectionLimiter
    private let requestTimeout: TimeAmount
    private var started = false
    private var admitted = false
    private var deadline: Scheduled<Void>?

    init(limiter: HTTPConnectionLimiter, requestTimeout: TimeAmount) {
        self.limiter = limiter
        self.requestTimeout = requestTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        // A refused connection is closing: the handlers behind (Hummingbird's idle timer) never
        // see it become active.
        guard start(context) else { return }
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .end = unwrapInboundIn(data) {
            deadline?.cancel()
            deadline = nil
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        if isEnd { arm(context) }   // the next request on this keep-alive connection
    }

    /// Takes a slot and arms the deadline once; false when the cap refused the connection.
    @discardableResult
    private func start(_ context: ChannelHandlerContext) -> Bool {
        guard !started else { return admitted }
        started = true
        guard limiter.admit() else {
            context.close(promise: nil)
            return false
        }
        admitted = true
        let limiter = self.limiter
        context.channel.closeFuture.whenComplete { _ in limiter.release() }
        arm(context)
        return true
    }

    private func arm(_ context: ChannelHandlerContext) {
        deadline?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        deadline = context.eventLoop.scheduleTask(in: requestTimeout) {
            loopBound.value.close(promise: nil)
        }
    }
}
