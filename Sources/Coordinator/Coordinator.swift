import FleetConfig
import FleetRuntime
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
import struct NIOCore.TimeAmount
import Logging
import ServiceLifecycle

/// The coordinator process: the fabric on a FleetRuntime loop (the thread that calls `run()`),
/// the HTTP admin API on Swift concurrency beside it.
///
/// Shutdown (SIGTERM/SIGINT, watched on the loop): gateways get ERROR shuttingDown and are closed,
/// the HTTP server is cancelled; once it has stopped and the connections are closed (or the grace
/// ran out) the mailbox, timers and store are closed and `run()` returns.
public final class Coordinator {
    public let config: CoordinatorConfig
    private let token: [UInt8]
    private let adminAuth: AdminAuth
    private let log: Logger

    private var loop: EventLoop?
    private var fabric: Fabric?
    private var mailbox: LoopMailbox?
    private var signals: [SignalWatcher] = []
    private var graceTimer: LoopTimer?
    private var httpGroup: ServiceGroup?
    private var httpStopped = false
    private var finished = false
    /// Set when the HTTP server failed; `run()` then throws.
    private var failure: String?

    public init(config: CoordinatorConfig, token: [UInt8], adminAuth: AdminAuth, logger: Logger) {
        self.config = config
        self.token = token
        self.adminAuth = adminAuth
        self.log = logger
    }

    /// Serves until SIGTERM/SIGINT. The calling thread becomes the loop thread.
    public func run() throws {
        let loop = try EventLoop()
        self.loop = loop
        let store = try GraphStore(directory: config.dataDir)
        let fabric = try Fabric(config: config, token: token, loop: loop, store: store, logger: log)
        self.fabric = fabric
        let linkAddress = try fabric.start()
        let mailbox = try LoopMailbox(loop: loop)
        self.mailbox = mailbox
        for signal in [SIGTERM, SIGINT] {
            signals.append(try SignalWatcher(loop: loop, signal: signal) { [unowned self] in self.shutdown() })
        }
        signals.append(try SignalWatcher(loop: loop, signal: SIGHUP) { [fabric] in fabric.reloadLinkTLS() })

        let bridge = FabricBridge(mailbox: mailbox, fabric: fabric)
        let limiter = HTTPConnectionLimiter(maxConnections: config.httpMaxConnections)
        let metrics = CoordinatorMetrics(httpLimiter: limiter)
        let readyFile = config.readyFile
        let log = self.log
        var httpLogger = Logger(label: "fleetgate-coordinator.http")
        httpLogger.logLevel = log.logLevel > .notice ? log.logLevel : .notice
        let app = Application(
            router: AdminAPI.router(bridge: bridge, metrics: metrics, auth: adminAuth),
            server: try Self.httpServer(config, limiter: limiter),
            configuration: .init(address: .hostname(config.http.host, port: Int(config.http.port)), serverName: nil),
            onServerRunning: { channel in
                let http = Self.describe(host: channel.localAddress?.ipAddress, port: channel.localAddress?.port)
                log.info("HTTP admin API on \(http)")
                if let readyFile { Self.writeReadyFile(readyFile, link: linkAddress, http: http, log: log) }
            },
            logger: httpLogger)
        let done = LoopBound(self)
        // No signals here: libuv watches SIGTERM/SIGINT on the loop and triggers the shutdown.
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: httpLogger))
        httpGroup = group
        Task {
            var failure: String?
            do { try await group.run() } catch {
                failure = "\(error)"
            }
            let reason = failure
            mailbox.post { done.value.httpDidStop(failure: reason) }
        }

        loop.run()
        loop.shutdown()
        if let failure { throw CoordinatorError.http(failure) }
        log.info("stopped")
    }

    private func httpDidStop(failure: String?) {
        httpStopped = true
        if let failure {
            log.critical("HTTP admin API failed: \(failure)")
            self.failure = failure
            shutdown()
        }
        finishIfDone()
    }

    private func shutdown() {
        guard let fabric, let loop, !fabric.isShuttingDown else { return }
        log.info("shutting down")
        for s in signals { s.close() }
        signals = []
        if let group = httpGroup { Task { await group.triggerGracefulShutdown() } }
        fabric.beginShutdown { [unowned self] in self.finishIfDone() }
        let grace = LoopTimer(loop: loop)
        grace.start(afterMilliseconds: CoordinatorLimits.shutdownGraceMs) { [unowned self] in
            self.log.warning("shutdown grace over: cutting what is still open")
            self.finish()
        }
        graceTimer = grace
    }

    private func finishIfDone() {
        guard let fabric, fabric.isShuttingDown, httpStopped, fabric.openConnectionCount == 0 else { return }
        finish()
    }

    /// Last step on the loop thread: everything that keeps the loop alive is closed.
    private func finish() {
        guard !finished, let fabric else { return }
        finished = true
        fabric.finish()
        graceTimer?.close()
        for s in signals { s.close() }
        signals = []
        // If the HTTP server did not stop within the grace, requests still in flight are dropped
        // with the mailbox; the process ends anyway.
        mailbox?.close()
        loop?.stop()
    }

    /// The admin listener's bounds (docs/DESIGN-NOTES.md "HTTP listener bounds"): Hummingbird's
    /// idle timeout, and per connection a guard holding a slot of `limiter` and the request deadline.
    /// Plain HTTP/1.1, or TLS (1.2 or later) around it when `http_tls_cert`/`http_tls_key` are set.
    static func httpServer(_ config: CoordinatorConfig, limiter: HTTPConnectionLimiter) throws -> HTTPServerBuilder {
        let http1 = HTTPServerBuilder.http1(configuration: http1Configuration(config, limiter: limiter))
        guard let tls = try config.loadHTTPTLS() else { return http1 }
        return try .tls(http1, tlsConfiguration: tls)
    }

    static func http1Configuration(_ config: CoordinatorConfig, limiter: HTTPConnectionLimiter) -> HTTP1Channel.Configuration {
        let requestTimeout = TimeAmount.milliseconds(Int64((config.httpRequestTimeoutSeconds * 1000).rounded()))
        return HTTP1Channel.Configuration(
            additionalChannelHandlers: [HTTPConnectionGuard(limiter: limiter, requestTimeout: requestTimeout)],
            idleTimeout: .milliseconds(Int64((config.httpIdleTimeoutSeconds * 1000).rounded())))
    }

    static func describe(host: String?, port: Int?) -> String {
        let h = host ?? "?"
        return h.contains(":") ? "[\(h)]:\(port ?? 0)" : "\(h):\(port ?? 0)"
    }

    /// `{"pid": N, "link": "HOST:PORT", "http": "HOST:PORT"}`, written atomically (rename).
    static func writeReadyFile(_ path: String, link: String, http: String, log: Logger) {
        let json = "{\"pid\": \(getpid()), \"link\": \"\(link)\", \"http\": \"\(http)\"}\n"
        let tmp = path + ".tmp"
        do {
            try json.write(toFile: tmp, atomically: false, encoding: .utf8)
            guard rename(tmp, path) == 0 else { throw CoordinatorError.readyFile(path) }
        } catch {
            log.error("cannot write the ready file \(path): \(error)")
        }
    }
}

