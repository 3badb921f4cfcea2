import FleetCore
import FleetProtocol
import FleetRuntime
import Foundation
import Logging

/// The coordinator's fabric state and the link server: gateway registry and graph, the interest
/// index, routing and delivery tracking, and every gateway connection.
///
/// **Threading: one loop thread owns all of it.** Connections, frames, timers and SQLite writes run
/// on the FleetRuntime `EventLoop` thread; there are no locks on the hot path (a FORWARD is one
/// trie walk and a copy into each destination's writer). Other threads (the HTTP API on Swift
/// concurrency) reach this object only through the ``LoopMailbox`` (see ``FabricBridge``).
public final class Fabric {
    let config: CoordinatorConfig
    private let token: [UInt8]
    let log: Logger
    let loop: EventLoop
    let store: GraphStore
    /// Wall clock in ms since the Unix epoch (injected for tests of the shell).
    let wallClock: () -> UInt64

    /// Every gateway ever seen (the graph's nodes), by id.
    var gateways: [String: GatewayRecord] = [:]
    /// gateway <-> coordinator edges, by gateway id.
    var links: [String: GraphLink] = [:]
    /// Established gateway links (their connections) by gateway id.
    var gatewayConnections: [String: GatewayConnection] = [:]
    /// Every open connection (handshaking, established, closing), by serial.
    var connections: [UInt64: GatewayConnection] = [:]
    private var nextSerial: UInt64 = 1

    let interest = InterestIndex()
    var delivery = DeliveryTracker()
    public internal(set) var counters = FabricCounters()

    /// Closes the link listener (plain TCP or TLS).
    private var closeListener: (() -> Void)?
    /// The link listener's TLS context (`link_tls`), reloaded on SIGHUP.
    private var linkTLSContext: TLSContext?
    private var sweepTimer: LoopTimer?
    private var lastPersistMs: UInt64 = 0
    private(set) var isShuttingDown = false
    /// Recovery after a restart (Fabric+Recovery): gateways still to come back, and origins that
    /// forwarded while confirmations were held.
    /// Failed HELLOs per source host: repeated failures delay that host's next HELLO (the agent's
    /// login rule, `LoginFailureTable`), so a token guesser gets a few tries a second, not
    /// thousands. Logged at most every `authFailureLogIntervalMs`, with the count in between.
    var helloFailures = LoginFailureTable()
    var lastAuthFailureLogMs: UInt64?
    var authFailuresNotLogged = 0
    static let authFailureLogIntervalMs: UInt64 = 10_000
    var recoveryAwaiting: Set<String> = []
    var recoveryOrigins: Set<String> = []
    var recoveryDeadlineMs: UInt64 = 0
    private var wasActiveBeforeStart: Set<String> = []

