import Foundation
import FleetConfig
import Testing
@testable import FleetCoordinator

@Suite struct ConfigFileTests {
    @Test func readsEveryKey() throws {
        var c = CoordinatorConfig()
        try CoordinatorConfigFile.apply(yaml: """
            link: 0.0.0.0:9000
            http: "[::1]:9001"
            data_dir: /var/lib/fg
            token_file: /etc/fg/token
            log_level: debug
            ready_file: /run/fg.json
            gateway_timeout: 2.5
            heartbeat_interval_ms: 500
            coordinator_id: central
            max_frame_size: 65536
            http_idle_timeout: 5
            http_request_timeout: 1.5
            http_max_connections: 64
            admin_token_file: /etc/fg/admin
            read_token_file: /etc/fg/read
            """, file: "c.yaml", to: &c)
        #expect(c.adminTokenFile == "/etc/fg/admin" && c.readTokenFile == "/etc/fg/read")
        #expect(c.link == HostPort(host: "0.0.0.0", port: 9000))
        #expect(c.http == HostPort(host: "::1", port: 9001))
        #expect(c.dataDir == "/var/lib/fg" && c.tokenFile == "/etc/fg/token" && c.logLevel == .debug)
        #expect(c.gatewayTimeoutSeconds == 2.5 && c.heartbeatIntervalMs == 500 && c.coordinatorId == "central")
        #expect(c.effectiveHeartbeatIntervalMs == 500)
        #expect(c.maximumFrameSize == 65536)
        #expect(c.httpIdleTimeoutSeconds == 5 && c.httpRequestTimeoutSeconds == 1.5 && c.httpMaxConnections == 64)
    }

