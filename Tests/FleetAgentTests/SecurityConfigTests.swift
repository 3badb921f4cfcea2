import FleetConfig
import Testing
import FleetCore
@testable import FleetAgent

@Suite struct SecurityConfigTests {
    private func load(_ yaml: String) throws(ConfigError) -> AgentConfig {
        var config = AgentConfig()
        try ConfigFile.apply(yaml: yaml, file: "agent.yaml", to: &config)
        return config
    }

    private func error(_ yaml: String) -> ConfigError? {
        do { _ = try load(yaml); return nil } catch { return error }
    }

    @Test func anonymousIsOffByDefault() {
        #expect(AgentConfig().auth.allowAnonymous == false)
    }

    @Test func tlsListenersAndSettings() throws {
        let c = try load("""
            listeners:
              - mqtt: 127.0.0.1:1883
              - mqtts: 0.0.0.0:8883
            tls:
              cert: /etc/fg/server.pem
              key: /etc/fg/server.key
              ca: /etc/fg/ca.pem
              client_auth: required
              min_version: "1.3"
              alpn: [mqtt]
            auth:
              allow_anonymous: false
              password_file: /etc/fg/passwd
              identity: san_dns
              client_id_must_match: true
            """)
        #expect(c.listeners == [ListenAddress(host: "127.0.0.1", port: 1883)])
        #expect(c.tlsListeners == [ListenAddress(host: "0.0.0.0", port: 8883)])
        let tls = try #require(c.tls)
        #expect(tls.certificateFile == "/etc/fg/server.pem" && tls.keyFile == "/etc/fg/server.key")
        #expect(tls.clientAuth == .required && tls.minimumVersion == "1.3" && tls.alpn == ["mqtt"])
        #expect(c.auth.passwordFile == "/etc/fg/passwd" && c.auth.identityField == .san_dns && c.auth.clientIdMustMatchIdentity)
    }

    @Test func clientAuthNeedsACA() {
        let e = error("tls:\n  cert: a\n  key: b\n  client_auth: required\n")
        #expect(e?.key == "tls.ca")
    }

    @Test func tlsNeedsCertAndKey() {
        #expect(error("tls:\n  cert: a\n")?.key == "tls")
        #expect(error("tls:\n  cert: a\n  key: b\n  min_version: \"1.1\"\n")?.key == "tls.min_version")
    }

    @Test func policiesParse() throws {
        let c = try load("""
            policies:
              default: deny
              everyone:
                - {effect: allow, actions: [publish, subscribe, receive], filters: ["devices/${clientid}/#"]}
              identities:
                device-1:
                  - {effect: deny, actions: [publish], filters: ["admin/#"]}
              groups:
                ops:
                  members: [alice, bob]
                  rules:
                    - {effect: allow, actions: [subscribe, receive], filters: ["telemetry/#"]}
            """)
        let p = try #require(c.policies)
        #expect(p.defaultEffect == .deny)
        #expect(p.everyone == [PolicyRule(effect: .allow, actions: [.publish, .subscribe, .receive], filters: ["devices/${clientid}/#"])])
        #expect(p.identities["device-1"]?.first?.effect == .deny)
        #expect(p.groupMembers["ops"] == ["alice", "bob"])
        #expect(p.groups["ops"]?.count == 1)
    }

    @Test func badPolicyNamesItsPlace() {
        let e = error("""
            policies:
              everyone:
                - {effect: allow, actions: [publish, delete], filters: ["a/#"]}
            """)
        #expect(e?.key == "policies.everyone[0].actions[1]")
        #expect(e?.line == 3)
        #expect(error("policies:\n  everyone:\n    - {actions: [publish], filters: [a]}\n")?.key == "policies.everyone[0].effect")
        #expect(error("policies:\n  default: maybe\n")?.key == "policies.default")
    }

    @Test func invalidPolicyFilterIsRefused() {
        let e = error("policies:\n  everyone:\n    - {effect: allow, actions: [publish], filters: [\"a/#/b\"]}\n")
        #expect(e?.key == "policies")
        #expect(e?.message.contains("a/#/b") == true)
    }

    @Test func listenerKindsAreChecked() {
        #expect(error("listeners:\n  - ws: 127.0.0.1:80\n")?.key == "listeners[0].ws")
        #expect(error("listeners:\n  - {mqtt: 127.0.0.1:1, mqtts: 127.0.0.1:2}\n")?.key == "listeners[0]")
    }
}