    public init(config: CoordinatorConfig, token: [UInt8], loop: EventLoop, store: GraphStore, logger: Logger,
                wallClock: @escaping () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }) throws {
        self.config = config
        self.token = token
        self.loop = loop
        self.store = store
        self.log = logger
        self.wallClock = wallClock
        // A restart: nobody is connected yet; the graph is kept. Who was up before decides how
        // long confirmations are held (Fabric+Recovery).
        wasActiveBeforeStart = Set(try store.loadGateways().filter { $0.state != .down }.map(\.id))
        try store.markAllDown()
        for g in try store.loadGateways() { gateways[g.id] = g }
        for l in try store.loadLinks() where l.kind == .coordinator { links[l.source] = l }
    }

    /// Binds the link listener, starts the sweep and the per-turn acknowledgement flush.
    /// Returns the bound "host:port".
    public func start() throws -> String {
        let address = try listen()
        let sweep = LoopTimer(loop: loop)
        sweep.start(afterMilliseconds: CoordinatorLimits.sweepIntervalMs, repeatEveryMilliseconds: CoordinatorLimits.sweepIntervalMs) { [unowned self] in
            self.sweep()
        }
        sweepTimer = sweep
        // Once per loop turn, before the sockets are flushed: one DELIVERY_ACK per origin whose
        // confirmations moved during the turn.
        loop.addBeforeSleepHook { [unowned self] in self.flushAcknowledgements() }
        beginRecovery(awaiting: wasActiveBeforeStart)
        return address
    }

    /// The link listener: TCP, or TLS when `link_tls` is set (mutual TLS with a client CA; the
    /// certificate's names are checked against HELLO in `hello`). Streams reach `accept` only
    /// after a completed handshake.
    private func listen() throws -> String {
        guard let tls = config.linkTLS else {
            let server = try TCPServer(loop: loop, host: config.link.host, port: config.link.port) { [unowned self] in self.accept($0) }
            // At most every 10 s while accepting fails (out of descriptors); the listener backs off itself.
            server.onAcceptError = { [log, unowned server] error in
                log.warning("link listener: \(error); refusing connections with back-off (\(server.refusedConnections) refused, \(server.acceptPauses) pauses so far)")
            }
            closeListener = { server.close() }
            log.info("link listening on \(server.localAddress)")
            return server.localAddress
        }
        let context = try TLSContext(tls.serverConfiguration)
        linkTLSContext = context
        let server = try TLSServer(loop: loop, host: config.link.host, port: config.link.port, context: context) { [unowned self] in
            self.accept($0)
        }
        server.onAcceptError = { [log] error in
            log.warning("link listener (TLS): \(error); refusing connections with back-off")
        }
        server.onHandshakeFailure = { [unowned self] remote, reason in
            counters.tlsHandshakeFailures += 1
            log.warning("TLS handshake with \(remote) failed: \(reason)")
        }
        closeListener = { server.close() }
        log.info("link listening on \(server.localAddress) (TLS\(tls.requiresClientCertificate ? ", client certificates required" : ""))")
        return server.localAddress
    }

    private func accept(_ stream: any ByteStream) {
        guard !isShuttingDown else { stream.closeNow(); return }
        let connection = GatewayConnection(fabric: self, stream: stream, serial: nextSerial, now: loop.now)
        nextSerial += 1
        connections[connection.serial] = connection
        connection.start()
        log.debug("connection \(connection.serial) from \(stream.remoteAddress)")
    }

    // MARK: - Sessions

    /// A connection's stream closed (any reason).
    func connectionClosed(_ connection: GatewayConnection, wasEstablished: Bool, error: RuntimeError?) {
        connections[connection.serial] = nil
        if wasEstablished { sessionEnded(connection) }
        if let error { log.debug("connection \(connection.serial) closed: \(error)") }
        if isShuttingDown { shutdownProgress?() }
    }

    /// An established session ended: forget the gateway from routing and interest; its pending
    /// confirmations are dropped (as origin) or released (as destination); it is marked down
    /// unless a newer session replaced it. Idempotent per connection.
    func sessionEnded(_ connection: GatewayConnection) {
        guard let id = connection.gatewayId, gatewayConnections[id] === connection else { return }
        gatewayConnections[id] = nil
        broadcast(interest.removeMember(id))
        delivery.originDown(id)
        delivery.destinationDown(id)
        guard !connection.replaced else { return }
        let now = wallClock()
        if var g = gateways[id] {
            g.state = .down
            g.lastSeenMs = lastSeenWallMs(connection, now: now)
            g.remoteAddress = nil
            g.load = nil
            gateways[id] = g
            persist(g)
        }
        setLink(id, .down, now: now)
        log.info("gateway \(id) down")
    }

    /// A full REMOTE_INTEREST snapshot of every other gateway's interest, under a new epoch.
    /// None while recovering: the union still lacks the gateways not back yet, and a snapshot of
    /// it would make the agent drop its older, complete view and stop forwarding to them; agents
    /// keep that view until endRecovery sends every gateway the whole union.
    func sendInterestSnapshot(on c: GatewayConnection) {
        guard !isRecovering, let id = c.gatewayId else { return }
        for frame in c.remoteInterest.snapshot(interest.remoteUnion(for: id), maxFilterBytes: c.remoteInterestFilterBytes) { c.send(frame) }
    }

    /// Sends each member its REMOTE_INTEREST deltas (none to a connection that has had no
    /// snapshot yet, as during recovery: deltas need one).
    func broadcast(_ changes: UnionChanges) {
        for (gateway, change) in changes.byGateway where !change.isEmpty {
            guard let c = gatewayConnections[gateway] else { continue }
            for frame in c.remoteInterest.delta(added: change.added.sorted(), removed: change.removed.sorted(),
                                                    maxFilterBytes: c.remoteInterestFilterBytes) { c.send(frame) }
        }
    }

    /// HELLO: authenticate (constant time), choose the version, replace an older session, register.
    func hello(_ h: FleetFrame.Hello, on c: GatewayConnection) {
        guard Self.constantTimeEqual(h.authToken, token) else {
            return refuseHello("bad token", gateway: h.gatewayId, message: "not authorized", on: c)
        }
        let supported = FleetLimits.supportedVersions
        let low = max(h.minVersion, supported.lowerBound), high = min(h.maxVersion, supported.upperBound)
        guard low <= high else {
            c.fail(.unsupportedVersion, related: .hello, "coordinator speaks versions \(supported.lowerBound)...\(supported.upperBound)")
            return
        }
        let id = h.gatewayId
        if config.linkTLS?.requiresClientCertificate == true {
            guard let cert = c.stream.tls?.peerCertificate,
                  Self.certificate(commonName: cert.subjectCommonName, dnsNames: cert.dnsNames, names: id) else {
                return refuseHello("gateway id not named by the client certificate", gateway: id,
                                   message: "the client certificate does not name gateway \(id)", on: c)
            }
        }
        if let old = gatewayConnections[id] {
            counters.sessionsReplaced += 1
            old.replaced = true
            old.fail(.sessionReplaced, related: nil, "a new session of gateway \(id) was established")
            log.info("gateway \(id): session \(old.serial) replaced by \(c.serial)")
        }
        helloFailures.recordSuccess(LoginFailureTable.host(of: c.stream.remoteAddress), now: loop.now)
        let now = wallClock()
        var g = gateways[id] ?? GatewayRecord(id: id, mqttAddress: "", region: "", labels: [], capacityWeight: 0, state: .down,
                                             lastSeenMs: now, softwareVersion: "", sessionEpoch: 0, registeredMs: now)
        g.mqttAddress = h.mqttAddress
        g.region = h.region
        g.labels = h.labels.map { (key: $0.key, value: $0.value) }
        g.capacityWeight = h.capacityWeight
        g.softwareVersion = h.softwareVersion
        g.state = .active
        g.lastSeenMs = now
        g.sessionEpoch += 1
        g.remoteAddress = c.stream.remoteAddress
        g.load = nil
        gateways[id] = g
        persist(g)
        setLink(id, .up, now: now)

        c.establish(gatewayId: id, peerMaximumFrameSize: Int(h.maximumFrameSize), maximumFrameSize: config.maximumFrameSize)
        gatewayConnections[id] = c
        c.send(.helloAck(.init(version: high, sessionEpoch: g.sessionEpoch, heartbeatIntervalMs: config.effectiveHeartbeatIntervalMs,
                               maximumFrameSize: UInt32(config.maximumFrameSize), coordinatorId: config.coordinatorId)))
        interest.addMember(id)
        sendInterestSnapshot(on: c)
        log.info("gateway \(id) up (session epoch \(g.sessionEpoch), \(c.stream.remoteAddress))")
    }

    /// SIGHUP: the link certificate, key and client CA are read again for new handshakes
    /// (established sessions keep theirs). A failed reload keeps what was in force and says why.
    public func reloadLinkTLS() {
        guard let linkTLSContext else { return }
        do {
            try linkTLSContext.reload()
            log.info("link TLS certificate, key and client CA reloaded")
        } catch {
            log.error("link TLS reload failed, keeping the previous certificate: \(error)")
        }
    }

    /// Mutual TLS: the certificate names the gateway when its subject CN or one of its DNS
    /// subject alternative names is exactly the gateway id.
    static func certificate(commonName: String?, dnsNames: [String], names gatewayId: String) -> Bool {
        !gatewayId.isEmpty && (commonName == gatewayId || dnsNames.contains(gatewayId))
    }

    /// Byte comparison whose time depends only on the lengths, not on where the bytes differ.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(truncatingIfNeeded: a.count ^ b.count) | (a.count == b.count ? 0 : 1)
        let n = max(a.count, b.count)
        for i in 0..<n {
            let x = i < a.count ? a[i] : 0
            let y = i < b.count ? b[i] : 0
            diff |= x ^ y
        }
        return diff == 0 && !b.isEmpty
    }

    // MARK: - Persistence

    func persist(_ g: GatewayRecord) {
        do { try store.save(g) } catch { log.error("cannot store gateway \(g.id): \(error)") }
    }

    func setLink(_ id: String, _ state: GraphLink.State, now: UInt64) {
        let link = GraphLink(source: id, target: config.coordinatorId, kind: .coordinator, state: state, updatedMs: now)
        links[id] = link
        do { try store.save(link) } catch { log.error("cannot store link of \(id): \(error)") }
    }

    /// Wall-clock time of the last bytes received on a connection.
    func lastSeenWallMs(_ c: GatewayConnection, now: UInt64) -> UInt64 {
        let age = loop.now &- c.lastReceivedMs
        return now &- min(age, now)
    }

    // MARK: - Sweep: timeouts, heartbeats, last seen

    private func sweep() {
        checkRecoveryDeadline()
        let now = loop.now
        let timeout = config.gatewayTimeoutMs
        let interval = UInt64(config.effectiveHeartbeatIntervalMs)
        for c in Array(connections.values) {
            switch c.phase {
            case .awaitingHello:
                if now &- c.connectedAtMs >= CoordinatorLimits.handshakeTimeoutMs {
                    c.fail(.handshakeTimeout, related: nil, "no HELLO within \(CoordinatorLimits.handshakeTimeoutMs) ms")
                }
            case .established:
                if c.holdCount == 0 && now &- c.lastReceivedMs >= timeout {
                    counters.gatewayTimeouts += 1
                    log.warning("gateway \(c.gatewayId ?? "?") silent for \(now &- c.lastReceivedMs) ms: down")
                    c.fail(.heartbeatTimeout, related: nil, "nothing received for \(now &- c.lastReceivedMs) ms")
                } else if now &- c.lastHeartbeatSentMs >= interval {
                    c.heartbeatSequence += 1
                    c.lastHeartbeatSentMs = now
                    c.send(.heartbeat(.init(sequence: c.heartbeatSequence, timestampMs: wallClock())))
                }
            case .closing:
                if now >= c.closeDeadlineMs { c.closeNow() }
            }
        }
        if now &- lastPersistMs >= CoordinatorLimits.lastSeenPersistIntervalMs {
            lastPersistMs = now
            persistLastSeen()
        }
    }

    private func persistLastSeen() {
        let wall = wallClock()
        var batch: [(id: String, lastSeenMs: UInt64)] = []
        for (id, c) in gatewayConnections {
            let seen = lastSeenWallMs(c, now: wall)
            gateways[id]?.lastSeenMs = seen
            batch.append((id, seen))
        }
        do { try store.saveLastSeen(batch) } catch { log.error("cannot store last-seen times: \(error)") }
    }

    /// Before-sleep hook: the DELIVERY_ACKs owed to origins whose confirmations moved this turn.
    private func flushAcknowledgements() {
        guard !isRecovering else { return }  // confirmations wait; the dirty set is kept
        for origin in delivery.takeDirty() {
            guard let c = gatewayConnections[origin], let ack = delivery.acknowledgement(for: origin) else { continue }
            c.send(.deliveryAck(ack))
        }
    }

    // MARK: - Shutdown

    /// Called whenever a connection closes during shutdown.
    var shutdownProgress: (() -> Void)?

    /// Stops accepting, tells every gateway ERROR shuttingDown and closes it (gracefully; cut after
    /// the close grace). `progress` is called as connections finish closing.
    public func beginShutdown(progress: @escaping () -> Void) {
        guard !isShuttingDown else { return }
        isShuttingDown = true
        shutdownProgress = progress
        closeListener?()
        closeListener = nil
        for c in Array(connections.values) { c.fail(.shuttingDown, related: nil, "coordinator stopping") }
        progress()
    }

    public var openConnectionCount: Int { connections.count }

    /// Cuts what is still open and releases the timers and the store. Loop thread, last call.
    public func finish() {
        for c in Array(connections.values) { c.closeNow() }
        sweepTimer?.close()
        sweepTimer = nil
        persistLastSeen()
        store.close()
    }
}
