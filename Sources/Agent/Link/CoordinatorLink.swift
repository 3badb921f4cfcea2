import FleetObservability
import FleetCore
import FleetProtocol
import FleetRuntime
import Foundation
import Logging

/// The agent's side of the agent-coordinator link (Protocol/agent-coordinator.md, issue #4): registration,
/// interest, forwarding and acknowledgements over one connection, reconnected with jittered,
/// bounded exponential backoff and resynchronised in full after every reconnect.
///
/// **Loop-thread only**, like the broker: every method runs on the agent's loop. Nothing in the
/// local path waits on the link: the broker calls `interestChanged` and `localMessagePublished`,
/// which only record and queue; frames move when the socket can take them.
///
/// Per loop turn, `endTurn(into:)` (called by the agent's `TurnCommitter` before the loop's socket
/// flush) sends the turn's interest delta, adds the forward log and the per-origin dedup marks to
/// the turn's one transaction, then writes the turn's DELIVERY_ACKs, which the loop holds with
/// every other byte of the turn until that transaction committed: a QoS 1 publisher's PUBACK and
/// our DELIVERY_ACKs leave only after the forward state is durable.
final class CoordinatorLink: FabricLink {
    enum Phase: Equatable {
        /// Waiting for the reconnect timer (or not started).
        case idle
        case connecting
        /// HELLO sent, waiting for HELLO_ACK.
        case handshaking
        case established
        case stopped
    }

    let settings: LinkSettings
    let limits: LinkLimits
    let log: Logger
    let loop: EventLoop
    unowned let broker: Broker
    let store: ForwardStore
    var metrics = FabricMetrics()
    private(set) var phase = Phase.idle

    /// Set when the link runs over TLS (`coordinator.tls`); read at start and again on SIGHUP
    /// (`reloadTLS`), for the next connection.
    private var tlsContext: TLSClientContext?
    private(set) var advertised: String
    private(set) var connection: CoordinatorConnection?
    /// Migrations this gateway is the source of, waiting for the client's in-flight acknowledgements
    /// before the export: id -> client.
    var migrationsDraining: [UInt64: String] = [:]
    /// Migrations this gateway is the source of, exported and waiting for the decision: id -> client.
    var migrationsOut: [UInt64: String] = [:]
    /// HANDOFFs of committed migrations, encoded, until the target is done: id -> (client, frames).
    var handoffsOut: [UInt64: (clientId: String, frames: [[UInt8]])] = [:]
    /// Migrations this gateway is the target of, imported and not finished.
    var migrationsIn: [UInt64: IncomingMigration] = [:]
    /// FORWARDs a moved session already took as a HANDOFF, before the FORWARD itself came: not
    /// delivered to that session again (§5.18 rule 4). Emptied as they come and when the
    /// migration finishes.
    var handedOffAhead: [FabricIdentity: (client: String, at: UInt64)] = [:]
    /// Answers AVAILABILITY_QUERY and MAINTENANCE_RUN (CoordinatorLink+Maintenance.swift); owned
    /// by the agent, nil when the link runs without one.
    var maintenance: MaintenanceRunner?
    /// The socket service (issue #14), and a replacing set of mappings being received in parts.
    var sockets: SocketService?
    var mappingsInProgress: [String: String]?

    var gatewayId: String { settings.gatewayId }
    /// Tells a late connect completion from the current attempt.
    private var attemptId = 0
    /// Failed attempts since the last established session (drives the backoff).
    private var failedAttempts = 0
    private let jitter: () -> Double
    private let reconnectTimer: LoopTimer
    /// Connect and handshake deadline.
    private let deadlineTimer: LoopTimer
    private let heartbeatTimer: LoopTimer
    private var sysTimer: LoopTimer?
    private var heartbeatIntervalMs: UInt64 = 0
    private var heartbeatSequence: UInt64 = 0
    private var lastReceivedAt: UInt64 = 0
    /// Rates for LOAD_REPORT (CoordinatorLink+Load.swift); restarted with each session.
    var loadSampler = LoadSampler(startMs: 0, totals: .init())

    // Own interest on this connection (CoordinatorLink+Interest.swift).
    var interest = InterestStream()
    let remote = RemoteInterestTable()
    /// Our durable interest on this connection (CoordinatorLink+Durable.swift), its own stream.
    var durableInterest = InterestStream()
    /// The last retained QoS 0 message per topic published while the link was down, sent when it
    /// is back (bounded by `LinkLimits.maxRetainedWhileDown`).
    var retainedWhileDown: [String: Message] = [:]
    /// Retained QoS 0 forwards handed to the current connection and not yet covered by the
    /// coordinator's cumulative DELIVERY_ACK: a link that dies silently loses them, so they go back
    /// to `retainedWhileDown` when it closes.
    var retainedUnconfirmed: [String: (seq: UInt64, message: Message)] = [:]

