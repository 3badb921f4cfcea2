import FleetConfig
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
    /// Per-gateway HELLO tokens (`gateway_tokens`), read at start and on SIGHUP.
    private(set) var gatewayTokens: GatewayTokens
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
    /// Per gateway, the durable interest it last told (DURABLE_INTEREST), persisted: kept while the
    /// gateway is away, so QoS >= 1 messages for its persistent sessions are still routed to it.
    var durableInterest: [String: Set<String>] = [:]
    var delivery: DeliveryLedger
    private var lastRetentionSweepMs: UInt64 = 0
    /// Connection migration (Fabric+Migration): the policy's planner and its recent decisions.
    var migrationPlanner: MigrationPlanner
    var migrationRecords = RingBuffer<MigrationPlanner.Decision>()
    /// Every handover in progress and the recent finished ones, persisted (Fabric+Handover).
    var handovers = HandoverTable()
    /// Each gateway's last reported relayed-bytes total (LOAD_REPORT), to count what grew.
    var gatewayRelayedBytes: [String: UInt64] = [:]
    /// Gateways being drained, and the pace of each (Fabric+Drain); the gateways and rates are
    /// stored, the progress is not (a restarted coordinator asks each for its list again).
    var drains: [String: DrainScheduler] = [:]
    /// Maintenance runs (Fabric+Maintenance), persisted.
    var maintenance = MaintenanceState()
    /// Socket mappings and the agents' socket reports (Fabric+Sockets).
    var sockets = SocketServiceState()
    private var lastMigrationPlanMs: UInt64 = 0
    public internal(set) var counters = FabricCounters()

    /// Closes the link listener (plain TCP or TLS).
    private var closeListener: (() -> Void)?
    /// The link listener's TLS context (`link_tls`), reloaded on SIGHUP.
    private var linkTLSContext: TLSContext?
    private var sweepTimer: LoopTimer?
    private var lastPersistMs: UInt64 = 0
    private(set) var isShuttingDown = false
    /// Failed HELLOs per source host: repeated failures delay that host's next HELLO (the agent's
    /// login rule, `LoginFailureTable`), so a token guesser gets a few tries a second, not
    /// thousands. Logged at most every `authFailureLogIntervalMs`, with the count in between.
    var helloFailures = LoginFailureTable()
    var lastAuthFailureLogMs: UInt64?
    var authFailuresNotLogged = 0
    static let authFailureLogIntervalMs: UInt64 = 10_000

    public init(config: CoordinatorConfig, token: [UInt8], loop: EventLoop, store: GraphStore, logger: Logger,
                wallClock: @escaping () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }) throws {
        self.config = config
        self.token = token
        self.loop = loop
        self.store = store
        self.log = logger
        self.wallClock = wallClock
        gatewayTokens = try config.loadGatewayTokens()
        delivery = DeliveryLedger(retention: config.retention)
        // A policy set with PUT /v1/migration/policy outlives restarts and wins over the file's.
        let stored: MigrationPolicy? = try store.loadSetting("migration_policy")
        migrationPlanner = MigrationPlanner(policy: stored ?? config.migration)
        if stored != nil { logger.info("migration policy: the one set through the API (PUT /v1/migration/policy) is in force") }
        // A restart: nobody is connected yet; the graph is kept, and so is every gateway's durable
        // interest, so routing counts the gateways not back yet from the first forward on. What
        // each destination is owed is rebuilt from the origins' re-sent logs and the destinations'
        // cursors (DeliveryLedger): there is no recovery window to expire.
        try store.markAllDown()
        for g in try store.loadGateways() { gateways[g.id] = g }
        for l in try store.loadLinks() where l.kind == .coordinator { links[l.source] = l }
        durableInterest = try store.loadDurableInterest()
        for (id, filters) in durableInterest where gateways[id] != nil { interest.memberLeft(id, keeping: filters) }
        try restoreHandovers()
        try restoreDrains()
        try restoreMaintenance()
        try restoreMappings()
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

    /// An established session ended: the gateway's interest shrinks to its durable interest (what
    /// it is owed keeps accumulating, up to the retention bound); it is marked down unless a newer
    /// session replaced it. Idempotent per connection.
    func sessionEnded(_ connection: GatewayConnection) {
        guard let id = connection.gatewayId, gatewayConnections[id] === connection else { return }
        gatewayConnections[id] = nil
        // Replaced by a new session of the same gateway (its HELLO is being answered): its interest
        // stays until the new snapshot, and what was in flight is replayed to the new connection
        // (`destinationConnected`), so nothing is released or broadcast in between.
        guard !connection.replaced else { return delivery.originDisconnected(id) }
        broadcast(interest.memberLeft(id, keeping: durableInterest[id] ?? []))
        migrationPlanner.forget(gateway: id)
        handoverGatewayDown(id)
        socketsGatewayDown(id)
        delivery.originDisconnected(id)
        delivery.destinationDisconnected(id, hasDurableInterest: durableInterest[id] != nil)
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

    /// A full REMOTE_INTEREST snapshot of every other gateway's interest (the durable interest of
    /// those that are away included), under a new epoch.
    func sendInterestSnapshot(on c: GatewayConnection) {
        guard let id = c.gatewayId else { return }
        for frame in c.remoteInterest.snapshot(interest.remoteUnion(for: id), maxFilterBytes: c.remoteInterestFilterBytes) { c.send(frame) }
    }

    /// Sends each member its REMOTE_INTEREST deltas.
    func broadcast(_ changes: UnionChanges) {
        for (gateway, change) in changes.byGateway where !change.isEmpty {
            guard let c = gatewayConnections[gateway] else { continue }
            for frame in c.remoteInterest.delta(added: change.added.sorted(), removed: change.removed.sorted(),
                                                    maxFilterBytes: c.remoteInterestFilterBytes) { c.send(frame) }
        }
    }

    /// HELLO: authenticate (constant time; a gateway listed in `gateway_tokens` only with its own
    /// token), check the id is registered or registration is open, choose the version, refuse a
    /// second session of a live gateway (replace one that went silent), register.
    func hello(_ h: FleetFrame.Hello, on c: GatewayConnection) {
        let own = gatewayTokens[h.gatewayId]
        guard Self.constantTimeEqual(h.authToken, own ?? token) else {
            return refuseHello(own == nil ? "bad token" : "not the gateway's own token", gateway: h.gatewayId, message: "not authorized", on: c)
        }
        guard own != nil || gateways[h.gatewayId] != nil || config.allowNewGateways else {
            return refuseHello("gateway id not registered (registration is closed: --allow-new-gateways or gateway_tokens)",
                               gateway: h.gatewayId, message: "gateway \(h.gatewayId) is not registered", on: c)
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
            // A live session is kept: whoever else holds the credential cannot take the gateway's
            // traffic by saying HELLO. One that went silent (its agent restarted, its network
            // path died before the gateway timeout) is replaced, so the real agent gets back in.
            let silentMs = loop.now &- old.lastReceivedMs
            guard silentMs >= UInt64(config.effectiveHeartbeatIntervalMs) * 2 && old.holdCount == 0 else {
                counters.hellosRefusedInUse += 1
                log.warning("gateway \(id): HELLO from \(c.stream.remoteAddress) refused, its session from \(old.stream.remoteAddress) is alive")
                return c.fail(.gatewayIdInUse, related: .hello, "gateway \(id) is connected and alive")
            }
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
        g.state = drains[id] == nil ? .active : .draining
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
        // As an origin it re-sends its whole log; as a destination it is owed what was held for
        // it: each origin re-sends from the first sequence it owes (REPLAY, Protocol/agent-coordinator.md §5.12).
        delivery.originConnected(id)
        for (origin, from) in delivery.destinationConnected(id) {
            guard let oc = gatewayConnections[origin] else { continue }  // it re-sends all when it is back
            oc.send(.replay(.init(fromSequence: from)))
            counters.replaysRequested += 1
        }
        handoverGatewayUp(id)
        drainGatewayUp(id)
        maintenanceGatewayUp(id)
        mappingsGatewayUp(id)
    }

    /// SIGHUP: the link certificate, key and client CA are read again for new handshakes
    /// (established sessions keep theirs). A failed reload keeps what was in force and says why.
    public func reloadLinkTLS() {
        reloadGatewayTokens()
        guard let linkTLSContext else { return }
        do {
            try linkTLSContext.reload()
            log.info("link TLS certificate, key and client CA reloaded")
        } catch {
            log.error("link TLS reload failed, keeping the previous certificate: \(error)")
        }
    }

    /// SIGHUP: `gateway_tokens` is read again (new HELLOs use it; live sessions are kept). A bad
    /// file keeps the tokens in force and says why.
    private func reloadGatewayTokens() {
        guard config.gatewayTokensFile != nil else { return }
        do throws(ConfigError) {
            gatewayTokens = try config.loadGatewayTokens()
            log.info("gateway tokens reloaded (\(gatewayTokens.byGateway.count) gateways)")
        } catch {
            log.error("gateway tokens not reloaded, keeping those in force: \(error)")
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
        let now = loop.now
        if now &- lastRetentionSweepMs >= CoordinatorLimits.retentionSweepIntervalMs {
            lastRetentionSweepMs = now
            delivery.expire(now: now, isConnected: { gatewayConnections[$0] != nil })
        }
        if now &- lastMigrationPlanMs >= CoordinatorLimits.migrationPlanIntervalMs {
            lastMigrationPlanMs = now
            planMigrations()
        }
        tickHandovers()
        tickDrains()
        tickMaintenance()
        let timeout = config.gatewayTimeoutMs
        let interval = UInt64(config.effectiveHeartbeatIntervalMs)
        for c in Array(connections.values) {
            // Handshake deadlines and close grace are the link core's (FrameLink) timers.
            switch c.phase {
            case .awaitingHello, .closing:
                break
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

    /// Before-sleep hook: the DELIVERY_ACKs owed to origins whose confirmations moved this turn,
    /// and one warning per destination whose retention bound started dropping.
    private func flushAcknowledgements() {
        for origin in delivery.takeDirty() {
            guard let c = gatewayConnections[origin] else { continue }  // told again when it is back
            for ack in delivery.acknowledgements(for: origin) { c.send(.deliveryAck(ack)) }
        }
        for (destination, held) in delivery.takeNewDrops() {
            log.warning("gateway \(destination): retention bound reached (\(delivery.retention.maxMessages) messages, \(delivery.retention.maxBytes) bytes, \(delivery.retention.maxAgeMs / 1000) s); the oldest forwards held for it are dropped (\(held.droppedMessages) so far)")
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
