import FleetConfig
import FleetCore
import FleetProtocol
import FleetRuntime
import Foundation
import Logging

/// One gateway agent: what belongs to the process (config, credentials and policies, the TLS
/// context, signals, the coordinator link) around the shard that serves devices (``AgentShard``:
/// the event loop, its listeners, the broker and its store). `run()` blocks the calling thread,
/// which becomes the loop thread; everything else here is touched only from that thread.
public final class Agent {
    /// Descriptor-table slots reserved at start (at most 512 KiB of kernel memory): above it the
    /// table still grows on demand, with the stall that reserving avoids below it.
    static let reservedDescriptors = 65_536
    public let config: AgentConfig
    private let log: Logger
    private let shard: AgentShard
    private var tlsContext: TLSContext?
    private let security: SecurityState
    private let policyStore: PolicyStore
    private var signals: [SignalWatcher] = []
    private var stopping = false
    /// The coordinator link, when one is configured (issue #4).
    private var link: CoordinatorLink?
    /// Maintenance operations for the coordinator (issue #13): one per process (an operation is
    /// the host's, not a shard's), on the loop thread, reached through the link.
    private var maintenance: MaintenanceRunner?
    /// Managed sockets (issue #14), when a socket listener or a mapping is configured or the
    /// agent is in a fleet (the coordinator may push mappings).
    private var socketService: SocketService?
    /// Prometheus `GET /metrics` (issue #16), when `metrics:` / `--metrics` names an address.
    private var metricsListener: MetricsListener?

    public init(config: AgentConfig, logger: Logger) throws {
        self.config = config
        self.log = logger
        // Process-wide, and now, while single-threaded: growing the descriptor table later, with
        // the storage writer's threads sharing it, stalls accept4 for an RCU grace period at every
        // doubling (SystemResources). One loop per core must keep this before its threads start.
        let opened = SystemResources.raiseOpenFileLimit()
        logger.debug("open file limit \(opened)")
        SystemResources.reserveDescriptorTable(min(opened, Self.reservedDescriptors))
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        do { security = try SecurityState(auth: config.auth, policies: config.policies, limits: config.limits) } catch {
            throw ConfigError(file: error.file, line: error.line, key: "auth.password_file", message: error.message)
        }
        policyStore = try PolicyStore(path: config.dataDir + "/fleetgate.db")
        security.replacePolicies(try Agent.effectivePolicies(config: config.policies, store: policyStore))
        if !config.tlsListeners.isEmpty || !config.socketTLSListeners.isEmpty {
            guard let settings = config.tls else {
                throw ConfigError(file: nil, line: nil, key: "tls", message: "mqtts and sockets_tls listeners need tls.cert and tls.key (--tls-cert, --tls-key)")
            }
            tlsContext = try TLSContext(settings.runtimeConfiguration)
        }
        shard = try AgentShard(config: config, security: security, log: logger)
    }

