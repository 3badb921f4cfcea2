import FleetConfig
import FleetCore
import FleetProtocol
import FleetRuntime
import Foundation
import Logging

/// One gateway agent: an event loop with its MQTT listeners, the broker and its store.
/// `run()` blocks the calling thread, which becomes the loop thread; everything else here is
/// touched only from that thread.
public final class Agent {
    /// Descriptor-table slots reserved at start (at most 512 KiB of kernel memory): above it the
    /// table still grows on demand, with the stall that reserving avoids below it.
    static let reservedDescriptors = 65_536
    public let config: AgentConfig
    private let log: Logger
    private let loop: EventLoop
    private let store: SessionStore
    private let broker: Broker
    private var servers: [TCPServer] = []
    private var tlsServers: [TLSServer] = []
    private var tlsContext: TLSContext?
    private let security: SecurityState
    private let policyStore: PolicyStore
    private var timers: [LoopTimer] = []
    private var signals: [SignalWatcher] = []
    private var stopping = false
    /// The coordinator link, when one is configured (issue #4).
    private var link: CoordinatorLink?
    /// Each turn's changes in one transaction off the loop thread; the turn's bytes wait for it.
    private let committer: TurnCommitter

    public init(config: AgentConfig, logger: Logger) throws {
        self.config = config
        self.log = logger
        let opened = SystemResources.raiseOpenFileLimit()
        logger.debug("open file limit \(opened)")
        // Now, while single-threaded: growing it later, with the storage writer's threads sharing
        // it, stalls accept4 for an RCU grace period at every doubling (SystemResources).
        SystemResources.reserveDescriptorTable(min(opened, Self.reservedDescriptors))
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        loop = try EventLoop()
        store = try SessionStore(path: config.dataDir + "/fleetgate.db",
                                 synchronous: config.durability == .full ? .full : .normal)
        do { security = try SecurityState(auth: config.auth, policies: config.policies, limits: config.limits) } catch {
            throw ConfigError(file: error.file, line: error.line, key: "auth.password_file", message: error.message)
        }
        policyStore = try PolicyStore(path: config.dataDir + "/fleetgate.db")
        security.replacePolicies(try Agent.effectivePolicies(config: config.policies, store: policyStore))
        if !config.tlsListeners.isEmpty {
            guard let settings = config.tls else {
                throw ConfigError(file: nil, line: nil, key: "tls", message: "mqtts listeners need tls.cert and tls.key (--tls-cert, --tls-key)")
            }
            tlsContext = try TLSContext(settings.runtimeConfiguration)
        }
        broker = Broker(limits: config.limits, denySubscribe: config.denySubscribe, security: security, log: logger, loop: loop, store: store,
                        wallClock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        try broker.restore()
        committer = try TurnCommitter(loop: loop, databasePath: config.dataDir + "/fleetgate.db",
                                      synchronous: config.durability == .full ? .full : .normal, broker: broker)
    }

    /// Binds every listener, writes the ready file and serves until SIGTERM/SIGINT.
    public func run() throws {
        for address in config.listeners {
            let broker = self.broker
            let server = try TCPServer(loop: loop, host: address.host, port: address.port) { broker.accept($0) }
            // Called at most every 10 s while accepting fails (out of descriptors): the listener
            // refuses and backs off on its own, this only tells the operator.
            server.onAcceptError = { [log, unowned server] error in
                log.warning("MQTT listener \(server.localAddress): \(error); refusing connections with back-off (\(server.refusedConnections) refused, \(server.acceptPauses) pauses so far)")
            }
            servers.append(server)
            log.info("MQTT listening on \(server.localAddress)")
        }
        if let tlsContext {
            for address in config.tlsListeners {
                let broker = self.broker
                let server = try TLSServer(loop: loop, host: address.host, port: address.port, context: tlsContext) { stream in
                    if let info = stream.tls {
                        broker.log.debug("TLS \(info.protocolVersion) \(info.cipher) from \(stream.remoteAddress), SNI \(info.serverName ?? "-"), ALPN \(info.alpn ?? "-"), client \(info.peerCertificate?.subjectCommonName ?? "-")")
                    }
                    broker.accept(stream)
                }
                server.onAcceptError = { [log] error in
                    log.warning("MQTT over TLS listener \(address): \(error); refusing connections with back-off")
                }
                server.onHandshakeFailure = { [log] address, reason in
                    broker.metrics.tlsHandshakeFailures += 1
                    log.notice("TLS handshake with \(address) failed: \(reason)")
                }
                tlsServers.append(server)
                log.info("MQTT over TLS listening on \(server.localAddress)")
            }
        }
        broker.extraSysTopics = { [unowned self] in
            let refused = servers.reduce(0) { $0 + $1.refusedConnections } + tlsServers.reduce(0) { $0 + $1.refusedConnections }
            let pauses = servers.reduce(0) { $0 + $1.acceptPauses } + tlsServers.reduce(0) { $0 + $1.acceptPauses }
            return [("connections/accept_refused", "\(refused)"), ("connections/accept_pauses", "\(pauses)")]
        }
        // Group commit of the broker's and the link's changes, off the loop thread; the loop holds
        // what each turn wrote until its commit is done: acknowledgements never precede their data.
        committer.install()

        // --- coordinator link (issue #4) ---
        // Its forward log joins the broker's transaction of each turn (TurnCommitter): a forwarded
        // QoS 1 message's PUBACK leaves only once the forward is durable.
        if let coordinator = config.coordinator {
            var linkLimits = LinkLimits()
            linkLimits.maxUnacked = coordinator.maxUnconfirmedForwards
            let link = try CoordinatorLink(settings: try coordinator.resolved(file: nil), limits: linkLimits,
                                           databasePath: config.dataDir + "/fleetgate.db",
                                           synchronous: config.durability == .full ? .full : .normal,
                                           broker: broker, loop: loop, log: log)
            committer.link = link
            link.start(defaultAdvertise: servers.first?.localAddress ?? "", sysIntervalSeconds: config.sysInterval)
            self.link = link
        }
        // --- end coordinator link ---

        // 250 ms: keepalive is enforced within a quarter second of 1.5x the interval.
        let sweep = LoopTimer(loop: loop)
        sweep.start(afterMilliseconds: 250, repeatEveryMilliseconds: 250) { [broker] in broker.sweep() }
        timers.append(sweep)
        if config.sysInterval > 0 {
            let sys = LoopTimer(loop: loop)
            let ms = UInt64(config.sysInterval) * 1000
            sys.start(afterMilliseconds: ms, repeatEveryMilliseconds: ms) { [broker] in broker.publishSys() }
            timers.append(sys)
        }
        for signal in [SIGTERM, SIGINT] {
            signals.append(try SignalWatcher(loop: loop, signal: signal) { [unowned self] in self.stop() })
        }
        signals.append(try SignalWatcher(loop: loop, signal: SIGHUP) { [unowned self] in self.reload() })
        try writeReadyFile()
        loop.run()
        do { try committer.close() } catch { log.error("final commit failed: \(error)") }
        store.close()
        policyStore.close()
        log.info("stopped")
    }

    /// Graceful stop: no new connections, MQTT 5 clients told 0x8B, state committed, loop ends.
    private func stop() {
        guard !stopping else { return }
        stopping = true
        log.info("shutting down")
        for s in servers { s.close() }
        for s in tlsServers { s.close() }
        for t in timers { t.close() }
        for s in signals { s.close() }
        broker.shutDown()
        do { try committer.commitNow() } catch { log.error("commit at shutdown failed: \(error)") }
        link?.stop()  // coordinator link: closes its connection and timers
        loop.stop()
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
        let mqtt = servers.map { "\"\($0.localAddress)\"" }.joined(separator: ", ")
        let mqtts = tlsServers.map { "\"\($0.localAddress)\"" }.joined(separator: ", ")
        let json = "{\"pid\": \(getpid()), \"mqtt\": [\(mqtt)], \"mqtts\": [\(mqtts)]}\n"
        let tmp = path + ".tmp"
        try json.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw ConfigError(file: nil, line: nil, key: "ready_file", message: "cannot write \(path)") }
    }
}
