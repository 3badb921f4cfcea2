// SUBSCRIBE (MQTT 5 §3.8, 3.1.1 §3.8) and SUBACK (MQTT 5 §3.9, 3.1.1 §3.9).

extension SubscribePacket {
    static func decode(_ r: inout ByteReader, version: MQTTVersion) throws(MQTTDecodeError) -> SubscribePacket {
        let packetId = try r.packetId()
        let properties = version == .v5 ? try MQTTProperties.decode(from: &r, in: .subscribe) : .none
        var subscriptions: [SubscriptionRequest] = []
        while !r.isAtEnd {  // bounded: every turn consumes at least 3 bytes or throws
            let filter = try r.string("topic filter")
            let options = try r.u8("subscription options")
            guard MQTTTopic.isValidFilter(filter) else { throw .invalidTopicFilter(filter) }
            guard let qos = QoS(rawValue: options & 0x03) else { throw .malformed("SUBSCRIBE requested QoS 3") }
            var request = SubscriptionRequest(filter: filter, qos: qos)
            switch version {
            case .v311:
                guard options & 0xFC == 0 else { throw .malformed("SUBSCRIBE reserved option bits set") }  // [MQTT-3.8.3-4]
            case .v5:
                guard options & 0xC0 == 0 else { throw .malformed("SUBSCRIBE reserved option bits set") }  // [MQTT-3.8.3-5]
                request.noLocal = options & 0x04 != 0
                request.retainAsPublished = options & 0x08 != 0
                request.retainHandling = (options >> 4) & 0x03
                guard request.retainHandling != 3 else { throw .protocolError("SUBSCRIBE retain handling 3") }
                if request.noLocal && MQTTTopic.parseShared(filter) != nil {
                    throw .protocolError("no local on a shared subscription")  // [MQTT-3.8.3-4]
                }
            }
            subscriptions.append(request)
        }
        guard !subscriptions.isEmpty else { throw .protocolError("SUBSCRIBE without topic filters") }  // [MQTT-3.8.3-3]
        return SubscribePacket(packetId: packetId, subscriptions: subscriptions, properties: properties)
    }

    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        w.writeU16(packetId)
        if version == .v5 { properties.encode(into: &w, in: .subscribe) }
        for s in subscriptions {
            w.writeString(s.filter)
            var options = s.qos.rawValue
            if version == .v5 {
                if s.noLocal { options |= 0x04 }
                if s.retainAsPublished { options |= 0x08 }
                options |= (s.retainHandling & 0x03) << 4
            }
            w.writeU8(options)
        }
    }
}

extension SubAckPacket {
    static func decode(_ r: inout ByteReader, version: MQTTVersion) throws(MQTTDecodeError) -> SubAckPacket {
        let packetId = try r.packetId()
        let properties = version == .v5 ? try MQTTProperties.decode(from: &r, in: .suback) : .none
        var codes: [ReasonCode] = []
        codes.reserveCapacity(r.remaining)
        while !r.isAtEnd {
            let code = ReasonCode(try r.u8("SUBACK reason code"))
            if version == .v311 && ![0x00, 0x01, 0x02, 0x80].contains(code.rawValue) {
                throw .malformed("SUBACK return code \(code) is reserved")  // 3.1.1 §3.9.3
            }
            codes.append(code)
        }
        guard !codes.isEmpty else { throw .protocolError("SUBACK without reason codes") }
        return SubAckPacket(packetId: packetId, reasonCodes: codes, properties: properties)
    }

    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        w.writeU16(packetId)
        if version == .v5 { properties.encode(into: &w, in: .suback) }
        for code in reasonCodes { w.writeU8(code.rawValue) }
    }
}
