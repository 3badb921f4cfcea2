// DISCONNECT (MQTT 5 §3.14, 3.1.1 §3.14) and AUTH (MQTT 5 §3.15). PINGREQ/PINGRESP have no body.

extension DisconnectPacket {
    /// 5.0: empty body = success without properties; 1 byte = reason code without properties.
    static func decode(_ r: inout ByteReader, version: MQTTVersion) throws(MQTTDecodeError) -> DisconnectPacket {
        var packet = DisconnectPacket()
        if version == .v5 && !r.isAtEnd {
            packet.reasonCode = ReasonCode(try r.u8("DISCONNECT reason code"))
            if !r.isAtEnd { packet.properties = try MQTTProperties.decode(from: &r, in: .disconnect) }
        }
        try r.expectEnd("DISCONNECT")
        return packet
    }

    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        guard version == .v5 else { return }
        let noProperties = properties.isEmpty(in: .disconnect)
        if reasonCode == .success && noProperties { return }
        w.writeU8(reasonCode.rawValue)
        if !noProperties { properties.encode(into: &w, in: .disconnect) }
    }
}

extension AuthPacket {
    /// Empty body = success without properties; otherwise reason code AND property length
    /// (the spec has no 1-byte form for AUTH).
    static func decode(_ r: inout ByteReader) throws(MQTTDecodeError) -> AuthPacket {
        var packet = AuthPacket()
        if !r.isAtEnd {
            packet.reasonCode = ReasonCode(try r.u8("AUTH reason code"))
            packet.properties = try MQTTProperties.decode(from: &r, in: .auth)
        }
        try r.expectEnd("AUTH")
        return packet
    }

    func encodeBody(into w: inout ByteWriter) {
        if reasonCode == .success && properties.isEmpty(in: .auth) { return }
        w.writeU8(reasonCode.rawValue)
        properties.encode(into: &w, in: .auth)
    }
}
