import FleetConfig
import FleetCore
import FleetRuntime
import Foundation
import Logging

/// One event loop's share of a gateway: the loop, its MQTT listeners, the broker of the sessions
/// whose connections it accepted, their store and the committer of its turns. What belongs to the
/// process (config, credentials and policies, the TLS context, signals, the coordinator link)
/// stays in ``Agent``.
///
/// An agent runs one shard today. One loop per core runs one per core, each on its own thread,
/// with listeners that share their ports (`sharedPort`, SO_REUSEPORT); what that still needs is
/// in docs/DESIGN-NOTES.md "Toward one loop per core".
///
/// **Loop-thread only**: created on, and afterwards touched only from, the thread that runs
/// `loop`.
final class AgentShard {
    let loop: EventLoop
    let store: SessionStore
    let broker: Broker
    /// Each turn's changes in one transaction off the loop thread; the turn's bytes wait for it.
    let committer: TurnCommitter
    private(set) var servers: [TCPServer] = []
    private(set) var tlsServers: [TLSServer] = []
    private var timers: [LoopTimer] = []
    private let log: Logger

    init(config: AgentConfig, security: SecurityState, log: Logger) throws {
        self.log = log
        let databasePath = config.dataDir + "/fleetgate.db"
        let synchronous: SQLiteDatabase.Synchronous = config.durability == .full ? .full : .normal
        loop = try EventLoop()
        store = try SessionStore(path: databasePath, synchronous: synchronous)
        broker = Broker(limits: config.limits, denySubscribe: config.denySubscribe, security: security, log: log, loop: loop, store: store,
                        wallClock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        try broker.restore()
        committer = try TurnCommitter(loop: loop, databasePath: databasePath, synchronous: synchronous, broker: broker)
    }

    /// Binds the MQTT listeners (plain, then TLS). `sharedPort`: every shard binds the same
    /// addresses and the kernel spreads connections across them.
    func listen(config: AgentConfig, tlsContext: TLSContext?, sharedPort: Bool) throws {
        let broker = self.broker
        for address in config.listeners {
            let server = try TCPServer(loop: loop, host: address.host, port: address.port, sharedPort: sharedPort) { broker.accept($0) }
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
                let server = try TLSServer(loop: loop, host: address.host, port: address.port, context: tlsContext,
                                           sharedPort: sharedPort) { stream in
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
    }

    /// Group commit of the broker's (and a joined link's) changes, the keepalive and expiry sweep,
    /// and `$SYS`.
    func start(sysIntervalSeconds: UInt32) {
        // The loop holds what each turn wrote until its commit is done: acknowledgements never
        // precede their data.
        committer.install()
        // 250 ms: keepalive is enforced within a quarter second of 1.5x the interval.
        let sweep = LoopTimer(loop: loop)
        sweep.start(afterMilliseconds: 250, repeatEveryMilliseconds: 250) { [broker] in broker.sweep() }
        timers.append(sweep)
        if sysIntervalSeconds > 0 {
            let sys = LoopTimer(loop: loop)
            let ms = UInt64(sysIntervalSeconds) * 1000
            sys.start(afterMilliseconds: ms, repeatEveryMilliseconds: ms) { [broker] in broker.publishSys() }
            timers.append(sys)
        }
    }

    /// Graceful stop, first half: no new connections, MQTT 5 clients told 0x8B, the last turn
    /// committed. The loop then ends.
    func stop() {
        for s in servers { s.close() }
        for s in tlsServers { s.close() }
        for t in timers { t.close() }
        broker.shutDown()
        do { try committer.commitNow() } catch { log.error("commit at shutdown failed: \(error)") }
    }

    /// After the loop ended: the final commit, then the store.
    func close() {
        do { try committer.close() } catch { log.error("final commit failed: \(error)") }
        store.close()
    }
}