    /// The admin tokens load trimmed; a read token equal to the admin token is refused (it would
    /// let "read-only" holders write), and an empty file names its key.
    @Test func adminTokensLoadAndMustDiffer() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fg-admin-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func file(_ name: String, _ text: String) -> String {
            let path = dir + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return path
        }
        var c = CoordinatorConfig()
        c.adminTokenFile = file("admin", "  a-token\n")
        c.readTokenFile = file("read", "r-token\n")
        let auth = try c.loadAdminAuth()
        #expect(auth.access(authorization: "Bearer a-token") == .admin && auth.access(authorization: "Bearer r-token") == .read)
        c.readTokenFile = file("same", "a-token")
        #expect(throws: ConfigError.self) { try c.loadAdminAuth() }
        c.readTokenFile = file("empty", "\n")
        do {
            _ = try c.loadAdminAuth()
            Issue.record("an empty read token file was accepted")
        } catch {
            #expect(error.key == "read_token_file")
        }
        #expect(!(try CoordinatorConfig().loadAdminAuth().isConfigured))
    }

    @Test func httpBoundsHaveDefaultsAndRanges() {
        var c = CoordinatorConfig()
        #expect(c.httpIdleTimeoutSeconds == CoordinatorLimits.defaultHTTPIdleTimeoutSeconds)
        #expect(c.httpRequestTimeoutSeconds == CoordinatorLimits.defaultHTTPRequestTimeoutSeconds)
        #expect(c.httpMaxConnections == CoordinatorLimits.defaultHTTPMaxConnections)
        #expect(throws: ConfigError.self) { try CoordinatorConfigFile.apply(yaml: "http_max_connections: 0\n", file: "c.yaml", to: &c) }
        #expect(throws: ConfigError.self) { try CoordinatorConfigFile.apply(yaml: "http_idle_timeout: 0\n", file: "c.yaml", to: &c) }
        #expect(throws: ConfigError.self) { try CoordinatorConfigFile.apply(yaml: "http_request_timeout: forever\n", file: "c.yaml", to: &c) }
    }

    /// Issue #16: `log_format` beside `log_level`; another value names the key.
    @Test func logFormatKey() throws {
        var c = CoordinatorConfig()
        #expect(c.logFormat.rawValue == "text")
        try CoordinatorConfigFile.apply(yaml: "log_format: json\n", file: "c.yaml", to: &c)
        #expect(c.logFormat.rawValue == "json")
        do {
            try CoordinatorConfigFile.apply(yaml: "log_format: yaml\n", file: "c.yaml", to: &c)
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 1 && error.key == "log_format")
        }
    }

    @Test func errorsNameFileLineAndKey() {
        var c = CoordinatorConfig()
        #expect(throws: ConfigError(file: "c.yaml", line: 2, key: "gateway_timeout", message: "must be in 0.05...86400 seconds, got -1")) {
            try CoordinatorConfigFile.apply(yaml: "log_level: info\ngateway_timeout: -1\n", file: "c.yaml", to: &c)
        }
        do {
            try CoordinatorConfigFile.apply(yaml: "\n\nlistne: 1.2.3.4:5\n", file: "c.yaml", to: &c)
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 3 && error.key == "listne")
        }
        do {
            try CoordinatorConfigFile.apply(yaml: "link: [1, 2]\n", file: "c.yaml", to: &c)
            Issue.record("expected an error")
        } catch {
            #expect(error.line == 1 && error.key == "link")
        }
    }

    @Test func linkTLSNeedsCertAndKeyAndMayRequireClientCertificates() throws {
        var c = CoordinatorConfig()
        try CoordinatorConfigFile.apply(yaml: "link_tls: {cert: c.pem, key: c.key}\n", file: "c.yaml", to: &c)
        #expect(c.linkTLS == LinkTLS(certificateFile: "c.pem", keyFile: "c.key") && c.linkTLS?.requiresClientCertificate == false)
        try CoordinatorConfigFile.apply(yaml: "link_tls:\n  cert: c.pem\n  key: c.key\n  client_ca: ca.pem\n", file: "c.yaml", to: &c)
        #expect(c.linkTLS?.clientCAFile == "ca.pem" && c.linkTLS?.requiresClientCertificate == true)
        #expect(throws: ConfigError(file: "c.yaml", line: 2, key: "link_tls", message: "needs both 'cert' and 'key'")) {
            try CoordinatorConfigFile.apply(yaml: "log_level: info\nlink_tls: {cert: c.pem}\n", file: "c.yaml", to: &c)
        }
        do {
            try CoordinatorConfigFile.apply(yaml: "link_tls:\n  cert: c.pem\n  key: c.key\n  ca: x\n", file: "c.yaml", to: &c)
            Issue.record("expected an error")
        } catch {
            #expect(error.key == "link_tls.ca" && error.line == 4)
        }
    }

    @Test func certificateMustNameTheGateway() {
        func names(_ id: String) -> Bool { Fabric.certificate(commonName: "gw-1", dnsNames: ["gw-1b.fleet"], names: id) }
        #expect(names("gw-1") && names("gw-1b.fleet"))
        #expect(!names("gw-2") && !names("GW-1") && !names(""))
        #expect(!Fabric.certificate(commonName: nil, dnsNames: [], names: "gw-1"))
    }

    @Test func heartbeatIsCappedAtAThirdOfTheTimeout() {
        var c = CoordinatorConfig()
        c.gatewayTimeoutSeconds = 0.9
        #expect(c.effectiveHeartbeatIntervalMs == 300)
    }

    @Test func tokenComparisonIsExact() {
        #expect(Fabric.constantTimeEqual(Array("abc".utf8), Array("abc".utf8)))
        #expect(!Fabric.constantTimeEqual(Array("abd".utf8), Array("abc".utf8)))
        #expect(!Fabric.constantTimeEqual(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!Fabric.constantTimeEqual([], []))
    }

    @Test func retentionAndIdentityKeys() throws {
        var c = CoordinatorConfig()
        try CoordinatorConfigFile.apply(yaml: """
            retention: {max_messages: 500, max_age_s: 60}
            gateway_tokens: /etc/fg/gateway-tokens
            allow_new_gateways: true
            """, file: "c.yaml", to: &c)
        #expect(c.retention == DeliveryLedger.Retention(maxMessages: 500, maxBytes: CoordinatorLimits.defaultRetentionBytes, maxAgeMs: 60_000))
        #expect(c.gatewayTokensFile == "/etc/fg/gateway-tokens" && c.allowNewGateways)
        #expect(!CoordinatorConfig().allowNewGateways)  // closed unless asked
        #expect(throws: ConfigError.self) {
            var d = CoordinatorConfig()
            try CoordinatorConfigFile.apply(yaml: "retention: {max_mesages: 5}", file: "c.yaml", to: &d)
        }
    }

    /// One `<gateway-id> <token>` per line; every mistake names the file and line.
    @Test(arguments: [
        ("gw-1 0123456789abcdef\ngw-1 fedcba9876543210\n", 2, "listed twice"),
        ("# ok\n\ngw-1\n", 3, "expected '<gateway-id> <token>'"),
        ("gw-1 short\n", 1, "shorter than 16 bytes"),
        ("gw-1 0123456789abcdef extra\n", 1, "3 fields"),
    ])
    func gatewayTokenFileErrorsNameTheLine(text: String, line: Int, message: String) {
        do {
            _ = try GatewayTokens.parse(text, file: "tokens")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.file == "tokens" && error.line == line, "\(error)")
            #expect(error.message.contains(message), "\(error)")
        }
    }

    @Test func gatewayTokenFileReadsIdsAndTokens() throws {
        let t = try GatewayTokens.parse("# comment\r\n gw-1\t0123456789abcdef \r\n\r\ngw-2 fedcba9876543210fedc\n", file: "tokens")
        #expect(t["gw-1"] == Array("0123456789abcdef".utf8))
        #expect(t["gw-2"] == Array("fedcba9876543210fedc".utf8))
        #expect(t["gw-3"] == nil)
    }

    @Test func migrationSectionIsReadAndCheckedNamingTheField() throws {
        var c = CoordinatorConfig()
        try CoordinatorConfigFile.apply(yaml: """
            migration:
              enabled: true
              threshold_msgs_per_s: 500
              sustain_s: 3
              mode: relay
            """, file: "c.yaml", to: &c)
        #expect(c.migration.enabled && c.migration.thresholdMsgsPerSecond == 500 && c.migration.sustainSeconds == 3)
        #expect(c.migration.mode == .relay && c.migration.releaseRatio == MigrationPolicy().releaseRatio)
        do {
            var d = CoordinatorConfig()
            try CoordinatorConfigFile.apply(yaml: "migration:\n  enabled: true\n  threshold_msgs_per_s: 10\n  release_ratio: 2\n", file: "c.yaml", to: &d)
            Issue.record("accepted release_ratio 2")
        } catch {
            #expect(error.key == "migration.release_ratio" && error.line == 4, "\(error)")
        }
    }
}
