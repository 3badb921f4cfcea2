import FleetCore
import FleetProtocol
import FleetConfig
import Yams
import Foundation
import FleetObservability

/// Reads the agent's YAML config file. Unknown keys are errors, so a typo never silently falls back
/// to a default; every error names the file, line and dotted key.
public enum ConfigFile {
    public static func load(path: String, into config: inout AgentConfig) throws(ConfigError) {
        guard let text = readTextFile(path) else {
            throw ConfigError(file: path, line: nil, key: "(file)", message: "cannot read the file")
        }
        try apply(yaml: text, file: path, to: &config)
    }

    public static func apply(yaml text: String, file: String, to config: inout AgentConfig) throws(ConfigError) {
        guard let root = try YAMLConfig.compose(text, file: file) else { return }  // empty: a valid, empty config
        let r = NodeReader(file: file)
        for (key, value) in try r.mapping(root, key: "(top level)") {
            switch key {
            case "listeners":
                config.listeners = []
                config.tlsListeners = []
                for (i, item) in try r.sequence(value, key: key).enumerated() {
                    let k = "listeners[\(i)]"
                    let fields = try r.mapping(item, key: k)
                    guard fields.count == 1, let (lk, lv) = fields.first else {
                        throw r.error(item, key: k, "a listener is one of 'mqtt: HOST:PORT', 'mqtts: HOST:PORT', 'sockets: HOST:PORT' or 'sockets_tls: HOST:PORT'")
                    }
                    switch lk {
                    case "mqtt": config.listeners.append(try r.listenAddress(lv, key: "\(k).mqtt"))
                    case "mqtts": config.tlsListeners.append(try r.listenAddress(lv, key: "\(k).mqtts"))
                    case "sockets": config.socketListeners.append(try r.listenAddress(lv, key: "\(k).sockets"))
                    case "sockets_tls": config.socketTLSListeners.append(try r.listenAddress(lv, key: "\(k).sockets_tls"))
                    default: throw r.unknown(lv, key: "\(k).\(lk)", known: ["mqtt", "mqtts", "sockets", "sockets_tls"])
                    }
                }
            case "data_dir": config.dataDir = try r.string(value, key: key)
            case "log_level": config.logLevel = try r.choice(value, key: key, AgentConfig.LogLevel.self)
            case "log_format": config.logFormat = try r.choice(value, key: key, LogFormat.self)
            case "metrics": config.metrics = try r.listenAddress(value, key: key)
            case "durability": config.durability = try r.choice(value, key: key, AgentConfig.Durability.self)
            case "sys_interval": config.sysInterval = try r.integer(value, key: key, 0...86_400)
            case "ready_file": config.readyFile = try r.string(value, key: key)
            case "limits": try applyLimits(value, r, &config.limits)
            case "tls": config.tls = try SecurityConfigFile.tls(value, r)
            case "auth": config.auth = try SecurityConfigFile.auth(value, r)
            case "policies": config.policies = try SecurityConfigFile.policies(value, r)
            case "coordinator": try applyCoordinator(value, r, &config)
            case "maintenance": config.maintenance = try maintenance(value, r)
            case "mappings": config.mappings = try mappings(value, r)
            case "policy":
                for (pk, pv) in try r.mapping(value, key: key) {
                    switch pk {
                    case "deny_subscribe":
                        config.denySubscribe = try r.sequence(pv, key: "policy.deny_subscribe").enumerated().map { (i, f) throws(ConfigError) in
                            let filter = try r.string(f, key: "policy.deny_subscribe[\(i)]")
                            guard MQTTTopic.isValidFilter(filter) else {
                                throw r.error(f, key: "policy.deny_subscribe[\(i)]", "'\(filter)' is not a valid MQTT topic filter")
                            }
                            return filter
                        }
                    default: throw r.unknown(pv, key: "policy.\(pk)", known: ["deny_subscribe"])
                    }
                }
            default:
                throw r.unknown(value, key: key, known: ["listeners", "data_dir", "log_level", "log_format", "metrics", "durability", "sys_interval", "ready_file", "limits", "policy", "tls", "auth", "policies", "coordinator", "maintenance", "mappings"])
            }
        }
    }

    /// A stand-alone policy document: the body of a `policies:` section.
    public static func parsePolicies(yaml text: String, file: String) throws(ConfigError) -> PolicySet {
        guard let root = try YAMLConfig.compose(text, file: file) else {
            throw ConfigError(file: file, line: nil, key: "policies", message: "the document is empty")
        }
        return try SecurityConfigFile.policies(root, NodeReader(file: file))
    }

