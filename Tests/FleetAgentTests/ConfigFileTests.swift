import FleetConfig
import Testing
@testable import FleetAgent

@Suite struct ConfigFileTests {
    private func load(_ yaml: String) throws(ConfigError) -> AgentConfig {
        var config = AgentConfig()
        try ConfigFile.apply(yaml: yaml, file: "agent.yaml", to: &config)
        return config
    }

    private func error(_ yaml: String) -> ConfigError? {
        do { _ = try load(yaml); return nil } catch { return error }
    }

    @Test func fullFileIsApplied() throws {
        let c = try load("""
            listeners:
              - mqtt: 127.0.0.1:1884
              - mqtt: "[::1]:0"
            data_dir: /var/lib/fleetgate
            log_level: debug
            durability: full
            sys_interval: 5
            limits:
              max_packet_size: 4096
              max_keepalive: 30
              receive_maximum: 7
              max_queued_messages: 12
              topic_alias_maximum: 3
            policy:
              deny_subscribe: ["forbidden/#", "a/+/b"]
            """)
        #expect(c.listeners == [ListenAddress(host: "127.0.0.1", port: 1884), ListenAddress(host: "::1", port: 0)])
        #expect(c.dataDir == "/var/lib/fleetgate")
        #expect(c.logLevel == .debug)
        #expect(c.durability == .full)
        #expect(c.sysInterval == 5)
        #expect(c.limits.maxPacketSize == 4096)
        #expect(c.limits.maxKeepAlive == 30)
        #expect(c.limits.receiveMaximum == 7)
        #expect(c.limits.maxQueuedMessages == 12)
        #expect(c.limits.topicAliasMaximum == 3)
        #expect(c.denySubscribe == ["forbidden/#", "a/+/b"])
    }

    /// Issue #16: the log format and the Prometheus endpoint are config keys too; a bad value
    /// names its key and line.
    @Test func logFormatAndMetricsKeys() throws {
        let c = try load("log_format: json\nmetrics: \"[::1]:9464\"\n")
        #expect(c.logFormat.rawValue == "json")
        #expect(c.metrics == ListenAddress(host: "::1", port: 9464))
        #expect(AgentConfig().metrics == nil && AgentConfig().logFormat.rawValue == "text")
        let e = error("data_dir: x\nlog_format: xml\n")
        #expect(e?.key == "log_format" && e?.line == 2 && e?.message.contains("text, json") == true)
        #expect(error("metrics: nowhere\n")?.key == "metrics")
    }

    @Test func emptyFileKeepsDefaults() throws {
        #expect(try load("") == AgentConfig())
    }

    @Test func unknownKeyNamesKeyAndLine() {
        let e = error("""
            data_dir: ./data
            limits:
              max_keepalive: 30
              max_keepalvie: 40
            """)
        #expect(e?.file == "agent.yaml")
        #expect(e?.line == 4)
        #expect(e?.key == "limits.max_keepalvie")
        #expect(e?.description.hasPrefix("agent.yaml:4: limits.max_keepalvie: unknown key") == true)
    }

    @Test func outOfRangeValueNamesKeyAndLine() {
        let e = error("limits:\n  max_keepalive: 70000\n")
        #expect(e?.line == 2)
        #expect(e?.key == "limits.max_keepalive")
        #expect(e?.message.contains("1...65535") == true)
    }

    @Test func wrongTypeIsRefused() {
        #expect(error("sys_interval: often\n")?.key == "sys_interval")
        #expect(error("listeners: 127.0.0.1:1883\n")?.key == "listeners")
        #expect(error("log_level: loud\n")?.message.contains("trace") == true)
    }

    @Test func badListenAddressNamesTheListener() {
        let e = error("listeners:\n  - mqtt: 127.0.0.1\n")
        #expect(e?.key == "listeners[0].mqtt")
        #expect(e?.line == 2)
        #expect(error("listeners:\n  - mqtt: ::1:1883\n")?.message.contains("brackets") == true)
        #expect(error("listeners:\n  - mqtt: host:99999\n")?.message.contains("port") == true)
        #expect(error("listeners:\n  - tls: host:1\n")?.key == "listeners[0].tls")
    }

    @Test func invalidDenyFilterIsRefused() {
        let e = error("policy:\n  deny_subscribe:\n    - ok/#\n    - bad/#/x\n")
        #expect(e?.key == "policy.deny_subscribe[1]")
        #expect(e?.line == 4)
    }

    @Test func yamlSyntaxErrorHasALine() {
        let e = error("limits:\n  max_keepalive: [1, 2\nlog_level: info\n")
        #expect(e?.key == "(syntax)")
        #expect(e?.line != nil)
    }

    @Test func duplicateKeyIsRefused() {
        let e = error("data_dir: a\ndata_dir: b\n")
        #expect(e?.message.contains("duplicated key") == true)
        #expect(e?.line != nil)
    }

    @Test func missingFileIsAnError() {
        var c = AgentConfig()
        #expect(throws: ConfigError.self) { try ConfigFile.load(path: "/nonexistent/fleetgate.yaml", into: &c) }
    }

    /// Issue #10: the pre-authentication bounds and max_sessions are config keys.
    @Test func admissionLimitsAreApplied() throws {
        let c = try load("""
            limits:
              max_sessions: 3
              max_connect_packet_size: 8192
              max_preauth_bytes: 1048576
              max_concurrent_password_checks: 1
              max_queued_password_checks: 10
              max_password_checks_per_address: 2
              auth_failures_before_delay: 1
              auth_failure_delay_ms: 50
              auth_failure_max_delay_ms: 2000
              auth_failure_decay_ms: 30000
              auth_failure_table_size: 500
            """)
        #expect(c.limits.maxSessions == 3)
        #expect(c.limits.maxConnectPacketSize == 8192)
        #expect(c.limits.maxPreAuthBytes == 1_048_576)
        #expect(c.limits.maxConcurrentPasswordChecks == 1)
        #expect(c.limits.maxQueuedPasswordChecks == 10)
        #expect(c.limits.maxPasswordChecksPerAddress == 2)
        #expect(c.limits.authFailuresBeforeDelay == 1)
        #expect(c.limits.authFailureDelayMs == 50)
        #expect(c.limits.authFailureMaxDelayMs == 2000)
        #expect(c.limits.authFailureDecayMs == 30_000)
        #expect(c.limits.authFailureTableSize == 500)
        #expect(error("limits:\n  max_sessions: 0\n")?.key == "limits.max_sessions")
        #expect(error("limits:\n  max_connect_packet_size: 10\n")?.key == "limits.max_connect_packet_size")
    }
}
