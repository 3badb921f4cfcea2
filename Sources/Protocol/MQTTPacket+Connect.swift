// CONNECT (MQTT 5 §3.1, 3.1.1 §3.1) and CONNACK (MQTT 5 §3.2, 3.1.1 §3.2).

private enum ConnectFlag {
    static let reserved: UInt8 = 0x01
    static let cleanStart: UInt8 = 0x02
    static let will: UInt8 = 0x04
    static let willQoSShift: UInt8 = 3
    static let willQoSMask: UInt8 = 0x18
    static let willRetain: UInt8 = 0x20
    static let password: UInt8 = 0x40
    static let username: UInt8 = 0x80
}

extension ConnectPacket {
    /// Decodes the body; the protocol level comes from the packet itself.
    static func decode(_ r: inout ByteReader) throws(MQTTDecodeError) -> ConnectPacket {
        let name = try r.string("protocol name")
        let level = try r.u8("protocol level")
        switch name {
        case "MQTT": break
        case "MQIsdp": throw .unsupportedProtocolVersion(level)  // MQTT 3.1
        default: throw .invalidProtocolName(name)
        }
        guard let version = MQTTVersion(rawValue: level) else { throw .unsupportedProtocolVersion(level) }
        let flags = try r.u8("connect flags")
        guard flags & ConnectFlag.reserved == 0 else { throw .malformed("CONNECT reserved flag set") }
        let hasWill = flags & ConnectFlag.will != 0
        let willQoSRaw = (flags & ConnectFlag.willQoSMask) >> ConnectFlag.willQoSShift
        let willRetain = flags & ConnectFlag.willRetain != 0
        guard let willQoS = QoS(rawValue: willQoSRaw) else { throw .malformed("CONNECT will QoS 3") }
        if !hasWill {
            guard willQoSRaw == 0, !willRetain else { throw .malformed("CONNECT will QoS/retain set without will flag") }
        }
        let hasUsername = flags & ConnectFlag.username != 0
        let hasPassword = flags & ConnectFlag.password != 0
        if version == .v311 && hasPassword && !hasUsername {
            throw .malformed("CONNECT password flag without user name flag")  // 3.1.1 [MQTT-3.1.2-22]
        }
        let keepAlive = try r.u16("keep alive")
        let properties = version == .v5 ? try MQTTProperties.decode(from: &r, in: .connect) : .none
        let clientId = try r.string("client identifier")
        var will: Will?
        if hasWill {
            let willProperties = version == .v5 ? try MQTTProperties.decode(from: &r, in: .will) : .none
            let topic = try r.string("will topic")
            guard MQTTTopic.isValidName(topic) else { throw .invalidTopicName(topic) }
            let payload = try r.binary("will payload")
            will = Will(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username = hasUsername ? try r.string("user name") : nil
        let password = hasPassword ? try r.binary("password") : nil
        try r.expectEnd("CONNECT")
        return ConnectPacket(version: version, cleanStart: flags & ConnectFlag.cleanStart != 0, keepAlive: keepAlive,
                             clientId: clientId, will: will, username: username, password: password, properties: properties)
    }

    func encodeBody(into w: inout ByteWriter) {
        w.writeString("MQTT")
        w.writeU8(version.rawValue)
        var flags: UInt8 = 0
        if cleanStart { flags |= ConnectFlag.cleanStart }
        if let will {
            flags |= ConnectFlag.will | will.qos.rawValue << ConnectFlag.willQoSShift
            if will.retain { flags |= ConnectFlag.willRetain }
        }
        if username != nil { flags |= ConnectFlag.username }
        if password != nil { flags |= ConnectFlag.password }
        w.writeU8(flags)
        w.writeU16(keepAlive)
        if version == .v5 { properties.encode(into: &w, in: .connect) }
        w.writeString(clientId)
        if let will {
            if version == .v5 { will.properties.encode(into: &w, in: .will) }
            w.writeString(will.topic)
            w.writeBinary(will.payload)
        }
        if let username { w.writeString(username) }
        if let password { w.writeBinary(password) }
    }
}

extension ConnAckPacket {
    static func decode(_ r: inout ByteReader, version: MQTTVersion) throws(MQTTDecodeError) -> ConnAckPacket {
        let flags = try r.u8("connect acknowledge flags")
        guard flags & 0xFE == 0 else { throw .malformed("CONNACK reserved flags set") }
        let code = ReasonCode(try r.u8("connect reason code"))
        if version == .v311 && code.rawValue > 5 {
            throw .malformed("CONNACK return code \(code) is reserved")  // 3.1.1 §3.2.2.3
        }
        let sessionPresent = flags & 0x01 != 0
        if sessionPresent && code != .success {
            throw .protocolError("CONNACK with session present and an error code")  // [MQTT-3.2.2-4], 5: [MQTT-3.2.2-6]
        }
        let properties = version == .v5 ? try MQTTProperties.decode(from: &r, in: .connack) : .none
        try r.expectEnd("CONNACK")
        return ConnAckPacket(sessionPresent: sessionPresent, reasonCode: code, properties: properties)
    }

    func encodeBody(into w: inout ByteWriter, version: MQTTVersion) {
        w.writeU8(sessionPresent ? 1 : 0)
        w.writeU8(reasonCode.rawValue)
        if version == .v5 { properties.encode(into: &w, in: .connack) }
    }
}
