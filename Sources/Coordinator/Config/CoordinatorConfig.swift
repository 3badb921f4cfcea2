import FleetObservability
import FleetRuntime

/// Everything the coordinator is configured with. Defaults here, then the YAML file, then flags.
public struct CoordinatorConfig: Sendable, Equatable {
    public enum LogLevel: String, Sendable, CaseIterable { case trace, debug, info, notice, warning, error, critical }

    /// Where agents connect (the binary protocol, Protocol/agent-coordinator.md). Loopback unless told otherwise.
    public var link = HostPort(host: "127.0.0.1", port: 7420)
    /// The HTTP admin API and /metrics.
    public var http = HostPort(host: "127.0.0.1", port: 7421)
    /// Directory of the SQLite gateway graph (`coordinator.db`).
    public var dataDir: String = "./coordinator-data"
    /// File holding the shared HELLO token (surrounding whitespace and a final newline are ignored).
    public var tokenFile: String?
    /// Admin API bearer tokens (files, whitespace trimmed): the admin token reads and writes, the
    /// read token only reads. Without either the API answers 401 to all but /healthz.
    public var adminTokenFile: String?
    public var readTokenFile: String?
    /// Per-gateway HELLO tokens (`gateway_tokens`, `GatewayTokens`); listed ids must use theirs.
    public var gatewayTokensFile: String?
    /// Whether a HELLO may register a gateway id the coordinator does not know yet (neither in
    /// the graph nor in `gateway_tokens`). Closed by default (`--allow-new-gateways`).
    public var allowNewGateways = false
    /// TLS on the admin listener: certificate chain and key (PEM). Both or neither.
    public var httpTLSCertificateFile: String?
    public var httpTLSKeyFile: String?
    public var logLevel: LogLevel = .info
    /// Plain lines or one JSON object per line (`log_format`, `--log-format`).
    public var logFormat: LogFormat = .text
    /// Written (atomically) with the pid and both bound addresses once both listen.
    public var readyFile: String?
    /// A connected gateway silent this long is marked down and forgotten from routing.
    public var gatewayTimeoutSeconds: Double = CoordinatorLimits.defaultGatewayTimeoutSeconds
    /// Announced in HELLO_ACK; capped at a third of the gateway timeout.
    public var heartbeatIntervalMs: UInt32 = CoordinatorLimits.defaultHeartbeatIntervalMs
    /// Sent in HELLO_ACK and shown as the coordinator node of the graph.
    public var coordinatorId: String = "coordinator"
    /// Largest frame accepted from an authenticated gateway (announced in HELLO_ACK).
    public var maximumFrameSize: Int = 1_048_576 + 65_536
    /// Filters one gateway's interest may hold; past it the gateway gets ERROR limitExceeded
    /// and is disconnected (`max_interest_filters`).
    public var maxInterestFilters: Int = CoordinatorLimits.defaultMaxInterestFilters
    /// What is held per destination that is away (`retention: {max_messages, max_bytes, max_age_s}`).
    public var retention = DeliveryLedger.Retention()
    /// Connection migration (`migration:`), until a `PUT /v1/migration/policy` replaces it.
    public var migration = MigrationPolicy()
    /// How maintenance runs wait (`maintenance:`): for an answer, before asking a busy host again,
    /// and for a host that vanished (its lease).
    public var maintenanceTiming = MaintenanceScheduler.Timing()
    /// TLS on the agent link (`link_tls:`, `--link-tls-*`); nil = plain TCP.
    public var linkTLS: LinkTLS?
    /// Admin HTTP: an idle keep-alive connection is closed after this long (`http_idle_timeout`).
    public var httpIdleTimeoutSeconds: Double = CoordinatorLimits.defaultHTTPIdleTimeoutSeconds
    /// Admin HTTP: a request must be read completely within this long (`http_request_timeout`).
    public var httpRequestTimeoutSeconds: Double = CoordinatorLimits.defaultHTTPRequestTimeoutSeconds
    /// Admin HTTP: open connections at once; more are closed at accept (`http_max_connections`).
    public var httpMaxConnections: Int = CoordinatorLimits.defaultHTTPMaxConnections

    public init() {}

    /// The interval actually announced: at most a third of the timeout, at least 10 ms.
    public var effectiveHeartbeatIntervalMs: UInt32 {
        let third = gatewayTimeoutSeconds * 1000 / 3
        return UInt32(max(10, min(Double(heartbeatIntervalMs), third)))
    }

    public var gatewayTimeoutMs: UInt64 { UInt64((gatewayTimeoutSeconds * 1000).rounded()) }
}

/// The agent link over TLS. With `clientCAFile` it is mutual TLS: a gateway must present a
/// certificate chaining to that CA, and the certificate must name the gateway id it says HELLO
/// with (subject CN or a DNS subject alternative name), so one gateway's key cannot join as
/// another. The HELLO token is required either way.
public struct LinkTLS: Sendable, Equatable {
    public var certificateFile: String
    public var keyFile: String
    public var clientCAFile: String?

    public init(certificateFile: String, keyFile: String, clientCAFile: String? = nil) {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.clientCAFile = clientCAFile
    }

    public var requiresClientCertificate: Bool { clientCAFile != nil }

    /// The listener's configuration: client certificates required exactly when a CA is given;
    /// no ALPN (the link is not MQTT).
    var serverConfiguration: TLSConfiguration {
        var c = TLSConfiguration(certificateChainFile: certificateFile, privateKeyFile: keyFile)
        c.caFile = clientCAFile
        c.clientAuth = requiresClientCertificate ? .required : .none
        c.alpn = []
        return c
    }
}