    // Forwarding state (CoordinatorLink+Forward.swift).
    var nextSequence: UInt64 = 1
    var reservedSequence: UInt64 = 1
    var outbound = OutboundLog()
    /// QoS 0 forwards waiting for the socket, in sequence order.
    var queuedQoS0 = RingBuffer<(seq: UInt64, message: Message)>()
    var seen: [String: UInt64] = [:]
    var acksDue: Set<String> = []
    /// Publishers not read while the outbound log is at its bound (CoordinatorLink+Forward).
    var publishersHeldByLog: [any PausableSource] = []

    /// Opens the link's tables in `databasePath` and restores the outbound log and dedup marks.
    /// Does not connect: `start(defaultAdvertise:)` does.
    init(settings: LinkSettings, limits: LinkLimits = LinkLimits(), databasePath: String,
         synchronous: SQLiteDatabase.Synchronous, broker: Broker, loop: EventLoop, log: Logger,
         jitter: @escaping () -> Double = { Double.random(in: 0...1) }) throws {
        self.settings = settings
        self.limits = limits
        self.broker = broker
        self.loop = loop
        self.log = log
        self.jitter = jitter
        tlsContext = try settings.tls.map { tls throws(TLSError) in try TLSClientContext(tls.client) }
        self.advertised = settings.advertise ?? ""
        store = try ForwardStore(path: databasePath, synchronous: synchronous, changes: broker.store.changes)
        reconnectTimer = LoopTimer(loop: loop)
        deadlineTimer = LoopTimer(loop: loop)
        heartbeatTimer = LoopTimer(loop: loop)
        try restore()
        restoreMigrations()
    }

    /// Connects now and keeps connected until `stop()`. `defaultAdvertise` is used when no
    /// advertised address is configured (the first MQTT listener's bound address).
    /// `sysIntervalSeconds` > 0 publishes the link's counters under `$SYS/broker/fabric/`.
    func start(defaultAdvertise: String, sysIntervalSeconds: UInt32 = 0) {
        guard phase == .idle else { return }
        if advertised.isEmpty { advertised = defaultAdvertise }
        if AdvertisedAddress.isWildcard(advertised) {
            log.warning("coordinator link: advertising '\(advertised)', a wildcard address: this gateway takes no migrated clients (devices could not follow the redirect); set --advertise HOST:PORT")
        }
        broker.fabric = self
        if sysIntervalSeconds > 0 {
            let t = LoopTimer(loop: loop)
            let ms = UInt64(sysIntervalSeconds) * 1000
            t.start(afterMilliseconds: ms, repeatEveryMilliseconds: ms) { [unowned self] in self.publishSys() }
            sysTimer = t
        }
        connect()
    }

    /// Closes the connection and every timer, commits what is pending and closes the database.
    /// Idempotent; the link does nothing afterwards.
    func stop() {
        guard phase != .stopped else { return }
        phase = .stopped
        if broker.fabric === self { broker.fabric = nil }
        reconnectTimer.close()
        deadlineTimer.close()
        heartbeatTimer.close()
        sysTimer?.close()
        if let c = connection {
            connection = nil
            c.close(now: false)
        }
        store.close()
        releasePublishersHeldByLog()
    }

    var isEstablished: Bool { phase == .established }

    // MARK: Connecting

    private func connect() {
        guard phase == .idle else { return }
        phase = .connecting
        attemptId += 1
        metrics.connectAttempts += 1
        let attempt = attemptId
        deadlineTimer.start(afterMilliseconds: limits.connectTimeoutMs) { [unowned self] in
            self.attemptFailed("no connection to \(self.settings.coordinator) within \(self.limits.connectTimeoutMs) ms")
        }
        // Resolved on every attempt and off the loop thread (uv_getaddrinfo, issue #10 §4.8): slow
        // or unreachable DNS never stalls the devices' loop, and a changed address is followed.
        let host = settings.coordinator.host
        loop.resolve(host: host) { [weak self] result in
            guard let self, attempt == self.attemptId, self.phase == .connecting else { return }
            switch result {
            case .failure(let error): self.attemptFailed("cannot resolve \(host): \(error)")
            // Consecutive failed attempts walk the list (a name with an IPv6 and an IPv4
            // address, only one of them listening, still connects).
            case .success(let addresses): self.open(addresses[self.failedAttempts % addresses.count], attempt: attempt)
            }
        }
    }

