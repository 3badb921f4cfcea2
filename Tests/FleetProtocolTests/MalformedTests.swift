import Testing
@testable import FleetProtocol

// Hand-written builders, independent of the encoder under test. Bodies stay under 128 bytes so
// the remaining length is one byte.
private func packet(_ typeAndFlags: UInt8, _ body: [UInt8]) -> [UInt8] {
    precondition(body.count < 128)
    return [typeAndFlags, UInt8(body.count)] + body
}
private func str(_ s: String) -> [UInt8] { [0x00, UInt8(s.utf8.count)] + a(s) }
private func raw(_ bytes: [UInt8]) -> [UInt8] { [0x00, UInt8(bytes.count)] + bytes }
private func props(_ p: [UInt8]) -> [UInt8] { [UInt8(p.count)] + p }
/// CONNECT body: "MQTT", level, flags, keep alive 60, [properties in 5.0], then `payload`.
private func connect(level: UInt8 = 5, flags: UInt8 = 0x02, properties: [UInt8] = [], payload: [UInt8] = str("c")) -> [UInt8] {
    packet(0x10, str("MQTT") + [level, flags, 0x00, 0x3C] + (level == 5 ? props(properties) : []) + payload)
}
private func connack5(_ properties: [UInt8]) -> [UInt8] { packet(0x20, [0x00, 0x00] + props(properties)) }
private func publish5(_ properties: [UInt8], topic: String = "t") -> [UInt8] { packet(0x30, str(topic) + props(properties)) }

struct MalformedCase: Sendable, CustomStringConvertible {
    let rule: String
    let version: MQTTVersion
    let bytes: [UInt8]
    let kind: String
    let reason: ReasonCode
    var description: String { rule }
    init(_ rule: String, _ version: MQTTVersion, _ bytes: [UInt8], _ kind: String, _ reason: ReasonCode) {
        self.rule = rule; self.version = version; self.bytes = bytes; self.kind = kind; self.reason = reason
    }
}

private let malformed = ReasonCode.malformedPacket
private let protocolErr = ReasonCode.protocolError

