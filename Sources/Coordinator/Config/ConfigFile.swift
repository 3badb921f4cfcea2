import Foundation
import FleetConfig
import FleetObservability
import Yams

/// Reads the coordinator's YAML config file (the agent's approach: Yams nodes, unknown keys are
/// errors, every error names the file, line and dotted key).
public enum CoordinatorConfigFile {
    static let knownKeys = ["link", "http", "data_dir", "token_file", "admin_token_file", "read_token_file", "max_interest_filters", "http_tls_cert", "http_tls_key", "log_level", "log_format", "ready_file", "gateway_timeout",
                            "heartbeat_interval_ms", "coordinator_id", "max_frame_size", "link_tls",
                            "http_idle_timeout", "http_request_timeout", "http_max_connections", "retention",
                            "gateway_tokens", "allow_new_gateways", "migration", "maintenance"]

    public static func load(path: String, into config: inout CoordinatorConfig) throws(ConfigError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: nil, key: "(file)", message: "cannot read the file")
        }
        try apply(yaml: String(decoding: data, as: UTF8.self), file: path, to: &config)
    }

    public static func apply(yaml text: String, file: String, to config: inout CoordinatorConfig) throws(ConfigError) {
        guard let root = try YAMLConfig.compose(text, file: file) else { return }  // empty: a valid, empty config
        let r = NodeReader(file: file)
        for (key, value) in try r.mapping(root, key: "(top level)") {
            switch key {
            case "link": config.link = try r.hostPort(value, key: key)
            case "http": config.http = try r.hostPort(value, key: key)
            case "data_dir": config.dataDir = try r.nonEmptyString(value, key: key)
            case "token_file": config.tokenFile = try r.nonEmptyString(value, key: key)
            case "http_tls_cert": config.httpTLSCertificateFile = try r.nonEmptyString(value, key: key)
            case "http_tls_key": config.httpTLSKeyFile = try r.nonEmptyString(value, key: key)
            case "admin_token_file": config.adminTokenFile = try r.nonEmptyString(value, key: key)
            case "read_token_file": config.readTokenFile = try r.nonEmptyString(value, key: key)
            case "gateway_tokens": config.gatewayTokensFile = try r.nonEmptyString(value, key: key)
            case "allow_new_gateways": config.allowNewGateways = try r.bool(value, key: key)
            case "log_level": config.logLevel = try r.choice(value, key: key, CoordinatorConfig.LogLevel.self)
            case "log_format": config.logFormat = try r.choice(value, key: key, LogFormat.self)
            case "ready_file": config.readyFile = try r.nonEmptyString(value, key: key)
            case "gateway_timeout": config.gatewayTimeoutSeconds = try r.seconds(value, key: key)
            case "heartbeat_interval_ms": config.heartbeatIntervalMs = try r.integer(value, key: key, 10...3_600_000)
            case "coordinator_id":
                let id = try r.nonEmptyString(value, key: key)
                guard id.utf8.count <= 128 else { throw r.error(value, key: key, "at most 128 bytes") }
                config.coordinatorId = id
            case "max_interest_filters": config.maxInterestFilters = try r.integer(value, key: key, 1...100_000_000)
            case "max_frame_size": config.maximumFrameSize = try r.integer(value, key: key, 16_384...268_435_456)
            case "link_tls": config.linkTLS = try r.linkTLS(value, key: key)
            case "retention": config.retention = try r.retention(value, key: key, defaults: config.retention)
            case "migration": config.migration = try r.migration(value, key: key)
            case "maintenance": config.maintenanceTiming = try r.maintenanceTiming(value, key: key)
            case "http_idle_timeout": config.httpIdleTimeoutSeconds = try r.seconds(value, key: key)
            case "http_request_timeout": config.httpRequestTimeoutSeconds = try r.seconds(value, key: key)
            case "http_max_connections": config.httpMaxConnections = try r.integer(value, key: key, 1...1_000_000)
            default: throw r.error(value, key: key, "unknown key (known: \(knownKeys.joined(separator: ", ")))")
            }
        }
    }
}

/// The coordinator's own value kinds on top of the shared reader.
extension NodeReader {
    func seconds(_ node: Node, key: String) throws(ConfigError) -> Double {
        guard let s = node.scalar?.string, let v = Double(s) else { throw error(node, key: key, "expected a number of seconds") }
        guard let checked = Self.checkSeconds(v) else { throw error(node, key: key, "must be in 0.05...86400 seconds, got \(s)") }
        return checked
    }

    static func checkSeconds(_ v: Double) -> Double? { v.isFinite && v >= 0.05 && v <= 86_400 ? v : nil }

    /// `link_tls: {cert: FILE, key: FILE, client_ca: FILE}`; cert and key are required, client_ca
    /// turns on mutual TLS.
    func linkTLS(_ node: Node, key: String) throws(ConfigError) -> LinkTLS {
        var cert: String?, privateKey: String?, clientCA: String?
        for (k, v) in try mapping(node, key: key) {
            switch k {
            case "cert": cert = try nonEmptyString(v, key: "\(key).\(k)")
            case "key": privateKey = try nonEmptyString(v, key: "\(key).\(k)")
            case "client_ca": clientCA = try nonEmptyString(v, key: "\(key).\(k)")
            default: throw error(v, key: "\(key).\(k)", "unknown key (known: cert, key, client_ca)")
            }
        }
        guard let cert, let privateKey else { throw error(node, key: key, "needs both 'cert' and 'key'") }
        return LinkTLS(certificateFile: cert, keyFile: privateKey, clientCAFile: clientCA)
    }

