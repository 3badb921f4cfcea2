@testable import FleetProtocol

/// Seeded generator of valid packets for a version: every value it makes must survive
/// encode-then-decode unchanged.
struct PacketGenerator {
    var rng: SeededRandom
    let version: MQTTVersion

    init(seed: UInt64, version: MQTTVersion) {
        rng = SeededRandom(seed: seed)
        self.version = version
    }

    private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    private mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
    private mutating func u16(_ r: ClosedRange<UInt16> = 0...UInt16.max) -> UInt16 { UInt16.random(in: r, using: &rng) }
    private mutating func u32() -> UInt32 { UInt32.random(in: 0...UInt32.max, using: &rng) }
    private mutating func bit() -> UInt8 { chance(0.5) ? 1 : 0 }
    private mutating func bytes(_ max: Int = 12) -> [UInt8] { (0..<int(0...max)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
    private mutating func pick<T>(_ xs: [T]) -> T { xs[int(0...xs.count - 1)] }
    private mutating func qos() -> QoS { pick([.atMostOnce, .atLeastOnce, .exactlyOnce]) }

    private static let pieces = ["a", "b", "sensor", "é", "漢字", "🙂", "x y", "$SYS", "-", "0"]
    mutating func string(_ maxPieces: Int = 3) -> String { (0..<int(0...maxPieces)).map { _ in pick(Self.pieces) }.joined() }
    mutating func topicName() -> String {
        (0..<int(1...4)).map { _ in chance(0.1) ? "" : pick(Self.pieces) }.joined(separator: "/") + "t"
    }
    mutating func topicFilter(allowShared: Bool = true) -> String {
        var levels = (0..<int(1...4)).map { _ in chance(0.25) ? "+" : pick(Self.pieces) }
        if chance(0.3) { levels.append("#") }
        let filter = levels.joined(separator: "/")
        return allowShared && chance(0.2) ? "$share/\(pick(["g", "grp", "é"]))/\(filter)" : filter
    }

    mutating func properties(_ context: PropertyContext) -> MQTTProperties {
        var p = MQTTProperties()
        guard version == .v5 else { return p }
        let allowed = context.allowed
        func has(_ id: PropertyID) -> Bool { allowed & id.bit != 0 }
        let c = 0.3
        if has(.payloadFormatIndicator), chance(c) { p.payloadFormatIndicator = bit() }
        if has(.messageExpiryInterval), chance(c) { p.messageExpiryInterval = u32() }
        if has(.contentType), chance(c) { p.contentType = string() }
        if has(.responseTopic), chance(c) { p.responseTopic = topicName() }
        if has(.correlationData), chance(c) { p.correlationData = bytes() }
        if has(.subscriptionIdentifier), chance(c) {
            let n = context == .publish ? int(1...3) : 1
            p.subscriptionIdentifiers = (0..<n).map { _ in
                chance(0.5) ? UInt32.random(in: 1...300, using: &rng) : UInt32.random(in: ProtocolLimits.subscriptionIdentifierRange, using: &rng)
            }
        }
        if has(.sessionExpiryInterval), chance(c) { p.sessionExpiryInterval = u32() }
        if has(.assignedClientIdentifier), chance(c) { p.assignedClientIdentifier = string() }
        if has(.serverKeepAlive), chance(c) { p.serverKeepAlive = u16() }
        if has(.authenticationMethod), chance(c) {
            p.authenticationMethod = string()
            if has(.authenticationData), chance(0.5) { p.authenticationData = bytes() }
        }
        if has(.requestProblemInformation), chance(c) { p.requestProblemInformation = bit() }
        if has(.willDelayInterval), chance(c) { p.willDelayInterval = u32() }
        if has(.requestResponseInformation), chance(c) { p.requestResponseInformation = bit() }
        if has(.responseInformation), chance(c) { p.responseInformation = string() }
        if has(.serverReference), chance(c) { p.serverReference = string() }
        if has(.reasonString), chance(c) { p.reasonString = string() }
        if has(.receiveMaximum), chance(c) { p.receiveMaximum = u16(1...UInt16.max) }
        if has(.topicAliasMaximum), chance(c) { p.topicAliasMaximum = u16() }
        if has(.topicAlias), chance(c) { p.topicAlias = u16(1...UInt16.max) }
        if has(.maximumQoS), chance(c) { p.maximumQoS = bit() }
        if has(.retainAvailable), chance(c) { p.retainAvailable = bit() }
        if has(.userProperty), chance(c) { p.userProperties = (0..<int(1...3)).map { _ in UserProperty(string(), string()) } }
        if has(.maximumPacketSize), chance(c) { p.maximumPacketSize = UInt32.random(in: 1...UInt32.max, using: &rng) }
        if has(.wildcardSubscriptionAvailable), chance(c) { p.wildcardSubscriptionAvailable = bit() }
        if has(.subscriptionIdentifierAvailable), chance(c) { p.subscriptionIdentifierAvailable = bit() }
        if has(.sharedSubscriptionAvailable), chance(c) { p.sharedSubscriptionAvailable = bit() }
        return p
    }

    private mutating func code(_ v5Codes: [UInt8]) -> ReasonCode {
        version == .v5 ? ReasonCode(pick(v5Codes)) : .success
    }

    mutating func packet() -> MQTTPacket {
        let pubAckCodes: [UInt8] = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x92, 0x97, 0x99]
        switch int(1...(version == .v5 ? 15 : 14)) {
        case 1:
            var will: Will?
            if chance(0.5) {
                will = Will(topic: topicName(), payload: bytes(), qos: qos(), retain: chance(0.5), properties: properties(.will))
            }
            let username = chance(0.5) ? string() : nil
            let password = (version == .v5 || username != nil) && chance(0.5) ? bytes() : nil
            return .connect(ConnectPacket(version: version, cleanStart: chance(0.5), keepAlive: u16(), clientId: string(),
                                          will: will, username: username, password: password, properties: properties(.connect)))
        case 2:
            let rc = version == .v5 ? ReasonCode(pick([0x00, 0x80, 0x84, 0x86, 0x87, 0x9C])) : ReasonCode(UInt8(int(0...5)))
            return .connack(ConnAckPacket(sessionPresent: rc == .success && chance(0.5), reasonCode: rc,
                                          properties: properties(.connack)))
        case 3:
            let q = qos()
            var props = properties(.publish)
            var topic = topicName()
            if version == .v5, chance(0.2) {
                topic = ""
                props.topicAlias = u16(1...UInt16.max)
            }
            return .publish(PublishPacket(topic: topic, payload: bytes(40), qos: q, retain: chance(0.5),
                                          dup: q != .atMostOnce && chance(0.5), packetId: q == .atMostOnce ? nil : u16(1...UInt16.max),
                                          properties: props))
        case 4...7:
            let ack = PubAckPacket(packetId: u16(1...UInt16.max), reasonCode: chance(0.5) ? .success : code(pubAckCodes),
                                   properties: chance(0.5) ? .none : properties(.pubAck))
            return [MQTTPacket.puback(ack), .pubrec(ack), .pubrel(ack), .pubcomp(ack)][int(0...3)]
        case 8:
            let subs = (0..<int(1...4)).map { _ in
                let filter = topicFilter()
                guard version == .v5 else { return SubscriptionRequest(filter: filter, qos: qos()) }
                let shared = MQTTTopic.parseShared(filter) != nil
                return SubscriptionRequest(filter: filter, qos: qos(), noLocal: !shared && chance(0.5),
                                           retainAsPublished: chance(0.5), retainHandling: UInt8(int(0...2)))
            }
            return .subscribe(SubscribePacket(packetId: u16(1...UInt16.max), subscriptions: subs, properties: properties(.subscribe)))
        case 9:
            let codes: [UInt8] = version == .v5 ? [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2] : [0, 1, 2, 0x80]
            return .suback(SubAckPacket(packetId: u16(1...UInt16.max), reasonCodes: (0..<int(1...5)).map { _ in ReasonCode(pick(codes)) },
                                        properties: properties(.suback)))
        case 10:
            return .unsubscribe(UnsubscribePacket(packetId: u16(1...UInt16.max), filters: (0..<int(1...4)).map { _ in topicFilter() },
                                                  properties: properties(.unsubscribe)))
        case 11:
            let codes = version == .v5 ? (0..<int(1...5)).map { _ in ReasonCode(pick([0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91])) } : []
            return .unsuback(UnsubAckPacket(packetId: u16(1...UInt16.max), reasonCodes: codes, properties: properties(.unsuback)))
        case 12: return .pingreq
        case 13: return .pingresp
        case 14:
            return .disconnect(DisconnectPacket(reasonCode: chance(0.3) ? .success : code([0x00, 0x04, 0x80, 0x81, 0x82, 0x8B, 0x8E, 0x9C]),
                                                properties: chance(0.5) ? .none : properties(.disconnect)))
        default:
            return .auth(AuthPacket(reasonCode: ReasonCode(pick([0x00, 0x18, 0x19])), properties: chance(0.3) ? .none : properties(.auth)))
        }
    }
}
