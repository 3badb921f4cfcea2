internal import CCurl
internal import CLibUV
internal import Glibc
import FleetCore

/// An HTTP/1.1 (and HTTP/2 over TLS, by ALPN) client on the loop: libcurl's multi interface
/// driven by libuv, for the webhook endpoints of managed sockets (#14).
///
/// **Loop-thread only (not Sendable).** Create, `send`, `cancel` and `close` on the loop's thread;
/// completions run there too, always after `send` returned (never inside it).
///
/// How it is driven (one `CURLM` per client; make one client per loop):
/// - curl's socket callback keeps one `uv_poll_t` per curl socket (a ``HTTPClient`` `CurlSocket`,
///   found again through `curl_multi_assign`); a poll event calls `curl_multi_socket_action`.
/// - curl's timer callback drives one `uv_timer` (0 ms becomes 1 ms, -1 stops it); the timer
///   calls `curl_multi_socket_action(CURL_SOCKET_TIMEOUT)`.
/// - After each action, `curl_multi_info_read` reports finished transfers.
/// Nothing blocks the loop: DNS runs on curl's threaded resolver (`hasAsynchronousDNS`, checked by
/// `init`), and `CURLOPT_QUICK_EXIT` keeps a cancel or timeout during a lookup from joining the
/// resolver thread (curl 7.88 otherwise waits for getaddrinfo to return).
///
/// Keep-alive: the multi handle's connection cache outlives each request, so a request to a host
/// that an earlier one left an idle connection to reuses it (`HTTPResponse.reusedConnection`);
/// at most `maximumIdleConnections` idle connections are kept. Easy handles are reused too: a
/// finished transfer's handle is reset (`curl_easy_reset`, which keeps its download buffer) and
/// kept for the next request, at most `maximumIdleConnections` of them, instead of a
/// `curl_easy_init`/`curl_easy_cleanup` pair per request (an allocation of the handle and its
/// 16 KiB buffer each time; seen in the managed-sockets bench, #14).
///
/// Bounds: at most `maximumInFlight` transfers run at once; further requests wait in a FIFO of at
/// most `maximumQueuedRequests`, and a request past that fails at once with `.overloaded`. A
/// request's `timeoutMs` counts from `send`; a queued request whose time ran out fails with
/// `.timeout` when a slot frees (no later than the running requests' own timeouts). A response
/// body over `maximumResponseBodyBytes` (headers over `maximumResponseHeaderBytes`) ends the
/// transfer with `.responseTooLarge`; the connection is dropped, never reused.
///
/// Ownership: the client's timer handle retains the client until `close()` (or
/// `EventLoop.shutdown()`, which closes it), like a ``TCPServer``. `close()` fails every pending
/// request with `.closed` and releases every curl and libuv handle.
public final class HTTPClient {
    public struct Configuration: Sendable {
        /// Transfers running at once; more wait in the queue.
        public var maximumInFlight: Int
        /// Requests waiting for a slot; more fail with `.overloaded`.
        public var maximumQueuedRequests: Int
        /// Default for requests that set no `maximumResponseBodyBytes`.
        public var maximumResponseBodyBytes: Int
        /// All header lines of a response together.
        public var maximumResponseHeaderBytes: Int
        /// Idle keep-alive connections kept in the cache (CURLMOPT_MAXCONNECTS).
        public var maximumIdleConnections: Int

        public init(maximumInFlight: Int = 256, maximumQueuedRequests: Int = 4_096,
                    maximumResponseBodyBytes: Int = 1 << 20, maximumResponseHeaderBytes: Int = 64 << 10,
                    maximumIdleConnections: Int = 64) {
            self.maximumInFlight = max(1, maximumInFlight)
            self.maximumQueuedRequests = max(0, maximumQueuedRequests)
            self.maximumResponseBodyBytes = max(0, maximumResponseBodyBytes)
            self.maximumResponseHeaderBytes = max(256, maximumResponseHeaderBytes)
            self.maximumIdleConnections = max(0, maximumIdleConnections)
        }
    }

    /// libcurl's version, e.g. "7.88.1".
    public static var libraryVersion: String {
        _ = globalInit
        return String(cString: shim_curl_version())
    }

    /// Whether this libcurl resolves names off the calling thread (CURL_VERSION_ASYNCHDNS):
    /// Debian's libcurl4-openssl-dev uses the threaded resolver.
    public static var hasAsynchronousDNS: Bool {
        _ = globalInit
        return shim_curl_has_async_dns() != 0
    }