    /// `retention: {max_messages: N, max_bytes: N, max_age_s: N}`; keys left out keep their defaults.
    func retention(_ node: Node, key: String, defaults: DeliveryLedger.Retention) throws(ConfigError) -> DeliveryLedger.Retention {
        var r = defaults
        for (k, v) in try mapping(node, key: key) {
            switch k {
            case "max_messages": r.maxMessages = try integer(v, key: "\(key).\(k)", 1...1_000_000_000)
            case "max_bytes": r.maxBytes = try integer(v, key: "\(key).\(k)", 1...(1 << 40))
            case "max_age_s": r.maxAgeMs = UInt64(try integer(v, key: "\(key).\(k)", 1...30 * 86_400)) * 1000
            default: throw error(v, key: "\(key).\(k)", "unknown key (known: max_messages, max_bytes, max_age_s)")
            }
        }
        return r
    }

    /// `migration: {enabled, threshold_msgs_per_s, threshold_bytes_per_s, sustain_s, release_ratio,
    /// cooldown_s, max_concurrent, gateway_max_msgs_per_s, mode}`; every value checked
    /// (`MigrationPolicy.problems`), a bad one named with its line.
    func migration(_ node: Node, key: String) throws(ConfigError) -> MigrationPolicy {
        var p = MigrationPolicy()
        var lines: [String: Node] = [:]
        for (k, v) in try mapping(node, key: key) {
            let field = "\(key).\(k)"
            lines[k] = v
            func number() throws(ConfigError) -> Double {
                guard let s = v.scalar?.string, let d = Double(s) else { throw error(v, key: field, "expected a number") }
                return d
            }
            switch k {
            case "enabled": p.enabled = try bool(v, key: field)
            case "threshold_msgs_per_s": p.thresholdMsgsPerSecond = try number()
            case "threshold_bytes_per_s": p.thresholdBytesPerSecond = try number()
            case "sustain_s": p.sustainSeconds = try number()
            case "release_ratio": p.releaseRatio = try number()
            case "cooldown_s": p.cooldownSeconds = try number()
            case "max_concurrent": p.maxConcurrent = try integer(v, key: field, 1...100_000)
            case "gateway_max_msgs_per_s": p.gatewayMaxMsgsPerSecond = try number()
            case "mode": p.mode = try choice(v, key: field, MigrationPolicy.Mode.self)
            default:
                throw error(v, key: field, "unknown key (known: enabled, threshold_msgs_per_s, threshold_bytes_per_s, sustain_s, release_ratio, cooldown_s, max_concurrent, gateway_max_msgs_per_s, mode)")
            }
        }
        if let problem = p.problems().first {
            throw error(lines[problem.field] ?? node, key: "\(key).\(problem.field)", problem.problem)
        }
        return p
    }

    /// `maintenance: {query_timeout_s, busy_retry_s, lease_ttl_s}`: how long a run waits for an
    /// availability answer, before asking a busy host again, and before a silent host's lease
    /// expires (it keeps its slot even then: see `MaintenanceRun.Lease`).
    func maintenanceTiming(_ node: Node, key: String) throws(ConfigError) -> MaintenanceScheduler.Timing {
        var t = MaintenanceScheduler.Timing()
        for (k, v) in try mapping(node, key: key) {
            let field = "\(key).\(k)"
            switch k {
            case "query_timeout_s": t.queryTimeoutMs = UInt64(try integer(v, key: field, 1...3_600)) * 1000
            case "busy_retry_s": t.busyRetryMs = UInt64(try integer(v, key: field, 1...86_400)) * 1000
            case "lease_ttl_s":
                t.leaseTTLMs = UInt64(try integer(v, key: field, 60...604_800)) * 1000
                t.leaseRenewMs = min(t.leaseRenewMs, t.leaseTTLMs / 4)
            default: throw error(v, key: field, "unknown key (known: query_timeout_s, busy_retry_s, lease_ttl_s)")
            }
        }
        return t
    }

    func hostPort(_ node: Node, key: String) throws(ConfigError) -> HostPort {
        switch HostPort.parse(try nonEmptyString(node, key: key)) {
        case .success(let a): return a
        case .failure(let f): throw error(node, key: key, f.message)
        }
    }
}

extension CoordinatorConfig {
    /// Reads the token file: its bytes with surrounding whitespace removed. Empty is an error.
    /// `gateway_tokens`, when set.
    public func loadGatewayTokens() throws(ConfigError) -> GatewayTokens {
        guard let path = gatewayTokensFile else { return GatewayTokens() }
        return try GatewayTokens.load(path: path)
    }

    public func loadToken() throws(ConfigError) -> [UInt8] {
        guard let path = tokenFile else {
            throw ConfigError(file: nil, line: nil, key: "token_file", message: "a token file is required (--token-file or token_file:)")
        }
        return try Self.readToken(path, key: "token_file")
    }

    /// The admin API's tokens, from `admin_token_file` / `read_token_file` when set. The two must
    /// differ (a read token equal to the admin token would grant writes).
    public func loadAdminAuth() throws(ConfigError) -> AdminAuth {
        let admin = try adminTokenFile.map { path throws(ConfigError) in try Self.readToken(path, key: "admin_token_file") }
        let read = try readTokenFile.map { path throws(ConfigError) in try Self.readToken(path, key: "read_token_file") }
        if let admin, let read, admin == read {
            throw ConfigError(file: readTokenFile, line: nil, key: "read_token_file", message: "the read token equals the admin token")
        }
        return AdminAuth(adminToken: admin, readToken: read)
    }

    static func readToken(_ path: String, key: String) throws(ConfigError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: path, line: nil, key: key, message: "cannot read the token file")
        }
        let token = Array(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard !token.isEmpty else { throw ConfigError(file: path, line: nil, key: key, message: "the token file is empty") }
        guard token.count <= 4096 else { throw ConfigError(file: path, line: nil, key: key, message: "token longer than 4096 bytes") }
        return token
    }
}