    private static func applyLimits(_ node: Node, _ r: NodeReader, _ limits: inout BrokerLimits) throws(ConfigError) {
        for (k, v) in try r.mapping(node, key: "limits") {
            let key = "limits.\(k)"
            switch k {
            case "max_packet_size": limits.maxPacketSize = try r.integer(v, key: key, 64...268_435_455)
            case "max_keepalive": limits.maxKeepAlive = try r.integer(v, key: key, 1...65_535)
            case "receive_maximum": limits.receiveMaximum = try r.integer(v, key: key, 1...65_535)
            case "max_inflight_messages": limits.maxInflightMessages = try r.integer(v, key: key, 1...65_535)
            case "max_queued_messages": limits.maxQueuedMessages = try r.integer(v, key: key, 0...10_000_000)
            case "max_pending_write_bytes": limits.maxPendingWriteBytes = try r.integer(v, key: key, 4096...1_073_741_824)
            case "topic_alias_maximum": limits.topicAliasMaximum = try r.integer(v, key: key, 0...65_535)
            case "outbound_topic_alias_maximum": limits.outboundTopicAliasMaximum = try r.integer(v, key: key, 0...65_535)
            case "max_topic_length": limits.maxTopicLength = try r.integer(v, key: key, 1...65_535)
            case "max_topic_levels": limits.maxTopicLevels = try r.integer(v, key: key, 1...1_024)
            case "max_subscriptions_per_session": limits.maxSubscriptionsPerSession = try r.integer(v, key: key, 1...10_000_000)
            case "max_client_id_length": limits.maxClientIdLength = try r.integer(v, key: key, 1...65_535)
            case "connect_timeout_ms": limits.connectTimeoutMs = try r.integer(v, key: key, 100...600_000)
            case "max_retained_messages": limits.maxRetainedMessages = try r.integer(v, key: key, 0...100_000_000)
            case "max_session_expiry": limits.maxSessionExpiry = try r.integer(v, key: key, 0...UInt32.max)
            case "max_sessions": limits.maxSessions = try r.integer(v, key: key, 1...100_000_000)
            case "max_connect_packet_size": limits.maxConnectPacketSize = try r.integer(v, key: key, 64...268_435_455)
            case "max_preauth_bytes": limits.maxPreAuthBytes = try r.integer(v, key: key, 4096...68_719_476_736)
            case "max_concurrent_password_checks": limits.maxConcurrentPasswordChecks = try r.integer(v, key: key, 0...1_024)
            case "max_queued_password_checks": limits.maxQueuedPasswordChecks = try r.integer(v, key: key, 0...1_000_000)
            case "max_password_checks_per_address": limits.maxPasswordChecksPerAddress = try r.integer(v, key: key, 1...1_000_000)
            case "auth_failures_before_delay": limits.authFailuresBeforeDelay = try r.integer(v, key: key, 0...1_000)
            case "auth_failure_delay_ms": limits.authFailureDelayMs = try r.integer(v, key: key, 0...60_000)
            case "auth_failure_max_delay_ms": limits.authFailureMaxDelayMs = try r.integer(v, key: key, 0...600_000)
            case "auth_failure_decay_ms": limits.authFailureDecayMs = try r.integer(v, key: key, 1_000...86_400_000)
            case "auth_failure_table_size": limits.authFailureTableSize = try r.integer(v, key: key, 1...10_000_000)
            default:
                throw r.unknown(v, key: key, known: ["max_packet_size", "max_keepalive", "receive_maximum", "max_inflight_messages",
                    "max_queued_messages", "max_pending_write_bytes", "topic_alias_maximum", "outbound_topic_alias_maximum", "max_topic_length", "max_topic_levels",
                    "max_subscriptions_per_session", "max_client_id_length", "connect_timeout_ms", "max_retained_messages", "max_session_expiry",
                    "max_sessions", "max_connect_packet_size", "max_preauth_bytes", "max_concurrent_password_checks",
                    "max_queued_password_checks", "max_password_checks_per_address", "auth_failures_before_delay",
                    "auth_failure_delay_ms", "auth_failure_max_delay_ms", "auth_failure_decay_ms", "auth_failure_table_size"])
            }
        }
    }
}

/// The whole file as UTF-8 text, or nil if it cannot be read.
func readTextFile(_ path: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path) else { return nil }
    return String(decoding: data, as: UTF8.self)
}

extension NodeReader {
    func listenAddress(_ node: Node, key: String) throws(ConfigError) -> ListenAddress {
        switch ListenAddress.parse(try string(node, key: key)) {
        case .success(let a): return a
        case .failure(let f): throw error(node, key: key, f.reason)
        }
    }
}