/// One case per rule of the specs; each is a valid packet but for the one rule it breaks.
let malformedCases: [MalformedCase] = [
    // Framing
    .init("remaining length of 5 bytes", .v311, [0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01], "malformedVariableByteInteger", malformed),
    .init("truncated field: topic longer than the packet", .v311, packet(0x30, [0x00, 0x05] + a("ab")), "malformed", malformed),
    .init("truncated packet identifier", .v311, packet(0x40, [0x00]), "malformed", malformed),
    .init("trailing bytes after PUBACK", .v311, packet(0x40, [0x00, 0x01, 0x00]), "malformed", malformed),
    .init("PINGREQ with a body", .v5, packet(0xC0, [0x00]), "malformed", malformed),
    .init("PINGRESP with a body", .v311, packet(0xD0, [0x00]), "malformed", malformed),
    .init("3.1.1 DISCONNECT with a body", .v311, packet(0xE0, [0x00]), "malformed", malformed),
    .init("3.1.1 UNSUBACK with codes", .v311, packet(0xB0, [0x00, 0x01, 0x00]), "malformed", malformed),
    .init("3.1.1 CONNACK too long", .v311, packet(0x20, [0x00, 0x00, 0x00]), "malformed", malformed),
    .init("reserved packet type 0", .v5, [0x00, 0x00], "malformed", malformed),
    .init("AUTH (type 15) in 3.1.1", .v311, [0xF0, 0x00], "malformed", malformed),
    .init("AUTH with a reason code but no property length", .v5, packet(0xF0, [0x18]), "malformed", malformed),
    // Fixed-header flags
    .init("PUBREL flags 0", .v5, packet(0x60, [0x00, 0x01]), "invalidFlags", malformed),
    .init("SUBSCRIBE flags 0", .v311, packet(0x80, [0x00, 0x01] + str("a") + [0x00]), "invalidFlags", malformed),
    .init("UNSUBSCRIBE flags 0", .v311, packet(0xA0, [0x00, 0x01] + str("a")), "invalidFlags", malformed),
    .init("PUBACK flags 1", .v311, packet(0x41, [0x00, 0x01]), "invalidFlags", malformed),
    .init("CONNECT flags 1", .v311, [0x11] + connect(level: 4).dropFirst(), "invalidFlags", malformed),
    .init("PINGREQ flags 2", .v311, [0xC2, 0x00], "invalidFlags", malformed),
    .init("DISCONNECT flags 1", .v5, [0xE1, 0x00], "invalidFlags", malformed),
    .init("AUTH flags 1", .v5, [0xF1, 0x00], "invalidFlags", malformed),
    .init("PUBLISH QoS 3", .v311, packet(0x36, str("t") + [0x00, 0x01]), "malformed", malformed),
    .init("PUBLISH DUP on QoS 0", .v311, packet(0x38, str("t")), "invalidFlags", malformed),
    // Packet identifiers
    .init("PUBLISH QoS 1 packet id 0", .v311, packet(0x32, str("t") + [0x00, 0x00]), "protocolError", protocolErr),
    .init("PUBACK packet id 0", .v5, packet(0x40, [0x00, 0x00]), "protocolError", protocolErr),
    .init("PUBREL packet id 0", .v311, packet(0x62, [0x00, 0x00]), "protocolError", protocolErr),
    .init("SUBSCRIBE packet id 0", .v311, packet(0x82, [0x00, 0x00] + str("a") + [0x00]), "protocolError", protocolErr),
    .init("UNSUBSCRIBE packet id 0", .v5, packet(0xA2, [0x00, 0x00, 0x00] + str("a")), "protocolError", protocolErr),
    .init("SUBACK packet id 0", .v311, packet(0x90, [0x00, 0x00, 0x00]), "protocolError", protocolErr),
    // CONNECT
    .init("CONNECT reserved flag", .v311, connect(level: 4, flags: 0x03), "malformed", malformed),
    .init("CONNECT reserved flag (5.0)", .v5, connect(flags: 0x01), "malformed", malformed),
    .init("will QoS without will flag", .v311, connect(level: 4, flags: 0x0A), "malformed", malformed),
    .init("will retain without will flag", .v5, connect(flags: 0x22), "malformed", malformed),
    .init("will QoS 3", .v311, connect(level: 4, flags: 0x1E, payload: str("c") + str("w") + str("m")), "malformed", malformed),
    .init("3.1.1 password without user name", .v311, connect(level: 4, flags: 0x42, payload: str("c") + raw([1])), "malformed", malformed),
    .init("user name flag without a user name", .v311, connect(level: 4, flags: 0x82), "malformed", malformed),
    .init("password flag without a password", .v5, connect(flags: 0xC2, payload: str("c") + str("u")), "malformed", malformed),
    .init("user name present without its flag", .v311, connect(level: 4, payload: str("c") + str("u")), "malformed", malformed),
    .init("will flag without will fields", .v311, connect(level: 4, flags: 0x06), "malformed", malformed),
    .init("protocol name MQIsdp level 3", .v311, packet(0x10, str("MQIsdp") + [0x03, 0x02, 0x00, 0x3C] + str("c")),
          "unsupportedProtocolVersion", .unsupportedProtocolVersion),
    .init("protocol level 6", .v311, connect(level: 6), "unsupportedProtocolVersion", .unsupportedProtocolVersion),
    .init("protocol name HTTP", .v311, packet(0x10, str("HTTP") + [0x04, 0x02, 0x00, 0x3C] + str("c")),
          "invalidProtocolName", .unsupportedProtocolVersion),
    .init("will topic with a wildcard", .v311, connect(level: 4, flags: 0x06, payload: str("c") + str("w/#") + str("m")),
          "invalidTopicName", .topicNameInvalid),
    // UTF-8
    .init("overlong NUL in a topic", .v311, packet(0x30, [0x00, 0x02, 0xC0, 0x80]), "invalidUTF8", malformed),
    .init("U+0000 in a topic", .v311, packet(0x30, [0x00, 0x03, 0x61, 0x00, 0x62]), "invalidUTF8", malformed),
    .init("UTF-16 surrogate in a client id", .v311, connect(level: 4, payload: [0x00, 0x03, 0xED, 0xA0, 0x80]), "invalidUTF8", malformed),
    .init("0xFF in a filter", .v5, packet(0x82, [0x00, 0x01, 0x00, 0x00, 0x01, 0xFF, 0x00]), "invalidUTF8", malformed),
    .init("truncated multi-byte sequence in a user property", .v5,
          publish5([0x26, 0x00, 0x01, 0xE2, 0x00, 0x01] + a("v")), "invalidUTF8", malformed),
    .init("invalid UTF-8 in the protocol name", .v5, packet(0x10, [0x00, 0x04, 0x4D, 0x51, 0x54, 0xFE, 0x05, 0x02, 0x00, 0x3C, 0x00] + str("c")),
          "invalidUTF8", malformed),
    // Properties
    .init("property not allowed on the packet type (topic alias in CONNECT)", .v5, connect(properties: [0x23, 0x00, 0x01]),
          "malformed", malformed),
    .init("property not allowed on the packet type (session expiry in PUBLISH)", .v5, publish5([0x11, 0, 0, 0, 1]),
          "malformed", malformed),
    .init("will delay outside the will", .v5, connect(properties: [0x18, 0, 0, 0, 1]), "malformed", malformed),
    .init("unknown property identifier", .v5, publish5([0x7F, 0x00]), "malformed", malformed),
    .init("property length past the packet end", .v5, packet(0x30, str("t") + [0x05, 0x01]), "malformed", malformed),
    .init("property value past the property length", .v5, publish5([0x02, 0x00, 0x00]), "malformed", malformed),
    .init("property identifier varint of 5 bytes", .v5, publish5([0x80, 0x80, 0x80, 0x80, 0x01]),
          "malformedVariableByteInteger", malformed),
    .init("duplicated session expiry", .v5, connect(properties: [0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2]), "protocolError", protocolErr),
    .init("duplicated topic alias", .v5, publish5([0x23, 0, 1, 0x23, 0, 2]), "protocolError", protocolErr),
    .init("duplicated reason string", .v5, packet(0x40, [0x00, 0x01, 0x80] + props([0x1F] + str("a") + [0x1F] + str("b"))),
          "protocolError", protocolErr),
    .init("two subscription identifiers in SUBSCRIBE", .v5, packet(0x82, [0x00, 0x01] + props([0x0B, 1, 0x0B, 2]) + str("a") + [0x00]),
          "protocolError", protocolErr),
    .init("payload format indicator 2", .v5, publish5([0x01, 0x02]), "protocolError", protocolErr),
    .init("receive maximum 0", .v5, connect(properties: [0x21, 0x00, 0x00]), "protocolError", protocolErr),
    .init("maximum packet size 0", .v5, connack5([0x27, 0, 0, 0, 0]), "protocolError", protocolErr),
    .init("subscription identifier 0", .v5, packet(0x82, [0x00, 0x01] + props([0x0B, 0x00]) + str("a") + [0x00]),
          "protocolError", protocolErr),
    .init("subscription identifier 0 in PUBLISH", .v5, publish5([0x0B, 0x80, 0x00]), "protocolError", protocolErr),
    .init("topic alias 0", .v5, publish5([0x23, 0x00, 0x00]), "protocolError", protocolErr),
    .init("request problem information 2", .v5, connect(properties: [0x17, 0x02]), "protocolError", protocolErr),
    .init("request response information 2", .v5, connect(properties: [0x19, 0x02]), "protocolError", protocolErr),
    .init("maximum QoS 2", .v5, connack5([0x24, 0x02]), "protocolError", protocolErr),
    .init("retain available 2", .v5, connack5([0x25, 0x02]), "protocolError", protocolErr),
    .init("wildcard subscription available 2", .v5, connack5([0x28, 0x02]), "protocolError", protocolErr),
    .init("subscription identifiers available 2", .v5, connack5([0x29, 0x02]), "protocolError", protocolErr),
    .init("shared subscriptions available 2", .v5, connack5([0x2A, 0x02]), "protocolError", protocolErr),
    .init("authentication data without method", .v5, connect(properties: [0x16, 0x00, 0x01, 0x07]), "protocolError", protocolErr),
    .init("response topic with a wildcard", .v5, publish5([0x08] + str("r/+")), "protocolError", protocolErr),
    // CONNACK, SUBACK
    .init("CONNACK reserved flags", .v311, packet(0x20, [0x02, 0x00]), "malformed", malformed),
    .init("CONNACK session present with an error", .v5, packet(0x20, [0x01, 0x87, 0x00]), "protocolError", protocolErr),
    .init("3.1.1 CONNACK return code 6", .v311, packet(0x20, [0x00, 0x06]), "malformed", malformed),
    .init("5.0 CONNACK without property length", .v5, packet(0x20, [0x00, 0x00]), "malformed", malformed),
    .init("3.1.1 SUBACK return code 3", .v311, packet(0x90, [0x00, 0x01, 0x03]), "malformed", malformed),
    .init("SUBACK without codes", .v5, packet(0x90, [0x00, 0x01, 0x00]), "protocolError", protocolErr),
    .init("UNSUBACK without codes", .v5, packet(0xB0, [0x00, 0x01, 0x00]), "protocolError", protocolErr),
    // SUBSCRIBE options
    .init("5.0 subscription options reserved bits", .v5, packet(0x82, [0x00, 0x01, 0x00] + str("a") + [0x40]), "malformed", malformed),
    .init("5.0 retain handling 3", .v5, packet(0x82, [0x00, 0x01, 0x00] + str("a") + [0x30]), "protocolError", protocolErr),
    .init("5.0 requested QoS 3", .v5, packet(0x82, [0x00, 0x01, 0x00] + str("a") + [0x03]), "malformed", malformed),
    .init("3.1.1 requested QoS upper bits", .v311, packet(0x82, [0x00, 0x01] + str("a") + [0x04]), "malformed", malformed),
    .init("3.1.1 requested QoS 3", .v311, packet(0x82, [0x00, 0x01] + str("a") + [0x03]), "malformed", malformed),
    .init("no local on a shared subscription", .v5, packet(0x82, [0x00, 0x01, 0x00] + str("$share/g/a") + [0x04]),
          "protocolError", protocolErr),
    .init("topic filter without options byte", .v311, packet(0x82, [0x00, 0x01] + str("a")), "malformed", malformed),
    .init("empty SUBSCRIBE", .v311, packet(0x82, [0x00, 0x01]), "protocolError", protocolErr),
    .init("empty SUBSCRIBE (5.0)", .v5, packet(0x82, [0x00, 0x01, 0x00]), "protocolError", protocolErr),
    .init("empty UNSUBSCRIBE", .v311, packet(0xA2, [0x00, 0x01]), "protocolError", protocolErr),
    // Topic names and filters
    .init("PUBLISH topic with +", .v311, packet(0x30, str("a/+")), "invalidTopicName", .topicNameInvalid),
    .init("PUBLISH topic with #", .v5, publish5([], topic: "a/#"), "invalidTopicName", .topicNameInvalid),
    .init("3.1.1 PUBLISH empty topic", .v311, packet(0x30, str("") + a("x")), "invalidTopicName", .topicNameInvalid),
    .init("5.0 PUBLISH empty topic without alias", .v5, publish5([], topic: ""), "invalidTopicName", .topicNameInvalid),
    .init("SUBSCRIBE filter a/#/b", .v311, packet(0x82, [0x00, 0x01] + str("a/#/b") + [0x00]), "invalidTopicFilter", .topicFilterInvalid),
    .init("SUBSCRIBE filter a+", .v5, packet(0x82, [0x00, 0x01, 0x00] + str("a+") + [0x00]), "invalidTopicFilter", .topicFilterInvalid),
    .init("SUBSCRIBE empty filter", .v311, packet(0x82, [0x00, 0x01] + str("") + [0x00]), "invalidTopicFilter", .topicFilterInvalid),
    .init("SUBSCRIBE $share without filter", .v5, packet(0x82, [0x00, 0x01, 0x00] + str("$share/g") + [0x00]),
          "invalidTopicFilter", .topicFilterInvalid),
    .init("UNSUBSCRIBE filter #/a", .v311, packet(0xA2, [0x00, 0x01] + str("#/a")), "invalidTopicFilter", .topicFilterInvalid),
]

