// UNSUBSCRIBE (MQTT 5 §3.10, 3.1.1 §3.10) and UNSUBACK (MQTT 5 §3.11, 3.1.1 §3.11).

extension UnsubscribePacket {
    static func decode(_ r: inout ByteReader, version: MQTTVersion) throws(MQTTDecodeError) -> UnsubscribePacket {
        let packetId = try r.packetId()
        let properties = version == .v5 ? try MQTTProperties.decode(from: &r, in: .unsubscribe) : .none
        var filters: [String] = []
        while !r.isAtEnd {  // bounded: every turn consumes at least 2 bytes or throws
            let filter = try r.string("topic filter")
            guard MQTTTopic.isValidFilter(filter) else { throw .invalidTopicFilter(filter) }
            filters.append(filter)
        }
        guard !filters.isEmpty else { throw .protocolError("UNSUBSCRIBE without topic filters") }  // [MQTT-3.10.3-2]
        return UnsubscribePacket(packetId: packetId, filters: filters, properties: properties)
    }

    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        w.writeU16(packetId)
        if version == .v5 { properties.encode(into: &w, in: .unsubscribe) }
        for f in filters { w.writeString(f) }
    }
}

extension UnsubAckPacket {
    /// 3.1.1 UNSUBACK is just the packet identifier; 5.0 adds properties and one code per filter.
    static func decode(_ r: inout ByteReader, version: MQTTVersion) throws(MQTTDecodeError) -> UnsubAckPacket {
        let packetId = try r.packetId()
        guard version == .v5 else {
            try r.expectEnd("UNSUBACK")
            return UnsubAckPacket(packetId: packetId)
        }
        let properties = try MQTTProperties.decode(from: &r, in: .unsuback)
        var codes: [ReasonCode] = []
        codes.reserveCapacity(r.remaining)
        while !r.isAtEnd { codes.append(ReasonCode(try r.u8("UNSUBACK reason code"))) }
        guard !codes.isEmpty else { throw .protocolError("UNSUBACK without reason codes") }
        return UnsubAckPacket(packetId: packetId, reasonCodes: codes, properties: properties)
    }

    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        w.writeU16(packetId)
        guard version == .v5 else { return }
        properties.encode(into: &w, in: .unsuback)
        for code in reasonCodes { w.writeU8(code.rawValue) }
    }
}
