// PUBLISH (MQTT 5 §3.3, 3.1.1 §3.3) and the four acks that share one shape: PUBACK, PUBREC,
// PUBREL, PUBCOMP (MQTT 5 §3.4-3.7).

extension PublishPacket {
    static func decode(_ r: inout ByteReader, flags: UInt8, version: MQTTVersion,
                       topics: inout TopicNameCache) throws(MQTTDecodeError) -> PublishPacket {
        let dup = flags & 0x08 != 0
        let retain = flags & 0x01 != 0
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else { throw .malformed("PUBLISH QoS 3") }
        guard !(dup && qos == .atMostOnce) else { throw .invalidFlags("PUBLISH DUP set on QoS 0") }  // [MQTT-3.3.1-2]
        let topic: String
        if let raw = r.peekString(), let known = topics.lookup(raw) {
            try r.skip(2 + raw.count)
            topic = known  // validated when it was first seen
        } else {
            let start = r.offset
            topic = try r.string("topic name")
            if !topic.isEmpty {
                guard MQTTTopic.isValidName(topic) else { throw .invalidTopicName(topic) }
                topics.remember(UnsafeRawBufferPointer(rebasing: r.bytes[(start + 2)..<r.offset]), as: topic)
            }
        }
        let packetId = qos == .atMostOnce ? nil : try r.packetId()
        let properties = version == .v5 ? try MQTTProperties.decode(from: &r, in: .publish) : .none
        if topic.isEmpty {
            // MQTT 5 §3.3.2.3.4: an empty topic name is how a sender uses an established alias.
            guard version == .v5, properties.topicAlias != nil else {
                throw .invalidTopicName("empty topic name without a topic alias")
            }
        }
        return PublishPacket(topic: topic, payload: r.rest(), qos: qos, retain: retain, dup: dup,
                             packetId: packetId, properties: properties)
    }

    var fixedHeaderFlags: UInt8 {
        (dup ? 0x08 : 0) | qos.rawValue << 1 | (retain ? 0x01 : 0)
    }

    /// A QoS 0 message carries no packet identifier, so `packetId` is ignored there; QoS 1 and 2
    /// without one is a programmer error.
    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        w.writeString(topic)
        if qos != .atMostOnce {
            guard let packetId else { preconditionFailure("PUBLISH with QoS \(qos.rawValue) needs a packet identifier") }
            w.writeU16(packetId)
        }
        if version == .v5 { properties.encode(into: &w, in: .publish) }
        w.writeBytes(payload)
    }
}

extension PubAckPacket {
    /// 5.0 allows a 2-byte form (success, no properties) and a 3-byte form (no properties).
    static func decode(_ r: inout ByteReader, version: MQTTVersion, packet: StaticString) throws(MQTTDecodeError) -> PubAckPacket {
        let packetId = try r.packetId()
        var code = ReasonCode.success
        var properties = MQTTProperties.none
        if version == .v5 && !r.isAtEnd {
            code = ReasonCode(try r.u8("reason code"))
            if !r.isAtEnd { properties = try MQTTProperties.decode(from: &r, in: .pubAck) }
        }
        try r.expectEnd(packet)
        return PubAckPacket(packetId: packetId, reasonCode: code, properties: properties)
    }

    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        w.writeU16(packetId)
        guard version == .v5 else { return }
        let noProperties = properties.isEmpty(in: .pubAck)
        if reasonCode == .success && noProperties { return }
        w.writeU8(reasonCode.rawValue)
        if !noProperties { properties.encode(into: &w, in: .pubAck) }
    }
}