public enum CoordinatorError: Error, CustomStringConvertible {
    case http(String)
    case readyFile(String)
    public var description: String {
        switch self {
        case .http(let s): "HTTP admin API: \(s)"
        case .readyFile(let p): "cannot write the ready file \(p)"
        }
    }
}

/// Carries a loop-thread object through a @Sendable closure that runs on the loop thread again
/// (a LoopMailbox job). Invariant: `value` is only touched there.
struct LoopBound<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

extension CoordinatorConfig {
    /// The admin listener's TLS settings from `http_tls_cert`/`http_tls_key`, nil without them.
    /// An unreadable or malformed file is a config error naming the key and the file, found at
    /// start (the command loads it once before running).
    public func loadHTTPTLS() throws(ConfigError) -> TLSConfiguration? {
        guard let certificateFile = httpTLSCertificateFile, let keyFile = httpTLSKeyFile else { return nil }
        let chain: [NIOSSLCertificate]
        do { chain = try NIOSSLCertificate.fromPEMFile(certificateFile) } catch {
            throw ConfigError(file: certificateFile, line: nil, key: "http_tls_cert", message: "cannot read a PEM certificate chain: \(error)")
        }
        guard !chain.isEmpty else {
            throw ConfigError(file: certificateFile, line: nil, key: "http_tls_cert", message: "no certificate in the file")
        }
        let key: NIOSSLPrivateKey
        do { key = try NIOSSLPrivateKey(file: keyFile, format: .pem) } catch {
            throw ConfigError(file: keyFile, line: nil, key: "http_tls_key", message: "cannot read a PEM private key: \(error)")
        }
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}
