import Testing
@testable import FleetProtocol

// Issue #10 §3.1 and §3.6: one set of limits on both sides of the MQTT-to-frame boundary, and
// packets that fit the client's Maximum Packet Size. Bytes are written from the spec by hand.

private func str(_ s: String) -> [UInt8] { [UInt8(s.utf8.count >> 8), UInt8(s.utf8.count & 0xFF)] + Array(s.utf8) }
private func varint(_ n: Int) -> [UInt8] {
    var n = n, out: [UInt8] = []
    repeat { var b = UInt8(n % 128); n /= 128; if n > 0 { b |= 0x80 }; out.append(b) } while n > 0
    return out
}
/// n User Property entries (identifier 0x26, name "k<i>", value "v").
private func userProperties(_ n: Int) -> [UInt8] { (0..<n).flatMap { [0x26] + str("k\($0)") + str("v") } }
private func packet(_ typeAndFlags: UInt8, _ body: [UInt8]) -> [UInt8] { [typeAndFlags] + varint(body.count) + body }
/// MQTT 5 PUBLISH QoS 1, packet id 1, on topic "t".
private func publish5(userPropertyCount n: Int) -> [UInt8] {
    let props = userProperties(n)
    return packet(0x32, str("t") + [0x00, 0x01] + varint(props.count) + props + Array("payload".utf8))
}

@Suite struct BoundaryLimitsTests {
    @Test func theMQTTAndFrameBoundsAreOneNumber() {
        #expect(FleetLimits.maxUserProperties == ProtocolLimits.maxUserProperties)
    }

    @Test func aPublishWithTheMaximumOfUserPropertiesDecodes() throws {
        let decoded = try #require(try MQTTDecoder(version: .v5).decode(publish5(userPropertyCount: ProtocolLimits.maxUserProperties)))
        guard case .publish(let p) = decoded.packet else { Issue.record("not a PUBLISH"); return }
        #expect(p.properties.userProperties.count == ProtocolLimits.maxUserProperties)
    }

