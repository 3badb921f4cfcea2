import FleetCore
import FleetObservability

/// Everything the agent is configured with. Defaults here, then the YAML file, then flags.
public struct AgentConfig: Sendable, Equatable {
    public enum LogLevel: String, Sendable, CaseIterable { case trace, debug, info, notice, warning, error, critical }
    public enum Durability: String, Sendable, CaseIterable {
        /// SQLite synchronous=NORMAL in WAL mode: survives a crash of the agent (kill -9); the last
        /// commits may be lost if the machine loses power.
        case normal
        /// synchronous=FULL: every group commit is fsynced before acknowledgements go out.
        case full
    }

    /// MQTT over TCP listeners. mosquitto 2 listens on localhost only when not told otherwise; so do we.
    public var listeners: [ListenAddress] = [ListenAddress(host: "127.0.0.1", port: 1883)]
    public var dataDir: String = "./data"
    public var logLevel: LogLevel = .info
    /// Plain lines or one JSON object per line (`log_format`, `--log-format`).
    public var logFormat: LogFormat = .text
    /// Prometheus `GET /metrics` on this address (`metrics`, `--metrics`); nil = no endpoint.
    public var metrics: ListenAddress?
    public var limits = BrokerLimits()
    /// Subscriptions to filters matching any of these are refused (SUBACK 0x80 / 0x87).
    public var denySubscribe: [String] = []
    /// Seconds between `$SYS/broker/...` metric publications; 0 turns them off.
    public var sysInterval: UInt32 = 10
    public var durability: Durability = .normal
    /// Written (atomically) with the pid and the bound addresses once every listener is up.
    public var readyFile: String?
    /// MQTT over TLS listeners; they need `tls`.
    public var tlsListeners: [ListenAddress] = []
    public var tls: TLSSettings?
    public var auth = AuthSettings()
    /// Authorization rules; nil lets every authenticated client do anything.
    public var policies: PolicySet?
    /// The coordinator link (issue #4); nil = a stand-alone broker.
    public var coordinator: CoordinatorLinkConfig?
    /// Operations the coordinator may run here (issue #13); nil: none.
    public var maintenance: MaintenanceConfig?
    /// Managed-socket listeners (issue #14): plain TCP, and TLS with the MQTT listeners' `tls`.
    public var socketListeners: [ListenAddress] = []
    public var socketTLSListeners: [ListenAddress] = []
    /// Socket mappings from the config file (`mappings:`), by name, as JSON values; the
    /// coordinator's pushed ones are kept apart and never replace these.
    public var mappings: [String: String] = [:]

    public init() {}
}