    /// Opens the TCP (or TLS) connection of attempt `attempt` to a resolved address.
    private func open(_ address: String, attempt: Int) {
        do {
            if let tlsContext, let tls = settings.tls {
                try TLSStream.connect(loop: loop, host: address, port: settings.coordinator.port, context: tlsContext,
                                      serverName: tls.serverName) { [weak self] result in
                    self?.connected(result, attempt: attempt)
                }
            } else {
                try TCPStream.connect(loop: loop, host: address, port: settings.coordinator.port) { [weak self] result in
                    self?.connected(result.map { $0 as any ByteStream }, attempt: attempt)
                }
            }
        } catch {
            attemptFailed("cannot connect to \(settings.coordinator): \(error)")
        }
    }

    /// SIGHUP: the CA, certificate and key are read again; the current connection keeps its
    /// session, the next one uses them. A failed reload keeps the previous files' context.
    func reloadTLS() {
        guard let tls = settings.tls else { return }
        do {
            tlsContext = try TLSClientContext(tls.client)
            log.info("coordinator link: TLS CA, certificate and key reloaded (used from the next connection)")
        } catch {
            log.error("coordinator link: TLS reload failed, keeping the previous certificate: \(error)")
        }
    }

    private func connected(_ result: Result<any ByteStream, RuntimeError>, attempt: Int) {
        guard attempt == attemptId, phase == .connecting else {
            if case .success(let stream) = result { stream.closeNow() }  // an abandoned attempt
            return
        }
        switch result {
        case .failure(let error):
            attemptFailed("cannot connect to \(settings.coordinator): \(error)")
        case .success(let stream):
            let c = CoordinatorConnection(stream: stream, link: self, limits: limits)
            connection = c
            phase = .handshaking
            lastReceivedAt = loop.now
            deadlineTimer.start(afterMilliseconds: limits.handshakeTimeoutMs) { [unowned self] in
                self.log.warning("coordinator link: no HELLO_ACK within \(self.limits.handshakeTimeoutMs) ms")
                self.connection?.close(now: true)
            }
            c.start()
            c.sendControl(.hello(hello()))
        }
    }

    private func hello() -> FleetFrame.Hello {
        FleetFrame.Hello(gatewayId: settings.gatewayId, authToken: settings.token, maximumFrameSize: UInt32(limits.maximumFrameSize),
                         mqttAddress: advertised, region: settings.region, labels: settings.labels,
                         capacityWeight: settings.capacity, softwareVersion: Self.softwareVersion)
    }

    static let softwareVersion = FleetgateVersion.line(for: "fleetgate-agent")

    /// An attempt that never reached a connection: back off and try again.
    private func attemptFailed(_ reason: String) {
        guard phase == .connecting else { return }
        if failedAttempts == 0 { log.warning("coordinator link: \(reason); retrying with backoff") } else { log.debug("coordinator link: \(reason)") }
        deadlineTimer.stop()
        attemptId += 1  // a late completion of this attempt is closed on arrival
        phase = .idle
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        guard phase == .idle else { return }
        let delay = settings.backoff.delay(attempt: failedAttempts, unit: jitter())
        failedAttempts += 1
        metrics.lastReconnectDelayMs = delay
        reconnectTimer.start(afterMilliseconds: delay) { [unowned self] in self.connect() }
    }

    /// The connection is gone (peer close, error, our close): local traffic goes on; forwarding
    /// pauses (QoS >= 1 stays in the log, QoS 0 is dropped and counted) until the next session.
    func connectionClosed(_ c: CoordinatorConnection, error: RuntimeError?) {
        guard c === connection else { return }
        connection = nil
        deadlineTimer.stop()
        heartbeatTimer.stop()
        if phase == .established {
            metrics.disconnects += 1
            log.warning("coordinator link: disconnected from \(settings.coordinator)\(error.map { ": \($0)" } ?? "")")
        }
        metrics.connected = false
        metrics.forwardsDroppedQoS0 += UInt64(queuedQoS0.count)
        queuedQoS0.removeAll()
        keepRetainedNotConfirmed()
        interest.discardPending()
        durableInterest.discardPending()
        guard phase != .stopped else { return }
        phase = .idle
        scheduleReconnect()
    }

    // MARK: Frames from the coordinator