    /// Binds every listener, writes the ready file and serves until SIGTERM/SIGINT.
    public func run() throws {
        let loop = shard.loop
        try shard.listen(config: config, tlsContext: tlsContext, sharedPort: false)
        shard.start(sysIntervalSeconds: config.sysInterval)

        // --- managed sockets (issue #14) ---
        if !config.socketListeners.isEmpty || !config.socketTLSListeners.isEmpty || !config.mappings.isEmpty {
            let service = try SocketService(loop: loop, broker: shard.broker, log: log,
                                            store: try SocketStore(path: config.dataDir + "/fleetgate.db"),
                                            gatewayId: config.coordinator?.gatewayId ?? "agent", configMappings: config.mappings)
            try service.listen(plain: config.socketListeners, tls: config.socketTLSListeners, tlsContext: tlsContext)
            socketService = service
        }

        // --- coordinator link (issue #4) ---
        // Its forward log joins the shard's transaction of each turn (TurnCommitter): a forwarded
        // QoS 1 message's PUBACK leaves only once the forward is durable.
        if let coordinator = config.coordinator {
            var linkLimits = LinkLimits()
            linkLimits.maxUnacked = coordinator.maxUnconfirmedForwards
            let link = try CoordinatorLink(settings: try coordinator.resolved(file: nil), limits: linkLimits,
                                           databasePath: config.dataDir + "/fleetgate.db",
                                           synchronous: config.durability == .full ? .full : .normal,
                                           broker: shard.broker, loop: loop, log: log)
            shard.committer.link = link
            // Before the link starts: a pair cut short by the previous process is finished (-2)
            // before the coordinator can ask about it.
            let runner = try MaintenanceRunner(config: config.maintenance, storePath: config.dataDir + "/maintenance.db", loop: loop, log: log)
            link.attachMaintenance(runner)
            maintenance = runner
            if let socketService { link.attachSockets(socketService) }
            link.start(defaultAdvertise: shard.servers.first?.localAddress ?? "", sysIntervalSeconds: config.sysInterval)
            self.link = link
        } else if config.maintenance != nil {
            log.warning("maintenance: operations are configured but there is no coordinator link; nothing will run them")
        }
        // --- end coordinator link ---

        // --- Prometheus endpoint (issue #16): on this loop, reading the counters $SYS reads ---
        if let address = config.metrics {
            let exposition = AgentExposition(shard: shard)
            exposition.link = link
            exposition.sockets = socketService
            let listener = try MetricsListener(loop: loop, address: address, log: log) { exposition.render() }
            exposition.listener = listener
            metricsListener = listener
        }

        for signal in [SIGTERM, SIGINT] {
            signals.append(try SignalWatcher(loop: loop, signal: signal) { [unowned self] in self.stop() })
        }
        signals.append(try SignalWatcher(loop: loop, signal: SIGHUP) { [unowned self] in self.reload() })
        try writeReadyFile()
        loop.run()
        shard.close()
        policyStore.close()
        log.info("stopped")
    }

    /// Graceful stop: no new connections, MQTT 5 clients told 0x8B, state committed, loop ends.
    private func stop() {
        guard !stopping else { return }
        stopping = true
        log.info("shutting down")
        for s in signals { s.close() }
        shard.stop()
        maintenance?.close()  // an operation still running is left running (reported -2 after a restart)
        socketService?.close()
        metricsListener?.close()
        link?.stop()  // coordinator link: closes its connection and timers
        shard.loop.stop()
    }

    /// SIGHUP: new certificate and key for new handshakes (established connections keep theirs),
    /// and the password file again. A failed reload keeps what was in force and says why.
    private func reload() {
        if let tlsContext {
            do { try tlsContext.reload(); log.info("TLS certificate and key reloaded") } catch {
                log.error("TLS reload failed, keeping the previous certificate: \(error)")
            }
        }
        link?.reloadTLS()
        do { try security.reload(); if config.auth.passwordFile != nil { log.info("password file reloaded") } } catch {
            log.error("password file reload failed, keeping the previous one: \(error)")
        }
        do {
            security.replacePolicies(try Agent.effectivePolicies(config: config.policies, store: policyStore))
            log.info("policies reloaded (\((try? policyStore.names().count) ?? 0) stored documents)")
        } catch {
            log.error("policy reload failed, keeping the previous rules: \(error)")
        }
    }

    /// Config rules merged with every stored policy document.
    static func effectivePolicies(config: PolicySet?, store: PolicyStore) throws -> PolicySet? {
        let stored = try store.loadAll()
        guard !stored.isEmpty else { return config }
        var merged = config ?? stored[0].policies
        for (i, doc) in stored.enumerated() where !(config == nil && i == 0) { merged = merged.merged(with: doc.policies) }
        return merged
    }

    private func writeReadyFile() throws {
        guard let path = config.readyFile else { return }
        let mqtt = shard.servers.map { "\"\($0.localAddress)\"" }.joined(separator: ", ")
        let mqtts = shard.tlsServers.map { "\"\($0.localAddress)\"" }.joined(separator: ", ")
        let sockets = (socketService?.servers ?? []).map { "\"\($0.localAddress)\"" }.joined(separator: ", ")
        let socketsTLS = (socketService?.tlsServers ?? []).map { "\"\($0.localAddress)\"" }.joined(separator: ", ")
        let metrics = metricsListener.map { ", \"metrics\": \"\($0.server.localAddress)\"" } ?? ""
        let json = "{\"pid\": \(getpid()), \"mqtt\": [\(mqtt)], \"mqtts\": [\(mqtts)], \"sockets\": [\(sockets)], \"sockets_tls\": [\(socketsTLS)]\(metrics)}\n"
        let tmp = path + ".tmp"
        try json.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw ConfigError(file: nil, line: nil, key: "ready_file", message: "cannot write \(path)") }
    }
}
