import FleetConfig
import ArgumentParser
import FleetCoordinator
import FleetObservability
import Foundation
import Logging

struct CoordinatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetgate-coordinator",
        abstract: "Fleetgate coordinator: joins the gateways (interest, routing, gateway graph, admin API).",
        discussion: """
            Settings come from the defaults, then the YAML file given with --config, then these flags.
            A bad config file is reported with its file, line and key, and the coordinator exits with status 78.
            """,
        version: FleetgateVersion.line(for: "fleetgate-coordinator"))

    @Option(name: .customLong("listen"), help: ArgumentHelp("Agent link on HOST:PORT (default 127.0.0.1:7420; port 0 = OS picks).", valueName: "HOST:PORT"))
    var listen: String?

    @Option(name: .customLong("http"), help: ArgumentHelp("HTTP admin API and /metrics on HOST:PORT (default 127.0.0.1:7421).", valueName: "HOST:PORT"))
    var http: String?

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Directory of the gateway graph database.", valueName: "DIR"))
    var dataDir: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("File with the shared token agents present in HELLO (required).", valueName: "FILE"))
    var tokenFile: String?

    @Option(name: .customLong("admin-token-file"), help: ArgumentHelp("Bearer token for the admin API, reads and writes (admin_token_file). Without a token file the API answers 401 to all but /healthz.", valueName: "FILE"))
    var adminTokenFile: String?

    @Option(name: .customLong("read-token-file"), help: ArgumentHelp("Bearer token for the admin API, reads only (read_token_file).", valueName: "FILE"))
    var readTokenFile: String?

    @Option(name: .customLong("http-tls-cert"), help: ArgumentHelp("Serve the admin API and /metrics over TLS with this certificate chain (PEM; http_tls_cert).", valueName: "FILE"))
    var httpTLSCert: String?

    @Option(name: .customLong("http-tls-key"), help: ArgumentHelp("The admin certificate's private key (PEM; http_tls_key).", valueName: "FILE"))
    var httpTLSKey: String?

    @Option(name: .customLong("gateway-tokens"), help: ArgumentHelp("Per-gateway HELLO tokens, one '<gateway-id> <token>' per line (gateway_tokens); a listed gateway must use its own.", valueName: "FILE"))
    var gatewayTokens: String?

    @Flag(name: .customLong("allow-new-gateways"), help: "Let a HELLO register a gateway id not yet known (allow_new_gateways). Closed by default.")
    var allowNewGateways = false

    @Option(name: .customLong("config"), help: ArgumentHelp("YAML config file (docs/COORDINATOR.md).", valueName: "FILE"))
    var configFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text (default) or json: one JSON object per line with ts, level, logger, message and fields (log_format).")
    var logFormat: String?

    @Option(name: .customLong("ready-file"), help: ArgumentHelp("Once both listen, write {\"pid\":…, \"link\":\"HOST:PORT\", \"http\":\"HOST:PORT\"} here.", valueName: "FILE"))
    var readyFile: String?

    @Option(name: .customLong("gateway-timeout"), help: ArgumentHelp("Mark a connected gateway down after this much silence (default 15; fractions allowed).", valueName: "SECONDS"))
    var gatewayTimeout: String?

    @Option(name: .customLong("http-idle-timeout"), help: ArgumentHelp("Close an idle admin HTTP connection after this long (default 30; http_idle_timeout).", valueName: "SECONDS"))
    var httpIdleTimeout: String?

    @Option(name: .customLong("http-request-timeout"), help: ArgumentHelp("An admin HTTP request must be read within this long (default 10; http_request_timeout).", valueName: "SECONDS"))
    var httpRequestTimeout: String?

    @Option(name: .customLong("http-max-connections"), help: ArgumentHelp("Open admin HTTP connections at once; more are closed at accept (default 256; http_max_connections).", valueName: "N"))
    var httpMaxConnections: String?

    @Option(name: .customLong("link-tls-cert"), help: ArgumentHelp("Serve the agent link over TLS with this certificate chain (PEM; link_tls.cert).", valueName: "FILE"))
    var linkTLSCert: String?

    @Option(name: .customLong("link-tls-key"), help: ArgumentHelp("The link certificate's private key (PEM; link_tls.key).", valueName: "FILE"))
    var linkTLSKey: String?

    @Option(name: .customLong("link-tls-client-ca"), help: ArgumentHelp("Mutual TLS: gateway certificates must chain to this CA and name the gateway id (link_tls.client_ca).", valueName: "FILE"))
    var linkTLSClientCA: String?

    func run() throws {
        var loaded = CoordinatorConfig()
        let token: [UInt8]
        let adminAuth: AdminAuth
        do throws(ConfigError) {
            // The flag first: a config error is then written in the format asked for.
            if let logFormat { loaded.logFormat = try Self.logFormat(logFormat) }
            if let configFile { try CoordinatorConfigFile.load(path: configFile, into: &loaded) }
            try applyFlags(to: &loaded)
            token = try loaded.loadToken()
            adminAuth = try loaded.loadAdminAuth()
            _ = try loaded.loadGatewayTokens()  // a bad line is a config error at start
            _ = try loaded.loadHTTPTLS()  // a bad certificate or key is a config error now, not at bind
        } catch {
            let line = loaded.logFormat == .json
                ? FleetLogHandler.record(level: .critical, logger: "fleetgate-coordinator", message: "config error: \(error)",
                                         fields: [("key", error.key)] + (error.file.map { [("file", $0)] } ?? []))
                : "fleetgate-coordinator: config error: \(error)\n"
            FileHandle.standardError.write(Data(line.utf8))
            throw ExitCode(78)  // EX_CONFIG
        }
        let config = loaded
        let level = Logger.Level(rawValue: config.logLevel.rawValue) ?? .info
        config.logFormat.bootstrap(level: level)
        var logger = Logger(label: "fleetgate-coordinator")
        logger.logLevel = level
        do {
            if !adminAuth.isConfigured {
                logger.warning("no --admin-token-file or --read-token-file: the admin API answers 401 to everything but /healthz")
            }
            try Coordinator(config: config, token: token, adminAuth: adminAuth, logger: logger).run()
        } catch {
            logger.critical("cannot run: \(error)")
            throw ExitCode.failure
        }
    }

    static func logFormat(_ text: String) throws(ConfigError) -> LogFormat {
        guard let format = LogFormat(rawValue: text) else {
            throw ConfigError(file: nil, line: nil, key: "--log-format", message: "\(LogFormat.expectation), got '\(text)'")
        }
        return format
    }

    private func applyFlags(to config: inout CoordinatorConfig) throws(ConfigError) {
        func address(_ text: String, _ flag: String) throws(ConfigError) -> HostPort {
            switch HostPort.parse(text) {
            case .success(let a): return a
            case .failure(let f): throw ConfigError(file: nil, line: nil, key: flag, message: "'\(text)': \(f.message)")
            }
        }
        if let listen { config.link = try address(listen, "--listen") }
        if let http { config.http = try address(http, "--http") }
        if let dataDir { config.dataDir = dataDir }
        if let tokenFile { config.tokenFile = tokenFile }
        if let adminTokenFile { config.adminTokenFile = adminTokenFile }
        if let httpTLSCert { config.httpTLSCertificateFile = httpTLSCert }
        if let httpTLSKey { config.httpTLSKeyFile = httpTLSKey }
        switch (config.httpTLSCertificateFile, config.httpTLSKeyFile) {
        case (.some, nil): throw ConfigError(file: nil, line: nil, key: "--http-tls-key", message: "required with --http-tls-cert")
        case (nil, .some): throw ConfigError(file: nil, line: nil, key: "--http-tls-cert", message: "required with --http-tls-key")
        default: break
        }
        if let readTokenFile { config.readTokenFile = readTokenFile }
        if let gatewayTokens { config.gatewayTokensFile = gatewayTokens }
        if allowNewGateways { config.allowNewGateways = true }
        if let readyFile { config.readyFile = readyFile }
        if let logFormat { config.logFormat = try Self.logFormat(logFormat) }
        if let logLevel {
            guard let level = CoordinatorConfig.LogLevel(rawValue: logLevel) else {
                throw ConfigError(file: nil, line: nil, key: "--log-level",
                                  message: "expected one of \(CoordinatorConfig.LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.logLevel = level
        }
        if linkTLSCert != nil || linkTLSKey != nil || linkTLSClientCA != nil {
            let cert = linkTLSCert ?? config.linkTLS?.certificateFile, key = linkTLSKey ?? config.linkTLS?.keyFile
            guard let cert else { throw ConfigError(file: nil, line: nil, key: "--link-tls-cert", message: "required with --link-tls-key/--link-tls-client-ca") }
            guard let key else { throw ConfigError(file: nil, line: nil, key: "--link-tls-key", message: "required with --link-tls-cert") }
            config.linkTLS = LinkTLS(certificateFile: cert, keyFile: key, clientCAFile: linkTLSClientCA ?? config.linkTLS?.clientCAFile)
        }
        func seconds(_ text: String, _ flag: String) throws(ConfigError) -> Double {
            guard let v = Double(text), v.isFinite, v >= 0.05, v <= 86_400 else {
                throw ConfigError(file: nil, line: nil, key: flag, message: "expected seconds in 0.05...86400, got '\(text)'")
            }
            return v
        }
        if let httpIdleTimeout { config.httpIdleTimeoutSeconds = try seconds(httpIdleTimeout, "--http-idle-timeout") }
        if let httpRequestTimeout { config.httpRequestTimeoutSeconds = try seconds(httpRequestTimeout, "--http-request-timeout") }
        if let httpMaxConnections {
            guard let n = Int(httpMaxConnections), n >= 1, n <= 1_000_000 else {
                throw ConfigError(file: nil, line: nil, key: "--http-max-connections", message: "expected 1...1000000, got '\(httpMaxConnections)'")
            }
            config.httpMaxConnections = n
        }
        if let gatewayTimeout {
            guard let v = Double(gatewayTimeout), v.isFinite, v >= 0.05, v <= 86_400 else {
                throw ConfigError(file: nil, line: nil, key: "--gateway-timeout", message: "expected seconds in 0.05...86400, got '\(gatewayTimeout)'")
            }
            config.gatewayTimeoutSeconds = v
        }
    }
}