    func received(_ frame: FleetFrame, on c: CoordinatorConnection) {
        guard c === connection else { return }
        lastReceivedAt = loop.now
        if phase == .handshaking {
            switch frame {
            case .helloAck(let ack): return established(ack, on: c)
            case .error(let e): return receivedError(e, on: c)
            default: return c.fail(.unexpectedFrame, related: frame.kind, "\(frame.kind) before HELLO_ACK")
            }
        }
        switch frame {
        case .heartbeat: break
        case .error(let e): receivedError(e, on: c)
        case .remoteInterest(let ri): receivedRemoteInterest(ri, on: c)
        case .forward(let f): receivedForward(f)
        case .deliveryAck(let a): receivedDeliveryAck(a)
        case .replay(let r): receivedReplay(r)
        case .migrate, .sessionTransfer, .migrationStep, .handoff, .drain: receivedMigrationFrame(frame, on: c)
        case .availabilityQuery, .maintenanceRun: receivedMaintenanceFrame(frame, on: c)
        case .unknown: break  // IGNORABLE kinds we do not know
        case .mappings(let m): receivedMappings(m)
        case .socketClose(let close): receivedSocketClose(close)
        case .peerMatch(let match): receivedPeerMatch(match)
        case .hello, .helloAck, .loadReport, .interestSnapshot, .interestDelta, .durableInterest, .sessionList, .availability, .maintenanceResult,
             .socketReport, .peerReport, .peerAsk, .peerGone:
            c.fail(.unexpectedFrame, related: frame.kind, "\(frame.kind) is not sent to an agent")
        }
    }

    private func established(_ ack: FleetFrame.HelloAck, on c: CoordinatorConnection) {
        guard FleetLimits.supportedVersions.contains(ack.version), ack.heartbeatIntervalMs > 0 else {
            return c.fail(.unsupportedVersion, related: .helloAck, "version \(ack.version) / heartbeat \(ack.heartbeatIntervalMs) ms not acceptable")
        }
        deadlineTimer.stop()
        phase = .established
        failedAttempts = 0
        metrics.sessions += 1
        metrics.connected = true
        c.peerMaximumFrameSize = Int(ack.maximumFrameSize)
        log.info("coordinator link: session \(ack.sessionEpoch) with \(ack.coordinatorId) at \(settings.coordinator)")
        // Full resynchronisation: our interest as a fresh snapshot, theirs rebuilt from theirs,
        // every unconfirmed forward re-sent in order before anything new.
        remote.connectionStarted()
        interest.restart()
        sendSnapshot()
        sockets?.peering.linkEstablished()
        durableInterest.restart()
        sendDurableSnapshot()
        reportCursors()
        heartbeatIntervalMs = UInt64(ack.heartbeatIntervalMs)
        heartbeatSequence = 0
        restartLoadSampling()
        heartbeatTimer.start(afterMilliseconds: heartbeatIntervalMs, repeatEveryMilliseconds: heartbeatIntervalMs) { [unowned self] in
            self.heartbeat()
        }
        metrics.forwardsResent += UInt64(outbound.count)
        outbound.rewind()
        sendRetainedHeldWhileDown()
        pump()
    }

    private func receivedError(_ e: FleetFrame.ErrorReport, on c: CoordinatorConnection) {
        metrics.errorsReceived += 1
        switch e.code {
        case .interestOutOfSync:
            metrics.outOfSyncReceived += 1
            log.info("coordinator link: interest out of sync (\(e.message)); sending a new snapshot")
            guard phase == .established else { break }
            if e.relatedKind == .durableInterest { sendDurableSnapshot() } else { sendSnapshot() }
        case .forwardRejected:
            log.warning("coordinator link: forward rejected: \(e.message)")
        default:
            log.error("coordinator link: ERROR \(e.code) from the coordinator: \(e.message)")
            if e.code.isFatal { c.close(now: true) }
        }
    }

    // MARK: Heartbeats

    private func heartbeat() {
        guard phase == .established, let c = connection else { return }
        // A link paused for a congested subscriber is not silent: we stopped reading it.
        if c.isThrottled { lastReceivedAt = loop.now }
        if loop.now &- lastReceivedAt >= 3 * heartbeatIntervalMs {
            log.warning("coordinator link: nothing received for \(3 * heartbeatIntervalMs) ms")
            return c.fail(.heartbeatTimeout, "nothing received for 3 heartbeat intervals")
        }
        heartbeatSequence += 1
        c.sendControl(.heartbeat(FleetFrame.Heartbeat(sequence: heartbeatSequence, timestampMs: broker.now)))
        c.sendControl(.loadReport(makeLoadReport()))
        sendSocketReport(on: c)
    }

    // MARK: Per turn

    /// End of a loop turn (the agent's `TurnCommitter`, before the loop gates and flushes the
    /// turn's bytes): the interest delta, this turn's forward-log writes for the shared
    /// transaction, and the DELIVERY_ACKs, which the loop holds until that transaction committed.
    func endTurn(into writes: inout [SQLWrite]) {
        guard phase != .stopped else { return }
        flushInterest()
        flushDurableInterest()
        writes += store.takeWrites()
        sendAcks()
    }
}
