import FleetCore
import FleetProtocol
import FleetRuntime
import Foundation
import Logging

/// One gateway agent: an event loop with its MQTT listeners, the broker and its store.
/// `run()` blocks the calling thread, which becomes the loop thread; everything else here is
/// touched only from that thread.
public final class Agent {
    public let config: AgentConfig
    private let log: Logger
    private let loop: EventLoop
    private let store: SessionStore
    private let broker: Broker
    private var servers: [TCPServer] = []
    private var timers: [LoopTimer] = []
    private var signals: [SignalWatcher] = []
    private var stopping = false
    /// The coordinator link, when one is configured (issue #4).
    private var link: CoordinatorLink?

    public init(config: AgentConfig, logger: Logger) throws {
        self.config = config
        self.log = logger
        let opened = SystemResources.raiseOpenFileLimit()
        logger.debug("open file limit \(opened)")
        try FileManager.default.createDirectory(atPath: config.dataDir, withIntermediateDirectories: true)
        loop = try EventLoop()
        store = try SessionStore(path: config.dataDir + "/fleetgate.db",
                                 synchronous: config.durability == .full ? .full : .normal)
        broker = Broker(limits: config.limits, denySubscribe: config.denySubscribe, log: logger, loop: loop, store: store,
                        wallClock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        try broker.restore()
    }

    /// Binds every listener, writes the ready file and serves until SIGTERM/SIGINT.
    public func run() throws {
        for address in config.listeners {
            let broker = self.broker
            let server = try TCPServer(loop: loop, host: address.host, port: address.port) { broker.accept($0) }
            servers.append(server)
            log.info("MQTT listening on \(server.localAddress)")
        }
        // Group commit, then the loop flushes sockets: acknowledgements never precede their data.
        loop.addBeforeSleepHook { [broker] in broker.commit() }

        // --- coordinator link (issue #4) ---
        // Its hook commits the forward log after the broker's commit and, like it, before the loop
        // flushes sockets: a forwarded QoS 1 message's PUBACK leaves only once the forward is durable.
        if let coordinator = config.coordinator {
            let link = try CoordinatorLink(settings: try coordinator.resolved(file: nil), databasePath: config.dataDir + "/fleetgate.db",
                                           synchronous: config.durability == .full ? .full : .normal,
                                           broker: broker, loop: loop, log: log)
            loop.addBeforeSleepHook { [link] in link.beforeSleep() }
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
        try writeReadyFile()
        loop.run()
        store.close()
        log.info("stopped")
    }

    /// Graceful stop: no new connections, MQTT 5 clients told 0x8B, state committed, loop ends.
    private func stop() {
        guard !stopping else { return }
        stopping = true
        log.info("shutting down")
        for s in servers { s.close() }
        for t in timers { t.close() }
        for s in signals { s.close() }
        broker.shutDown()
        broker.commit()
        link?.stop()  // coordinator link: closes its connection and timers, commits its log
        loop.stop()
    }

    private func writeReadyFile() throws {
        guard let path = config.readyFile else { return }
        let mqtt = servers.map { "\"\($0.localAddress)\"" }.joined(separator: ", ")
        let json = "{\"pid\": \(getpid()), \"mqtt\": [\(mqtt)]}\n"
        let tmp = path + ".tmp"
        try json.write(toFile: tmp, atomically: false, encoding: .utf8)
        guard rename(tmp, path) == 0 else { throw ConfigError(file: nil, line: nil, key: "ready_file", message: "cannot write \(path)") }
    }
}