    @Test func oneUserPropertyMoreIsRefusedWithImplementationSpecificError() {
        let bytes = publish5(userPropertyCount: ProtocolLimits.maxUserProperties + 1)
        let error = decodeError(bytes, version: .v5)
        #expect(error?.kind == "limitExceeded")
        #expect(error?.reasonCode == .implementationSpecificError)
        // The fast PUBLISH path used by the broker agrees.
        var cache = TopicNameCache()
        #expect(throws: MQTTDecodeError.self) {
            _ = try bytes.withUnsafeBytes { try MQTTDecoder(version: .v5).decodePublish($0, topics: &cache) }
        }
    }

    @Test func aWillOverTheBoundIsRefusedInTheConnect() {
        // CONNECT v5, clean start + will flag, keepalive 60, no properties, client id "c",
        // will properties with 129 user properties, will topic "w", will payload "x".
        let willProps = userProperties(ProtocolLimits.maxUserProperties + 1)
        let body = str("MQTT") + [0x05, 0x06, 0x00, 0x3C, 0x00] + str("c") + varint(willProps.count) + willProps + str("w") + str("x")
        #expect(decodeError(packet(0x10, body), version: .v5)?.kind == "limitExceeded")
    }

    /// Every PUBLISH the MQTT decoder accepts can travel as a FORWARD: `limitProblem` is nil and
    /// the frame decodes back to the same message. This is the property whose absence killed the
    /// agent (129 user properties passed MQTT and trapped in the FORWARD encoder).
    @Test func everyAcceptedPublishCrossesIntoAForward() throws {
        var rng = SeededRandom(seed: 0xF0_4A2D)
        for n in [0, 1, 64, ProtocolLimits.maxUserProperties] {
            for _ in 0..<20 {
                let props = (0..<n).map { _ in UserProperty(String(UInt64.random(in: 0...999, using: &rng)), "v") }
                var p = MQTTProperties()
                p.userProperties = props
                p.contentType = "text/plain"
                let bytes = MQTTEncoder.encode(.publish(PublishPacket(topic: "a/b", payload: [1, 2, 3], qos: .atLeastOnce, retain: true,
                                                                      packetId: 9, properties: p)), version: .v5)
                let decoded = try #require(try MQTTDecoder(version: .v5).decode(bytes))
                guard case .publish(let publish) = decoded.packet else { Issue.record("not a PUBLISH"); return }
                let forward = FleetFrame.Forward(originGatewayId: "gw-1", sequence: 1, topic: publish.topic, qos: publish.qos,
                                                 retain: publish.retain, properties: publish.properties, payload: publish.payload)
                #expect(forward.limitProblem == nil)
                let frame = FleetFrameEncoder.encode(.forward(forward))
                let back = try #require(try FleetFrameDecoder().decode(frame))
                #expect(back.frame == .forward(forward))
            }
        }
    }

    @Test func aForwardOverTheBoundSaysWhyInsteadOfTrapping() {
        var p = MQTTProperties()
        p.userProperties = (0...FleetLimits.maxUserProperties).map { UserProperty("k\($0)", "v") }
        let forward = FleetFrame.Forward(originGatewayId: "gw-1", sequence: 1, topic: "t", qos: .atLeastOnce, retain: false,
                                         properties: p, payload: [])
        #expect(forward.limitProblem?.contains("user properties") == true)
        let noOrigin = FleetFrame.Forward(originGatewayId: "", sequence: 1, topic: "t", qos: .atMostOnce, retain: false,
                                          properties: .none, payload: [])
        #expect(noOrigin.limitProblem != nil)
    }

    // MARK: Maximum Packet Size (MQTT 5 §3.1.2.11.4)

    private func suback(reason: String?, userProperties: Int = 0) -> MQTTPacket {
        var p = MQTTProperties()
        p.reasonString = reason
        p.userProperties = (0..<userProperties).map { UserProperty("k\($0)", "value") }
        return .suback(SubAckPacket(packetId: 5, reasonCodes: [.notAuthorized, .grantedQoS1], properties: p))
    }

    @Test func aPacketThatFitsIsSentWhole() throws {
        let packet = suback(reason: "short")
        #expect(packet.encoded(version: .v5, fitting: 200) == MQTTEncoder.encode(packet, version: .v5))
    }

    @Test func theReasonStringGoesFirstThenUserProperties() throws {
        let long = String(repeating: "r", count: 2_000)
        let slim = try #require(suback(reason: long, userProperties: 2).encoded(version: .v5, fitting: 200))
        #expect(slim.count <= 200)
        #expect(slim == MQTTEncoder.encode(suback(reason: nil, userProperties: 2), version: .v5))
        let bare = try #require(suback(reason: long, userProperties: 50).encoded(version: .v5, fitting: 20))
        // SUBACK: header 2 + packet id 2 + property length 1 + two codes.
        #expect(bare == [0x90, 0x05, 0x00, 0x05, 0x00, 0x87, 0x01])
    }

    @Test func aPacketThatCannotFitIsNotSent() {
        let many = MQTTPacket.suback(SubAckPacket(packetId: 1, reasonCodes: Array(repeating: .grantedQoS1, count: 300)))
        #expect(many.encoded(version: .v5, fitting: 200) == nil)
    }

    @Test func reasonStringsAreCutAtScalarBoundaries() {
        let text = "ab" + String(repeating: "é", count: 10)  // é is 2 bytes in UTF-8
        #expect(text.truncatedUTF8(maxBytes: 5) == "abé")
        #expect(text.truncatedUTF8(maxBytes: 6) == "abéé")
        #expect("short".truncatedUTF8(maxBytes: 100) == "short")
        let emoji = String(repeating: "🙂", count: 3)  // 4 bytes each
        #expect(emoji.truncatedUTF8(maxBytes: 7) == "🙂")
    }
}
