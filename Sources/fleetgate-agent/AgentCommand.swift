import FleetConfig
import ArgumentParser
import Foundation
import FleetAgent
import FleetObservability
import Logging

@main
enum Main {
    /// `fleetgate-agent passwd ...` manages the password file; everything else runs the agent.
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "passwd" {
            PasswdCommand.main(Array(arguments.dropFirst()))
        } else if arguments.first == "policy" {
            PolicyCommand.main(Array(arguments.dropFirst()))
        } else {
            AgentCommand.main(arguments)
        }
    }
}

struct AgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetgate-agent",
        abstract: "Fleetgate gateway agent: an MQTT 3.1.1/5.0 broker with durable sessions.",
        discussion: """
            Settings come from the defaults, then the YAML file given with --config, then these flags.
            A bad config file is reported with its file, line and key, and the agent exits with status 78.
            Anonymous clients are refused unless --allow-anonymous (or auth.allow_anonymous) is given.
            SIGHUP reloads the TLS certificate and key and the password file without dropping connections.

            Manage the password file with:  fleetgate-agent passwd FILE add USER  (password read from stdin)
                                             fleetgate-agent passwd FILE remove USER
            Store authorization policies in the database: fleetgate-agent policy --data-dir DIR import|remove|list
            """,
        version: FleetgateVersion.line(for: "fleetgate-agent"))

    @Option(name: .customLong("listen"), help: ArgumentHelp("MQTT over TCP on HOST:PORT (repeatable; IPv6 as [::1]:1883; port 0 lets the OS choose).", valueName: "HOST:PORT"))
    var listen: [String] = []

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("Directory for the SQLite database (default ./data).", valueName: "DIR"))
    var dataDir: String?

    @Option(name: .customLong("config"), help: ArgumentHelp("YAML config file (see README: listeners, data_dir, limits, policy, ...).", valueName: "FILE"))
    var configFile: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "text (default) or json: one JSON object per line with ts, level, logger, message and fields (log_format).")
    var logFormat: String?

    @Option(name: .customLong("metrics"), help: ArgumentHelp("Serve Prometheus metrics at http://HOST:PORT/metrics (metrics; port 0 = OS picks, see --ready-file).", valueName: "HOST:PORT"))
    var metrics: String?

    @Option(name: .customLong("ready-file"), help: ArgumentHelp("Once listening, write {\"pid\":…, \"mqtt\":[\"HOST:PORT\",…]} here (for scripts and tests).", valueName: "FILE"))
    var readyFile: String?

    @Option(name: .customLong("max-keepalive"), help: ArgumentHelp("Largest keepalive granted to clients, in seconds (default 60).", valueName: "SECONDS"))
    var maxKeepAlive: UInt16?

    @Option(name: .customLong("max-sessions"), help: ArgumentHelp("Sessions held at most; a CONNECT that would create another is refused (limits.max_sessions, default 1000000).", valueName: "N"))
    var maxSessions: Int?

    @Option(name: .customLong("durability"), help: "normal (survives an agent crash) or full (fsync every group commit; survives power loss).")
    var durability: String?

    @Option(name: .customLong("listen-tls"), help: ArgumentHelp("MQTT over TLS on HOST:PORT (repeatable); needs --tls-cert and --tls-key.", valueName: "HOST:PORT"))
    var listenTLS: [String] = []

    @Option(name: .customLong("listen-sockets"), help: ArgumentHelp("Managed sockets (raw TCP, one OPEN line then bytes) on HOST:PORT (repeatable).", valueName: "HOST:PORT"))
    var listenSockets: [String] = []

    @Option(name: .customLong("listen-sockets-tls"), help: ArgumentHelp("Managed sockets over TLS on HOST:PORT (repeatable); the MQTT TLS settings apply.", valueName: "HOST:PORT"))
    var listenSocketsTLS: [String] = []

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Server certificate chain (PEM).", valueName: "FILE"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("Server private key (PEM).", valueName: "FILE"))
    var tlsKey: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("CA bundle that client certificates must chain to.", valueName: "FILE"))
    var tlsCA: String?

    @Option(name: .customLong("tls-client-auth"), help: "none (server authentication only), optional, or required (mutual TLS).")
    var tlsClientAuth: String?

    @Flag(name: .customLong("allow-anonymous"), help: "Accept clients without credentials (development profile).")
    var allowAnonymous = false

    @Option(name: .customLong("password-file"), help: ArgumentHelp("user:hash lines written by 'fleetgate-agent passwd'.", valueName: "FILE"))
    var passwordFile: String?
    @Option(name: .customLong("gateway-id"), help: ArgumentHelp("This gateway's id in the fleet (coordinator.gateway_id).", valueName: "ID"))
    var gatewayId: String?

    @Option(name: .customLong("coordinator"), help: ArgumentHelp("Join the fleet: the coordinator's agent port (coordinator.address).", valueName: "HOST:PORT"))
    var coordinator: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp("File with the token sent in HELLO (coordinator.token_file).", valueName: "FILE"))
    var tokenFile: String?

    @Option(name: .customLong("advertise"), help: ArgumentHelp("MQTT address devices are redirected to (coordinator.advertise; default: the first listener).", valueName: "HOST:PORT"))
    var advertise: String?

    @Option(name: .customLong("coordinator-tls-ca"), help: ArgumentHelp("TLS to the coordinator: the CA its certificate must chain to (coordinator.tls.ca).", valueName: "FILE"))
    var coordinatorTLSCA: String?

    @Option(name: .customLong("coordinator-tls-cert"), help: ArgumentHelp("Mutual TLS: this gateway's certificate, naming its gateway id (coordinator.tls.cert).", valueName: "FILE"))
    var coordinatorTLSCert: String?

    @Option(name: .customLong("coordinator-tls-key"), help: ArgumentHelp("Mutual TLS: the key of --coordinator-tls-cert (coordinator.tls.key).", valueName: "FILE"))
    var coordinatorTLSKey: String?

    func run() throws {
        var loaded = AgentConfig()
        do throws(ConfigError) {
            // The flag first: a config error is then written in the format asked for.
            if let logFormat { loaded.logFormat = try Self.logFormat(logFormat) }
            if let configFile { try ConfigFile.load(path: configFile, into: &loaded) }
            try applyFlags(to: &loaded)
            try applyCoordinatorFlags(to: &loaded)
        } catch {
            if loaded.logFormat == .json {
                printError(FleetLogHandler.record(level: .critical, logger: "fleetgate-agent", message: "config error: \(error)",
                                                  fields: [("key", error.key)] + (error.file.map { [("file", $0)] } ?? [])), newline: false)
            } else {
                printError("fleetgate-agent: config error: \(error)")
            }
            throw ExitCode(78)  // EX_CONFIG
        }
        let config = loaded
        let level = Logger.Level(rawValue: config.logLevel.rawValue) ?? .info
        config.logFormat.bootstrap(level: level)
        let logger = Logger(label: "fleetgate-agent")
        do {
            let agent = try Agent(config: config, logger: logger)
            try agent.run()
        } catch {
            logger.critical("cannot start: \(error)")
            throw ExitCode.failure
        }
    }

    private func applyFlags(to config: inout AgentConfig) throws(ConfigError) {
        if !listen.isEmpty {
            config.listeners = try listen.map { (text) throws(ConfigError) in
                switch ListenAddress.parse(text) {
                case .success(let a): return a
                case .failure(let f): throw ConfigError(file: nil, line: nil, key: "--listen", message: "'\(text)': \(f.reason)")
                }
            }
        }
        if let dataDir { config.dataDir = dataDir }
        if let logFormat { config.logFormat = try Self.logFormat(logFormat) }
        if let metrics {
            switch ListenAddress.parse(metrics) {
            case .success(let a): config.metrics = a
            case .failure(let f): throw ConfigError(file: nil, line: nil, key: "--metrics", message: "'\(metrics)': \(f.reason)")
            }
        }
        if let readyFile { config.readyFile = readyFile }
        if let logLevel {
            guard let level = AgentConfig.LogLevel(rawValue: logLevel) else {
                throw ConfigError(file: nil, line: nil, key: "--log-level", message: "expected one of \(AgentConfig.LogLevel.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            config.logLevel = level
        }
        if let maxKeepAlive {
            guard maxKeepAlive > 0 else { throw ConfigError(file: nil, line: nil, key: "--max-keepalive", message: "must be at least 1") }
            config.limits.maxKeepAlive = maxKeepAlive
        }
        if let maxSessions {
            guard maxSessions > 0 else { throw ConfigError(file: nil, line: nil, key: "--max-sessions", message: "must be at least 1") }
            config.limits.maxSessions = maxSessions
        }
        if !listenTLS.isEmpty {
            config.tlsListeners = try listenTLS.map { (text) throws(ConfigError) in
                switch ListenAddress.parse(text) {
                case .success(let a): return a
                case .failure(let f): throw ConfigError(file: nil, line: nil, key: "--listen-tls", message: "'\(text)': \(f.reason)")
                }
            }
        }
        for (flag, texts, keyPath) in [("--listen-sockets", listenSockets, \AgentConfig.socketListeners),
                                       ("--listen-sockets-tls", listenSocketsTLS, \AgentConfig.socketTLSListeners)] where !texts.isEmpty {
            config[keyPath: keyPath] = try texts.map { (text) throws(ConfigError) in
                switch ListenAddress.parse(text) {
                case .success(let a): return a
                case .failure(let f): throw ConfigError(file: nil, line: nil, key: flag, message: "'\(text)': \(f.reason)")
                }
            }
        }
        if tlsCert != nil || tlsKey != nil || tlsCA != nil || tlsClientAuth != nil {
            var tls = config.tls ?? TLSSettings(certificateFile: "", keyFile: "")
            if let tlsCert { tls.certificateFile = tlsCert }
            if let tlsKey { tls.keyFile = tlsKey }
            if let tlsCA { tls.caFile = tlsCA }
            if let tlsClientAuth {
                guard let mode = TLSSettings.ClientAuth(rawValue: tlsClientAuth) else {
                    throw ConfigError(file: nil, line: nil, key: "--tls-client-auth", message: "expected none, optional or required")
                }
                tls.clientAuth = mode
            }
            guard !tls.certificateFile.isEmpty, !tls.keyFile.isEmpty else {
                throw ConfigError(file: nil, line: nil, key: "--tls-cert", message: "TLS needs both --tls-cert and --tls-key")
            }
            if tls.clientAuth != .none && tls.caFile == nil {
                throw ConfigError(file: nil, line: nil, key: "--tls-ca", message: "client authentication needs a CA file")
            }
            config.tls = tls
        }
        if allowAnonymous { config.auth.allowAnonymous = true }
        if let passwordFile { config.auth.passwordFile = passwordFile }
        if let durability {
            guard let d = AgentConfig.Durability(rawValue: durability) else {
                throw ConfigError(file: nil, line: nil, key: "--durability", message: "expected normal or full")
            }
            config.durability = d
        }
    }
}

extension AgentCommand {
    static func logFormat(_ text: String) throws(ConfigError) -> LogFormat {
        guard let format = LogFormat(rawValue: text) else {
            throw ConfigError(file: nil, line: nil, key: "--log-format", message: "\(LogFormat.expectation), got '\(text)'")
        }
        return format
    }

    /// The coordinator flags override the file's `coordinator:` section (and create it); the
    /// section is then checked as a whole (address, gateway id, readable non-empty token file).
    private func applyCoordinatorFlags(to config: inout AgentConfig) throws(ConfigError) {
        if gatewayId != nil || coordinator != nil || tokenFile != nil || advertise != nil
            || coordinatorTLSCA != nil || coordinatorTLSCert != nil || coordinatorTLSKey != nil {
            var c = config.coordinator ?? CoordinatorLinkConfig()
            if let gatewayId { c.gatewayId = gatewayId }
            if let coordinator {
                switch ListenAddress.parse(coordinator) {
                case .success(let a): c.address = a
                case .failure(let f): throw ConfigError(file: nil, line: nil, key: "--coordinator", message: "'\(coordinator)': \(f.reason)")
                }
            }
            if let tokenFile {
                _ = try CoordinatorLinkConfig.readToken(tokenFile, key: "--token-file", file: nil)
                c.tokenFile = tokenFile
            }
            if let advertise {
                if case .failure(let f) = ListenAddress.parse(advertise) {
                    throw ConfigError(file: nil, line: nil, key: "--advertise", message: "'\(advertise)': \(f.reason)")
                }
                c.advertise = advertise
            }
            if let coordinatorTLSCA { c.tlsCAFile = coordinatorTLSCA }
            if let coordinatorTLSCert { c.tlsCertificateFile = coordinatorTLSCert }
            if let coordinatorTLSKey { c.tlsKeyFile = coordinatorTLSKey }
            config.coordinator = c
        }
        try config.coordinator?.validate(file: configFile)
    }
}

func printError(_ text: String, newline: Bool = true) {
    FileHandle.standardError.write(Data((newline ? text + "\n" : text).utf8))
}
