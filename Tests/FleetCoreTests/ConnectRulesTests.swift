import FleetProtocol
import Testing
@testable import FleetCore

/// CONNECT before a session exists: admission, the client id, the negotiated terms and CONNACK
/// properties, and inbound topic aliases (MQTT §3.1, MQTT 5 §3.1.2.11, §3.2.2.3, §3.3.2.3.4).
@Suite struct ConnectRulesTests {
    static let limits: BrokerLimits = {
        var l = BrokerLimits()
        l.maxClientIdLength = 23
        l.maxTopicLevels = 3
        l.maxKeepAlive = 60
        l.maxInflightMessages = 100
        l.maxPacketSize = 65_536
        l.receiveMaximum = 10
        l.topicAliasMaximum = 16
        l.outboundTopicAliasMaximum = 8
        l.maxSessionExpiry = 3_600
        return l
    }()

    static func connect(_ version: MQTTVersion, clientId: String = "device", cleanStart: Bool = true, keepAlive: UInt16 = 30,
                        will: Will? = nil, _ edit: (inout MQTTProperties) -> Void = { _ in }) -> ConnectPacket {
        var properties = MQTTProperties()
        edit(&properties)
        return ConnectPacket(version: version, cleanStart: cleanStart, keepAlive: keepAlive, clientId: clientId, will: will,
                             properties: properties)
    }

    @Test(arguments: [
        // packet -> client id, assigned; or the refusal's v5 code
        (connect(.v5), "device", false, nil as ReasonCode?),
        (connect(.v5, clientId: ""), "assigned-1", true, nil),
        (connect(.v311, clientId: ""), "assigned-1", true, nil),
        (connect(.v311, clientId: "", cleanStart: false), "", false, .clientIdentifierNotValid),
        (connect(.v5, clientId: String(repeating: "x", count: 24)), "", false, .clientIdentifierNotValid),
        (connect(.v5, clientId: String(repeating: "x", count: 23)), String(repeating: "x", count: 23), false, nil),
        (connect(.v5) { $0.authenticationMethod = "SCRAM-SHA-1" }, "", false, .badAuthenticationMethod),
        (connect(.v5, will: Will(topic: "a/b/c/d", payload: [], qos: .atMostOnce, retain: false)), "", false, .topicNameInvalid),
        (connect(.v5, will: Will(topic: "a/b/c", payload: [], qos: .atMostOnce, retain: false)), "device", false, nil),
    ])
    func admission(packet: ConnectPacket, clientId: String, assigned: Bool, refusal: ReasonCode?) {
        switch ConnectRules.admit(packet, limits: Self.limits, assignClientId: { "assigned-1" }) {
        case .success(let admitted):
            #expect(refusal == nil, "admitted, expected refusal \(String(describing: refusal))")
            #expect(admitted.clientId == clientId && admitted.assigned == assigned)
        case .failure(let r):
            #expect(r.v5Code == refusal, "\(r.reason)")
        }
    }

    @Test func v311IsToldNothingAndCappedSilently() {
        let n = ConnectNegotiation(Self.connect(.v311, keepAlive: 600), assignedClientId: nil, limits: Self.limits)
        #expect(n.keepAliveMs == 60_000 && n.sendWindow == 100 && n.clientMaxPacketSize == Int.max)
        #expect(n.outboundAliasLimit == 0 && n.sessionExpiry == 0)
        #expect(n.connackProperties == MQTTProperties())
    }

    @Test(arguments: [
        // keepalive asked -> used, Server Keep Alive told
        (UInt16(30), UInt64(30_000), nil as UInt16?), (60, 60_000, nil), (61, 60_000, 60), (0, 60_000, 60),
    ])
    func v5KeepAlive(asked: UInt16, usedMs: UInt64, told: UInt16?) {
        let n = ConnectNegotiation(Self.connect(.v5, keepAlive: asked), assignedClientId: nil, limits: Self.limits)
        #expect(n.keepAliveMs == usedMs && n.connackProperties.serverKeepAlive == told)
    }

    @Test func v5TermsAndConnackProperties() {
        let p = Self.connect(.v5) {
            $0.receiveMaximum = 5
            $0.maximumPacketSize = 2_000
            $0.topicAliasMaximum = 100
            $0.requestProblemInformation = 0
            $0.sessionExpiryInterval = 86_400
        }
        let n = ConnectNegotiation(p, assignedClientId: "assigned-1", limits: Self.limits)
        #expect(n.sendWindow == 5 && n.clientMaxPacketSize == 2_000 && n.outboundAliasLimit == 8)
        #expect(!n.requestProblemInformation && n.sessionExpiry == 3_600)
        let c = n.connackProperties
        #expect(c.assignedClientIdentifier == "assigned-1" && c.receiveMaximum == 10 && c.maximumPacketSize == 65_536)
        #expect(c.topicAliasMaximum == 16 && c.sessionExpiryInterval == 3_600)  // told the lower grant
    }

    @Test func aGrantedExpiryAsAskedIsNotRepeated() {
        let n = ConnectNegotiation(Self.connect(.v5) { $0.sessionExpiryInterval = 60 }, assignedClientId: nil, limits: Self.limits)
        #expect(n.sessionExpiry == 60 && n.connackProperties.sessionExpiryInterval == nil)
    }

    @Test func inboundTopicAliases() {
        var aliases = InboundTopicAliases()
        #expect(aliases.resolve(topic: "a/b", alias: nil, maximum: 16) == .success("a/b"))
        #expect(aliases.resolve(topic: "", alias: 3, maximum: 16)
                == .failure(ProtocolViolation(.protocolError, "topic alias 3 used before it was set")))
        #expect(aliases.resolve(topic: "a/b", alias: 3, maximum: 16) == .success("a/b"))
        #expect(aliases.resolve(topic: "", alias: 3, maximum: 16) == .success("a/b"))
        #expect(aliases.resolve(topic: "c", alias: 3, maximum: 16) == .success("c"))  // re-pointed
        #expect(aliases.resolve(topic: "", alias: 3, maximum: 16) == .success("c"))
        for bad: UInt16 in [0, 17] {
            guard case .failure(let v) = aliases.resolve(topic: "x", alias: bad, maximum: 16) else {
                Issue.record("alias \(bad) accepted"); continue
            }
            #expect(v.reason == .topicAliasInvalid)
        }
    }

    @Test(arguments: [("a/b/c", nil as String?), ("a/b/c/d", "more than 3 levels"), ("", nil),
                      (String(repeating: "x", count: 65_536), "longer than 65535 bytes")])
    func topicLimits(topic: String, problem: String?) {
        #expect(Self.limits.topicProblem(topic) == problem)
    }
}