    /// curl_global_init, once per process (thread-safe through Swift's lazy static init); never
    /// cleaned up: the library lives as long as the process.
    private static let globalInit: Int32 = Int32(bitPattern: curl_global_init(Int(CURL_GLOBAL_DEFAULT)).rawValue)

    public let configuration: Configuration
    let eventLoop: EventLoop
    /// The CURLM; valid until `close()`.
    let multi: UnsafeMutableRawPointer
    /// curl's one timeout; retains `self` in `data` until its close callback.
    let timer: UnsafeMutablePointer<uv_timer_t>
    /// Transfers handed to curl, by their easy handle.
    var running: [UnsafeMutableRawPointer: HTTPTransfer] = [:]
    /// Transfers waiting for a slot, oldest first.
    var queue = RingBuffer<HTTPTransfer>()
    /// The sockets curl asked us to watch, by descriptor.
    var sockets: [Int32: CurlSocket] = [:]
    /// Reset easy handles of finished transfers, for the next ones (see the type's comment).
    private var spareEasyHandles: [UnsafeMutableRawPointer] = []
    public private(set) var isClosed = false
    private var nextTransferID: UInt64 = 0

    /// Throws `.other` when the loop is shut down, curl cannot make a multi handle, or this
    /// libcurl has no asynchronous DNS (a lookup would then block the loop).
    public init(loop: EventLoop, configuration: Configuration = Configuration()) throws(HTTPClientError) {
        guard Self.globalInit == 0 else {
            throw HTTPClientError(kind: .other, message: "curl_global_init failed (\(Self.globalInit))")
        }
        guard Self.hasAsynchronousDNS else {
            throw HTTPClientError(kind: .other, message: "libcurl \(Self.libraryVersion) has no asynchronous DNS: lookups would block the loop")
        }
        guard !loop.isShutDown else { throw HTTPClientError(kind: .closed, message: "the event loop is shut down") }
        guard let multi = curl_multi_init() else { throw HTTPClientError(kind: .other, message: "curl_multi_init failed") }
        self.configuration = configuration
        self.eventLoop = loop
        self.multi = multi
        timer = allocateUV(uv_timer_t.self)
        uv_timer_init(loop.loop, timer)          // cannot fail on Unix
        retainOwner(self, in: timer)

        let me = Unmanaged.passUnretained(self).toOpaque()   // the multi dies in close(), before self
        shim_multi_setopt_ptr(multi, CURLMOPT_SOCKETDATA, me)
        shim_multi_setopt_socket_function(multi) { _, fd, what, client, socket in
            Unmanaged<HTTPClient>.fromOpaque(client!).takeUnretainedValue().watch(fd: fd, what: what, socket: socket)
            return 0
        }
        shim_multi_setopt_ptr(multi, CURLMOPT_TIMERDATA, me)
        shim_multi_setopt_timer_function(multi) { _, timeoutMs, client in
            Unmanaged<HTTPClient>.fromOpaque(client!).takeUnretainedValue().schedule(timeoutMs: timeoutMs)
            return 0
        }
        shim_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, configuration.maximumIdleConnections)
    }

    /// Requests handed to curl and not finished.
    public var inFlightCount: Int { running.count }
    /// Requests waiting for a slot.
    public var queuedCount: Int { queue.count }
    /// Sockets curl has asked the loop to watch right now (one `uv_poll_t` each).
    public var watchedSocketCount: Int { sockets.count }
    /// Reset easy handles kept for the next requests.
    public var spareEasyHandleCount: Int { spareEasyHandles.count }

    /// Starts `request` (or queues it); `completion` runs exactly once on the loop, later, unless
    /// the request is cancelled first. A non-2xx status is a `.success`.
    @discardableResult
    public func send(_ request: HTTPRequest,
                     completion: @escaping (Result<HTTPResponse, HTTPClientError>) -> Void) -> HTTPRequestHandle {
        nextTransferID &+= 1
        let transfer = HTTPTransfer(client: self, id: nextTransferID, request: request, completion: completion,
                                    deadline: eventLoop.now + UInt64(request.timeoutMs),
                                    bodyLimit: request.maximumResponseBodyBytes ?? configuration.maximumResponseBodyBytes,
                                    headerLimit: configuration.maximumResponseHeaderBytes)
        let handle = HTTPRequestHandle(transfer: transfer)
        if isClosed {
            failLater(transfer, HTTPClientError(kind: .closed, message: "the HTTP client is closed"))
        } else if let invalid = transfer.validate() {
            failLater(transfer, invalid)
        } else if running.count < configuration.maximumInFlight && queue.isEmpty {
            start(transfer)
        } else if queue.count < configuration.maximumQueuedRequests {
            queue.append(transfer)
        } else {
            failLater(transfer, HTTPClientError(kind: .overloaded, message:
                "\(running.count) requests in flight and \(queue.count) queued (the limit)"))
        }
        return handle
    }

    /// Fails every pending request with `.closed` (after releasing everything, so a completion
    /// sees a closed client), cleans up the multi handle and its cached connections, and closes
    /// every libuv handle. Idempotent; `send` afterwards fails with `.closed`.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        let inFlight = running.values.sorted { $0.id < $1.id }
        for transfer in inFlight { detach(transfer) }
        let queued = queue.elements
        queue.removeAll()
        curl_multi_cleanup(multi)       // closes the cached connections (socket callbacks: REMOVE)
        for easy in spareEasyHandles { curl_easy_cleanup(easy) }
        spareEasyHandles.removeAll()
        for socket in sockets.values { socket.close() }
        sockets.removeAll()
        closeLoopHandle(uvHandle(timer))
        let error = HTTPClientError(kind: .closed, message: "the HTTP client was closed")
        for transfer in inFlight + queued { transfer.deliver(.failure(error)) }
    }

    // MARK: - Transfers

    /// Hands `transfer` to curl. A transfer that cannot start fails on a later loop turn.
    private func start(_ transfer: HTTPTransfer) {
        let now = eventLoop.now
        guard transfer.deadline > now else {
            failLater(transfer, HTTPClientError(kind: .timeout, message:
                "timed out after \(transfer.request.timeoutMs) ms waiting for a free slot"))
            return
        }
        let easy: UnsafeMutableRawPointer
        do throws(HTTPClientError) {
            easy = try transfer.makeEasyHandle(timeoutMs: transfer.deadline - now)
        } catch {
            transfer.releaseEasyHandle()
            failLater(transfer, error)
            return
        }
        running[easy] = transfer
        let rc = curl_multi_add_handle(multi, easy)
        if rc != CURLM_OK {
            running[easy] = nil
            transfer.releaseEasyHandle()
            failLater(transfer, HTTPClientError(kind: .other, message: "curl_multi_add_handle: " + String(cString: curl_multi_strerror(rc))))
        }
        // curl_multi_add_handle asked for a timeout of 0 through the timer callback: the
        // transfer begins on the next loop turn.
    }

    /// An easy handle for a new transfer: a spare one (reset, no options set) or a new one.
    func takeEasyHandle() -> UnsafeMutableRawPointer? {
        spareEasyHandles.popLast() ?? curl_easy_init()
    }

    /// A transfer is done with `easy` (no longer in the multi): reset and kept for the next
    /// transfer, or freed when enough are kept or the client is closed. The reset drops every
    /// option, so nothing of the old transfer (callback data, header list, error buffer, body)
    /// is referenced any more.
    func recycle(_ easy: UnsafeMutableRawPointer) {
        if !isClosed && spareEasyHandles.count < configuration.maximumIdleConnections {
            curl_easy_reset(easy)
            spareEasyHandles.append(easy)
        } else {
            curl_easy_cleanup(easy)
        }
    }

    /// Takes `transfer` out of curl and frees its easy handle (a connection in mid-transfer is
    /// closed; a finished one goes back to the cache).
    private func detach(_ transfer: HTTPTransfer) {
        guard let easy = transfer.easy else { return }
        running[easy] = nil
        curl_multi_remove_handle(multi, easy)
        transfer.releaseEasyHandle()
    }

    /// Fills free slots from the queue.
    private func startQueued() {
        while !isClosed && running.count < configuration.maximumInFlight, let next = queue.popFirst() {
            start(next)
        }
    }

    /// Delivers `error` on a later loop turn (never inside `send`), unless cancelled meanwhile.
    private func failLater(_ transfer: HTTPTransfer, _ error: HTTPClientError) {
        eventLoop.runSoon { transfer.deliver(.failure(error)) }
    }

    func cancel(_ transfer: HTTPTransfer) {
        guard transfer.completion != nil else { return }
        transfer.completion = nil
        if transfer.easy != nil {
            detach(transfer)
            startQueued()
        } else if let index = queue.firstIndex(where: { $0 === transfer }) {
            _ = queue.remove(at: index)
        }
        // else: a failure waiting in runSoon; deliver() finds no completion.
    }

    /// Reports every transfer curl finished. Completions run here and may send, cancel or close.
    private func processCompletions() {
        var left: Int32 = 0
        while !isClosed, let message = curl_multi_info_read(multi, &left) {
            guard shim_msg_is_done(message) != 0, let easy = message.pointee.easy_handle else { continue }
            let code = shim_msg_result(message)
            guard let transfer = running[easy] else { continue }
            let result = transfer.result(code)
            detach(transfer)
            startQueued()
            transfer.deliver(result)
        }
    }

    // MARK: - curl's callbacks (inside curl: no curl_multi_* calls but curl_multi_assign)

    /// The socket callback: watch `fd` for `what` (CURL_POLL_IN/OUT/INOUT) or stop (REMOVE).
    private func watch(fd: Int32, what: Int32, socket pointer: UnsafeMutableRawPointer?) {
        let existing = pointer.map { Unmanaged<CurlSocket>.fromOpaque($0).takeUnretainedValue() } ?? sockets[fd]
        if what == CURL_POLL_REMOVE {
            if let existing {
                sockets[fd] = nil
                existing.close()
            }
            return
        }
        guard !isClosed else { return }
        let socket: CurlSocket
        if let existing {
            socket = existing
        } else {
            guard let made = CurlSocket(client: self, fd: fd) else { return }  // the timeout ends the transfer
            socket = made
            sockets[fd] = made
            curl_multi_assign(multi, fd, Unmanaged.passUnretained(made).toOpaque())
        }
        var events: Int32 = 0
        if what & CURL_POLL_IN != 0 { events |= Int32(UV_READABLE.rawValue) }
        if what & CURL_POLL_OUT != 0 { events |= Int32(UV_WRITABLE.rawValue) }
        socket.watch(events)
    }

    /// The timer callback: -1 stops the timer, 0 becomes 1 ms (the action must not run inside
    /// curl's own call).
    private func schedule(timeoutMs: Int) {
        guard !isClosed else { return }
        if timeoutMs < 0 {
            uv_timer_stop(timer)
            return
        }
        uv_timer_start(timer, { timer in
            Unmanaged<HTTPClient>.fromOpaque(timer!.pointee.data!).takeUnretainedValue().timedOut()
        }, UInt64(max(1, timeoutMs)), 0)
    }

    // MARK: - Loop events

    private func timedOut() {
        guard !isClosed else { return }
        var stillRunning: Int32 = 0
        curl_multi_socket_action(multi, shim_socket_timeout(), 0, &stillRunning)
        processCompletions()
    }

    /// A watched socket is ready (or failed: `status` < 0, and libuv stopped its poll).
    func socketReady(_ socket: CurlSocket, status: Int32, events: Int32) {
        guard !isClosed else { return }
        var flags: Int32 = 0
        if status < 0 {
            flags = CURL_CSELECT_ERR
        } else {
            if events & Int32(UV_READABLE.rawValue) != 0 { flags |= CURL_CSELECT_IN }
            if events & Int32(UV_WRITABLE.rawValue) != 0 { flags |= CURL_CSELECT_OUT }
        }
        var stillRunning: Int32 = 0
        curl_multi_socket_action(multi, socket.fd, flags, &stillRunning)
        // libuv stopped a poll that reported an error; if curl still wants the socket (it asks
        // again only when what it wants changes), watch it again.
        if status < 0 && !isClosed && sockets[socket.fd] === socket { socket.rewatch() }
        processCompletions()
    }
}

extension HTTPClient: LoopHandleOwner {
    func handleDidClose() {}
    func closeForShutdown() { close() }
}

/// What `send` returns: cancels its request. Loop-thread only.
public struct HTTPRequestHandle {
    weak var transfer: HTTPTransfer?

    /// Stops the request (its connection is closed if it was in the middle of it); its completion
    /// will not be called. No effect once the completion ran.
    public func cancel() {
        transfer?.cancel()
    }

    /// The completion ran or the request was cancelled.
    public var isFinished: Bool { transfer?.completion == nil }
}
