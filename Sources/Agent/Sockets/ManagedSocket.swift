import FleetConfig
import FleetCore
import FleetProtocol
import FleetRuntime

/// One device's managed socket (issue #14; Protocol/managed-sockets.md): the `OPEN` line, then
/// raw bytes. Its mapping's endpoint is called for the open event, for each chunk the receive
/// criteria cut, and for the close event, one call at a time and in order; a 2xx answer's body is
/// written back when the mapping says `reply: write`, and an `X-Fleetgate-Close` header closes the
/// socket. While calls fall behind, chunks wait (at most `maxWaitingChunks`), then reading stops:
/// a slow endpoint slows its own device only. Open and close events are retried with backoff;
/// data never is. A mapping with an MQTT endpoint publishes instead of calling (MQTTEndpoint,
/// ManagedSocket+MQTT): its backpressure is the broker's, which holds the socket's reading while a
/// subscriber it feeds is congested (PausableSource). Loop-thread only, like its stream.
final class ManagedSocket: StreamHandler, PausableSource {
    enum Phase {
        case handshake
        /// The line is read; credentials are being checked or the open event is being called.
        case opening
        case open
        /// The device is gone or the socket is being closed: what is queued is still called.
        case closing
        case closed
    }

    let stream: any ByteStream
    unowned let service: SocketService
    private(set) var phase = Phase.handshake
    private var handshake = SocketHandshake()
    private var handshakeTimer: LoopTimer?
    private(set) var socketId: String?
    private(set) var mappingName: String?
    private(set) var mapping: SocketMapping?
    private(set) var clientId = ""
    private var identity: ClientIdentity?
    private var framer: ReceiveFramer?
    private var idleTimer: LoopTimer?
    private let openedAtMs: UInt64
    private var bytesIn: UInt64 = 0
    var bytesOut: UInt64 = 0
    private var calls: UInt64 = 0
    private var errors: UInt64 = 0

    /// What waits to be sent to the endpoint, in order. A ring, not an array: one read can frame
    /// thousands of chunks, and an array's removeFirst moved all the others for every call (7.8 %
    /// of the agent's instructions in the managed-sockets bench).
    private enum Call { case open, data([UInt8]), close }
    private var waiting = RingBuffer<Call>()
    private var callPending = false   // granted or running
    /// Reading stopped by the socket itself (calls behind, bytes before open); the broker's holds
    /// (`isThrottled`) and a peer link's are counted apart, and reading resumes only when none holds it.
    private(set) var readingPaused = false
    var isThrottled = false
    var holdCount = 0
    /// The MQTT endpoint's topics, once the socket has an id and its mapping has one.
    var mqtt: MQTTEndpoint?
    /// Peering (issue #15, ManagedSocket+Peer.swift): the id the device asked for, the peer the
    /// open answer named, and this socket's side of a link while it waits or is linked.
    private var requestedId: String?
    private var answeredPeer: String?
    var peerSide: PeerSide?
    /// Bytes that came after the OPEN line before the socket was open.
    private var early: [UInt8] = []
    static let maxWaitingChunks = 64
    static let eventRetryDelaysMs: [UInt64] = [200, 1_000, 5_000]

    init(stream: any ByteStream, service: SocketService) {
        self.stream = stream
        self.service = service
        openedAtMs = service.broker.now
    }

    func start() {
        service.handshaking += 1
        let timer = LoopTimer(loop: service.loop)
        handshakeTimer = timer
        timer.start(afterMilliseconds: SocketService.handshakeTimeoutMs) { [weak self] in
            self?.refuse(.timeout, "no OPEN line within \(SocketService.handshakeTimeoutMs / 1000) s")
        }
        stream.startReading()
    }

