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
}