@Suite("Malformed input: one case per rule")
struct MalformedTests {
    @Test("rejected with the expected error and reason code", arguments: malformedCases)
    func rejects(_ c: MalformedCase) throws {
        let error = try #require(decodeError(c.bytes, version: c.version), "decoded without error")
        #expect(error.kind == c.kind, "\(error)")
        #expect(error.reasonCode == c.reason)
    }

    @Test("every malformed case is complete: no prefix of it is an error except early framing errors",
          arguments: malformedCases)
    func prefixesAreNil(_ c: MalformedCase) throws {
        guard c.kind != "malformedVariableByteInteger" || c.bytes.first != 0x30 else { return }
        let decoder = MQTTDecoder(version: c.version)
        for n in 0..<c.bytes.count { #expect(try decoder.decode(Array(c.bytes[..<n])) == nil) }
    }

    @Test("packetTooLarge is thrown from the fixed header alone")
    func tooLargeFromFixedHeader() {
        // PUBLISH with remaining length 1000 (0xE8 0x07): 1003 bytes in all; only 3 are here.
        #expect(decodeError([0x30, 0xE8, 0x07], limit: 100) == .packetTooLarge(size: 1003, limit: 100))
        #expect(MQTTDecodeError.packetTooLarge(size: 1003, limit: 100).reasonCode == .packetTooLarge)
        // The limit counts the whole packet: a 4-byte PUBACK passes at 4 and fails at 3.
        #expect(decodeError(Golden.puback311.bytes, version: .v311, limit: 4) == nil)
        #expect(decodeError(Golden.puback311.bytes, version: .v311, limit: 3) == .packetTooLarge(size: 4, limit: 3))
    }

    @Test("an over-long remaining length is thrown from the fixed header alone")
    func overlongVarIntEarly() {
        #expect(decodeError([0x30, 0x80, 0x80, 0x80, 0x80]) == .malformedVariableByteInteger)
        #expect(decodeError([0x30, 0xFF, 0xFF, 0xFF, 0xFF]) == .malformedVariableByteInteger)
    }

    @Test("an unfinished remaining length is nil")
    func unfinishedVarInt() throws {
        for bytes: [UInt8] in [[], [0x30], [0x30, 0x80], [0x30, 0xFF, 0xFF], [0x30, 0xFF, 0xFF, 0xFF]] {
            #expect(try MQTTDecoder().decode(bytes) == nil)
        }
    }

    @Test("a non-minimal remaining length is accepted")
    func nonMinimalVarInt() throws {
        // PINGREQ with remaining length 0 written as 0x80 0x00.
        #expect(try MQTTDecoder().decode([0xC0, 0x80, 0x00])?.packet == .pingreq)
    }

    @Test("exact errors for protocol names and levels")
    func protocolNamesExact() {
        #expect(decodeError(packet(0x10, str("MQIsdp") + [0x03, 0x02, 0x00, 0x3C] + str("c"))) == .unsupportedProtocolVersion(3))
        #expect(decodeError(connect(level: 6)) == .unsupportedProtocolVersion(6))
        #expect(decodeError(packet(0x10, str("HTTP") + [0x04, 0x02, 0x00, 0x3C] + str("c"))) == .invalidProtocolName("HTTP"))
        #expect(decodeError(packet(0x30, str("a/+")), version: .v311) == .invalidTopicName("a/+"))
    }

    @Test("what the rules allow still decodes")
    func allowedEdges() throws {
        let v5 = MQTTDecoder(version: .v5)
        // 5.0 allows a password without a user name.
        let pw = try #require(try v5.decode(connect(flags: 0x42, payload: str("c") + raw([7]))))
        guard case .connect(let c) = pw.packet else { Issue.record("not CONNECT"); return }
        #expect(c.username == nil && c.password == [7])
        // User properties and PUBLISH subscription identifiers may repeat.
        let p = try #require(try v5.decode(publish5([0x0B, 1, 0x0B, 2, 0x26] + str("k") + str("1") + [0x26] + str("k") + str("2"))))
        guard case .publish(let pub) = p.packet else { Issue.record("not PUBLISH"); return }
        #expect(pub.properties.subscriptionIdentifiers == [1, 2])
        #expect(pub.properties.userProperties == [UserProperty("k", "1"), UserProperty("k", "2")])
        // The largest subscription identifier, 268,435,455 = 0xFF 0xFF 0xFF 0x7F.
        let big = try #require(try v5.decode(publish5([0x0B, 0xFF, 0xFF, 0xFF, 0x7F])))
        guard case .publish(let bigPub) = big.packet else { Issue.record("not PUBLISH"); return }
        #expect(bigPub.properties.subscriptionIdentifiers == [268_435_455])
        // Multi-byte UTF-8 is fine.
        #expect(try MQTTDecoder().decode(packet(0x30, str("é/漢"))) != nil)
        // No local on a plain filter is fine.
        #expect(try v5.decode(packet(0x82, [0x00, 0x01, 0x00] + str("a") + [0x04])) != nil)
    }

    @Test("reason codes of every error case")
    func reasonCodes() {
        #expect(MQTTDecodeError.malformedVariableByteInteger.reasonCode == .malformedPacket)
        #expect(MQTTDecodeError.malformed("x").reasonCode == .malformedPacket)
        #expect(MQTTDecodeError.invalidFlags("x").reasonCode == .malformedPacket)
        #expect(MQTTDecodeError.invalidUTF8.reasonCode == .malformedPacket)
        #expect(MQTTDecodeError.protocolError("x").reasonCode == .protocolError)
        #expect(MQTTDecodeError.packetTooLarge(size: 2, limit: 1).reasonCode == .packetTooLarge)
        #expect(MQTTDecodeError.unsupportedProtocolVersion(3).reasonCode == .unsupportedProtocolVersion)
        #expect(MQTTDecodeError.invalidProtocolName("x").reasonCode == .unsupportedProtocolVersion)
        #expect(MQTTDecodeError.invalidTopicName("x").reasonCode == .topicNameInvalid)
        #expect(MQTTDecodeError.invalidTopicFilter("x").reasonCode == .topicFilterInvalid)
    }
}