    // MARK: StreamHandler

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        bytesIn &+= UInt64(bytes.count)
        switch phase {
        case .handshake:
            switch handshake.feed(bytes) {
            case .needMore: break
            case .refused(let refusal): refuse(refusal.code, refusal.reason)
            case .complete(let request, let rest): opened(request, rest: rest)
            }
        case .opening:
            // Bounded like the wait for calls: past it, reading pauses until the socket is open.
            early.append(contentsOf: bytes)
            if early.count > SocketLimits.maxChunkBytes { pauseReading() }
        case .open:
            deviceBytes(bytes)
        case .closing, .closed:
            break
        }
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        if phase == .open || phase == .closing { peerSelfEnded() }
        if phase == .handshake || phase == .opening { endHandshake() }
        guard phase != .closed else { return }
        if phase == .open || phase == .opening { deviceClosed() } else { finish() }
    }

    // MARK: Handshake

    private func endHandshake() {
        handshakeTimer?.close()
        handshakeTimer = nil
        if phase == .handshake || phase == .opening { service.handshaking -= 1 }
    }

    private func refuse(_ code: SocketErrorCode, _ reason: String) {
        guard phase == .handshake || phase == .opening else { return }
        endHandshake()
        service.metrics.refused += 1
        service.log.notice("socket from \(stream.remoteAddress) refused: \(code.rawValue) \(reason)")
        stream.write(SocketAnswer.error(code, reason))
        phase = .closed
        stopMQTT()
        stream.close()
        service.forget(self)
    }

    private func opened(_ request: SocketOpenRequest, rest: [UInt8]) {
        phase = .opening
        early = rest
        if let connect = request.peerConnect { return peerConnection(connect, rest: rest) }
        guard let mapping = service.mapping(named: request.mapping) else {
            return refuse(.unknownMapping, "no mapping '\(request.mapping)' on this gateway")
        }
        self.mapping = mapping
        mappingName = request.mapping
        clientId = request.clientId ?? ""
        requestedId = request.requestedId
        authenticate(request) { [weak self] identity in
            guard let self, self.phase == .opening else { return }
            guard let identity else { return self.refuse(.notAuthorized, "bad credentials") }
            if let policy = self.service.broker.security.policy(for: identity), !policy.mayOpenSocket(request.mapping) {
                return self.refuse(.notAuthorized, "not allowed to open '\(request.mapping)'")
            }
            self.identity = identity
            self.authorized()
        }
    }

    /// The MQTT listener's rules: a verified client certificate, else client and password against
    /// the password file (off the loop), else anonymous where allowed.
    private func authenticate(_ request: SocketOpenRequest, _ done: @escaping (ClientIdentity?) -> Void) {
        let security = service.broker.security
        let clientId = request.clientId ?? ""
        if let certificate = stream.tls?.peerCertificate {
            guard let name = security.identity(of: certificate) else { return done(nil) }
            return done(ClientIdentity(clientId: clientId.isEmpty ? name : clientId, certificateCN: name))
        }
        if let password = request.password {
            guard let passwords = security.passwords, !clientId.isEmpty else { return done(nil) }
            guard service.passwordChecks < SocketService.maxPasswordChecks else {
                return refuse(.unavailable, "too many logins are being checked; try again later")
            }
            service.passwordChecks += 1
            let bytes = Array(password.utf8)
            service.loop.runBlocking({ passwords.verify(username: clientId, password: bytes) }) { [service] ok in
                service.passwordChecks -= 1
                done(ok ? ClientIdentity(clientId: clientId, username: clientId) : nil)
            }
            return
        }
        done(security.auth.allowAnonymous ? ClientIdentity(clientId: clientId) : nil)
    }

    private func authorized() {
        if let requestedId {
            guard !service.peering.isTaken(requestedId) else { return refuse(.idTaken, "the id asked for is held by an open socket") }
            socketId = requestedId
        } else {
            do { socketId = try service.nextSocketId() } catch {
                return refuse(.unavailable, "no socket id: \(error)")
            }
        }
        if let socketId { service.peering.register(self, id: socketId) }
        guard let mapping else { return }
        framer = ReceiveFramer(mapping.receive)
        if case .mqtt(let prefix) = mapping.endpoint, let socketId { startMQTT(prefix: prefix, socketId: socketId, mapping: mapping) }
        if mapping.events.contains(.open) {
            enqueue(.open)   // OK follows the open event's answer (or its final failure)
        } else {
            confirmOpen()
        }
    }

    /// `OK <id>`: from here the stream is raw bytes both ways.
    private func confirmOpen() {
        guard phase == .opening, let socketId else { return }
        endHandshake()
        phase = .open
        service.metrics.opened += 1
        stream.write(SocketAnswer.ok(socketId: socketId))
        service.log.info("socket \(socketId) open: \(mappingName ?? "?") for \(identityName.isEmpty ? "anonymous" : identityName) at \(stream.remoteAddress)")
        let first = early
        early = []
        if let mapping { joinPeering(peer: answeredPeer, mapping: mapping) }
        if readingPaused { resumeReading() }
        if !first.isEmpty { first.withUnsafeBytes { deviceBytes($0) } }
    }

    /// The device's bytes once open: to the peer when linked or waiting (and to the receive
    /// criteria too with `peer_and_data`), else to the receive criteria.
    private func deviceBytes(_ bytes: UnsafeRawBufferPointer) {
        if peerReceived(bytes) {
            if mapping?.peerAndData == true { received(Array(bytes)) }
        } else {
            received(Array(bytes))
        }
    }

    /// `PEER <socket-id> <secret>` (issue #15): another agent's half of a cross-gateway link,
    /// handed to a RemotePeer when this agent expects it, refused otherwise.
    private func peerConnection(_ connect: SocketPeerConnect, rest: [UInt8]) {
        service.peering.accept(connect, stream: stream) { [weak self] remote in
            guard let self, self.phase == .opening else { return }
            guard let remote else { return self.refuse(.notAuthorized, "no such peer link") }
            self.endHandshake()
            self.phase = .closed
            let held = self.early  // what followed the line, also while it waited for the match
            self.early = []
            self.service.forget(self)
            remote.received(held)
            self.stream.startReading()  // paused if much came while it waited for the match
        }
    }

    var identityName: String { identity?.username ?? identity?.certificateCN ?? "" }

    // MARK: Data

    private func received(_ bytes: [UInt8]) {
        guard var framer, let mapping else { return }
        let events = framer.feed(bytes, now: service.loop.now)
        self.framer = framer
        handle(events, mapping)
        armIdleTimer()
    }

    private func handle(_ events: [ReceiveFramer.Event], _ mapping: SocketMapping) {
        for event in events {
            switch event {
            case .chunk(let chunk):
                if mapping.events.contains(.data) { enqueue(.data(chunk)) }
            case .error(let e):
                errors += 1
                service.log.notice("socket \(socketId ?? "?"): framing: \(e)")
                if mapping.onError == .close { return close(reason: "framing error: \(e)") }
            }
        }
    }

    private func armIdleTimer() {
        guard let deadline = framer?.deadline else { idleTimer?.stop(); return }
        let timer = idleTimer ?? LoopTimer(loop: service.loop)
        idleTimer = timer
        let now = service.loop.now
        timer.start(afterMilliseconds: deadline > now ? deadline - now : 1) { [weak self] in
            guard let self, var framer = self.framer, let mapping = self.mapping else { return }
            let events = framer.flush(now: self.service.loop.now)
            self.framer = framer
            self.handle(events, mapping)
            self.armIdleTimer()
        }
    }

    private func enqueue(_ call: Call) {
        waiting.append(call)
        if waiting.count >= Self.maxWaitingChunks { pauseReading() }
        callNext()
    }

    func pauseReading() {
        guard !readingPaused else { return }
        readingPaused = true
        stream.stopReading()
    }

    func resumeReading() {
        guard readingPaused, phase == .open else { return }
        readingPaused = false
        if peerSide?.link.isReadingPaused == true { return }  // the link holds it paused for now
        if !isThrottled { stream.startReading() }
    }

    // PausableSource: the broker's holds (an MQTT endpoint's congested subscriber, a full forward log).
    func pauseInput() { stream.stopReading() }

    func resumeInput() {
        guard phase == .open, !readingPaused else { return }
        if peerSide?.link.isReadingPaused == true { return }
        stream.startReading()
    }

    private func callNext() {
        guard !callPending, !waiting.isEmpty, let mapping, let name = mappingName else { return }
        if mqtt != nil { return publishWaiting() }
        callPending = true
        service.requestCall(for: self, mapping: name, limit: mapping.maxConcurrency)
    }

    /// The mapping's gate let this socket call: the first waiting call goes.
    func callGranted() {
        guard phase != .closed, let call = waiting.popFirst() else {
            callPending = false
            return service.releaseCall(mapping: mappingName ?? "")
        }
        if waiting.count < Self.maxWaitingChunks / 2 { resumeReading() }
        perform(call, attempt: 0)
    }

    private func perform(_ call: Call, attempt: Int) {
        guard let mapping, case .webhook(let hook) = mapping.endpoint, let name = mappingName else { return }
        let event = eventName(call)
        let body: [UInt8] = if case .data(let chunk) = call { chunk } else { [] }
        var headers = HTTPHeaders()
        for (k, v) in hook.headers.sorted(by: { $0.key < $1.key }) { headers.add(name: k, value: v) }
        headers.add(name: "Content-Type", value: "application/octet-stream")
        headers.add(name: "X-Fleetgate-Event", value: event)
        headers.add(name: "X-Fleetgate-Socket", value: socketId ?? "")
        headers.add(name: "X-Fleetgate-Client", value: clientId)
        headers.add(name: "X-Fleetgate-Identity", value: identityName)
        headers.add(name: "X-Fleetgate-Gateway", value: service.gatewayId)
        headers.add(name: "X-Fleetgate-Mapping", value: name)
        let request = HTTPRequest(url: hook.url, headers: headers, body: body, timeoutMs: UInt32(hook.timeoutMs), caFile: hook.caFile)
        let started = service.loop.now
        let client: HTTPClient
        do { client = try service.http() } catch {
            return answered(call, attempt: attempt, started: started, .failure(HTTPClientError(kind: .other, message: "\(error)")))
        }
        calls += 1
        client.send(request) { [weak self] result in
            guard let self else { return }
            self.answered(call, attempt: attempt, started: started, result)
        }
    }

    private func answered(_ call: Call, attempt: Int, started: UInt64, _ result: Result<HTTPResponse, HTTPClientError>) {
        let latency = service.loop.now &- started
        let failure: String? = switch result {
        case .success(let r) where (200..<300).contains(r.status): nil
        case .success(let r): "status \(r.status)"
        case .failure(let e): "\(e)"
        }
        // Open and close events are retried with backoff, data never: the slot is kept meanwhile,
        // so the socket's calls stay in order.
        if let failure, attempt < Self.eventRetryDelaysMs.count, !isData(call) {
            service.log.notice("socket \(socketId ?? "?"): \(eventName(call)) event failed (\(failure)); retrying")
            let timer = LoopTimer(loop: service.loop)
            timer.start(afterMilliseconds: Self.eventRetryDelaysMs[attempt]) { [weak self] in
                timer.close()
                self?.perform(call, attempt: attempt + 1)
            }
            return
        }
        callPending = false
        service.callEnded(mapping: mappingName ?? "", latencyMs: latency, failed: failure != nil)
        if let failure {
            errors += 1
            service.log.notice("socket \(socketId ?? "?"): \(eventName(call)) call failed: \(failure)")
            switch call {
            case .open:
                if mapping?.onError == .close { return refuse(.unavailable, "the open event failed: \(failure)") }
                confirmOpen()
            case .data:
                if mapping?.onError == .close { return close(reason: "the endpoint failed: \(failure)") }
            case .close:
                break
            }
        } else if case .success(let response) = result {
            var bodyConsumed = false
            if case .open = call {
                do throws(SocketPeerAnswer.Problem) {
                    let answer = try SocketPeerAnswer.read(headerValue: response.headers[SocketPeerAnswer.header], body: response.body)
                    answeredPeer = answer.peer
                    bodyConsumed = answer.bodyConsumed
                } catch {
                    errors += 1
                    return refuse(.unavailable, "the open event's answer: \(error.message)")
                }
                confirmOpen()
            }
            if mapping?.reply == .write, !bodyConsumed, !response.body.isEmpty, phase == .open || phase == .closing {
                bytesOut &+= UInt64(response.body.count)
                stream.write(response.body)
            }
            if let close = response.headers["X-Fleetgate-Close"], close != "0", phase == .open {
                return self.close(reason: "the endpoint asked")
            }
        }
        if case .close = call { return finish() }
        callNext()
        if phase == .closing && waiting.isEmpty && !callPending { finish() }
    }

    private func isData(_ call: Call) -> Bool { if case .data = call { true } else { false } }

    /// An MQTT endpoint's calls: each published at once and in order (publishing does not wait),
    /// the open event before `OK`, the close event last.
    private func publishWaiting() {
        while let mqtt, let call = waiting.popFirst() {
            calls += 1
            switch call {
            case .open: publish(mqtt.event("open"))
            case .data(let chunk): publish(mqtt.chunk(chunk))
            case .close: publish(mqtt.event("close"))
            }
            service.callEnded(mapping: mappingName ?? "", latencyMs: 0, failed: false, gated: false)
            switch call {
            case .open: confirmOpen()
            case .data: break
            case .close: return finish()
            }
        }
        // Nothing waits now; closing ends in `startClosing` (the close event, or at once).
        if readingPaused { resumeReading() }
    }

    private func eventName(_ call: Call) -> String {
        switch call {
        case .open: "open"
        case .data: "data"
        case .close: "close"
        }
    }

    // MARK: Closing

    /// The device ended the stream: what the framer holds goes as a last chunk, then the close
    /// event, then the socket closes.
    private func deviceClosed() {
        guard phase == .open, let mapping else { return finish() }
        phase = .closing
        if var framer {
            let events = framer.finish()
            self.framer = framer
            handle(events, mapping)
        }
        startClosing(mapping)
    }

    /// Closes the socket after the calls already waiting (a close asked by the endpoint, an error).
    func close(reason: String) {
        guard phase == .open, let mapping else { return }
        service.log.info("socket \(socketId ?? "?"): closing: \(reason)")
        phase = .closing
        stream.stopReading()
        startClosing(mapping)
    }

    private func startClosing(_ mapping: SocketMapping) {
        idleTimer?.close()
        idleTimer = nil
        if mapping.events.contains(.close) {
            enqueue(.close)
        } else if waiting.isEmpty && !callPending {
            finish()
        }
    }

    private func finish() {
        guard phase != .closed else { return }
        peerSelfEnded()
        if phase == .handshake || phase == .opening { endHandshake() }
        phase = .closed
        stopMQTT()
        idleTimer?.close()
        idleTimer = nil
        if socketId != nil { service.metrics.closed += 1 }
        stream.close()
        service.forget(self)
    }

    /// The agent stops: closed now, no events.
    func abort() {
        waiting.removeAll()
        finish()
    }

    func reportEntry() -> FleetFrame.SocketReport.Socket? {
        guard let socketId, phase == .open || phase == .closing, let mappingName else { return nil }
        return .init(socketId: socketId, mapping: mappingName, clientId: String(clientId.utf8.prefix(FleetLimits.maxSocketClientIdBytes)) ?? "",
                     identity: String(identityName.utf8.prefix(FleetLimits.maxSocketClientIdBytes)) ?? "", openedMs: openedAtMs,
                     bytesIn: bytesIn, bytesOut: bytesOut, calls: calls, errors: errors, state: phase == .open ? .open : .closing)
    }
}
