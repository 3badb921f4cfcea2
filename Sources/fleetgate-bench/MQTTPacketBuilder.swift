/// MQTT packet builders, written from the 3.1.1 and 5.0 specifications independently of the
/// broker's codec (Sources/Protocol), so that a bug shared by both cannot hide itself.
enum MQTTVersion: UInt8 {
    case v311 = 4
    case v5 = 5
}

/// Control packet types (MQTT 3.1.1 §2.2.1, 5.0 §2.1.2).
enum PacketType: UInt8 {
    case connect = 1, connack = 2, publish = 3, puback = 4, pubrec = 5, pubrel = 6, pubcomp = 7
    case subscribe = 8, suback = 9, unsubscribe = 10, unsuback = 11, pingreq = 12, pingresp = 13
    case disconnect = 14, auth = 15
}

struct SubscriptionRequest {
    var filter: String
    var qos: UInt8
}

enum MQTTPacketBuilder {
    /// CONNECT (3.1.1 §3.1, 5.0 §3.1). No will, no credentials.
    static func connect(into out: ByteBuffer, version: MQTTVersion, clientID: String,
                        cleanSession: Bool, keepAlive: UInt16, sessionExpiry: UInt32 = 0) {
        let idLength = clientID.utf8.count
        // Variable header: protocol name (6) + level (1) + flags (1) + keep alive (2).
        var remaining = 10 + 2 + idLength
        var properties = 0
        if version == .v5 {
            // Session Expiry Interval (0x11, four bytes) for persistent sessions.
            properties = sessionExpiry > 0 ? 5 : 0
            remaining += varIntLength(properties) + properties
        }
        out.writeByte(PacketType.connect.rawValue << 4)
        out.writeVarInt(remaining)
        out.writeString("MQTT")
        out.writeByte(version.rawValue)
        out.writeByte(cleanSession ? 0x02 : 0x00)
        out.writeUInt16(keepAlive)
        if version == .v5 {
            out.writeVarInt(properties)
            if sessionExpiry > 0 {
                out.writeByte(0x11)
                out.writeUInt16(UInt16(sessionExpiry >> 16))
                out.writeUInt16(UInt16(sessionExpiry & 0xFFFF))
            }
        }
        out.writeString(clientID)
    }

    /// SUBSCRIBE (3.1.1 §3.8, 5.0 §3.8); fixed header flags are 0b0010.
    static func subscribe(into out: ByteBuffer, version: MQTTVersion, packetID: UInt16,
                          _ requests: [SubscriptionRequest]) {
        var remaining = 2
        if version == .v5 { remaining += 1 }
        for r in requests { remaining += 2 + r.filter.utf8.count + 1 }
        out.writeByte(PacketType.subscribe.rawValue << 4 | 0x02)
        out.writeVarInt(remaining)
        out.writeUInt16(packetID)
        if version == .v5 { out.writeByte(0) }
        for r in requests {
            out.writeString(r.filter)
            out.writeByte(r.qos)
        }
    }

    /// Fixed header + topic + packet id (+ empty properties) of a PUBLISH whose payload of
    /// `payloadLength` bytes the caller writes next.
    @inline(__always)
    static func publishHeader(into out: ByteBuffer, version: MQTTVersion, topic: UnsafeBufferPointer<UInt8>,
                              qos: UInt8, packetID: UInt16, payloadLength: Int, retain: Bool = false) {
        var remaining = 2 + topic.count + payloadLength
        if qos > 0 { remaining += 2 }
        if version == .v5 { remaining += 1 }
        out.reserve(5 + remaining)
        out.writeByte(PacketType.publish.rawValue << 4 | (qos << 1) | (retain ? 1 : 0))
        out.writeVarInt(remaining)
        out.writeUInt16(UInt16(topic.count))
        out.writeBytes(topic.baseAddress!, topic.count)
        if qos > 0 { out.writeUInt16(packetID) }
        if version == .v5 { out.writeByte(0) }
    }

    /// PUBACK (3.1.1 §3.4; in 5.0 a remaining length of 2 means reason code 0x00 Success).
    @inline(__always)
    static func puback(into out: ByteBuffer, packetID: UInt16) {
        out.reserve(4)
        out.writeByte(PacketType.puback.rawValue << 4)
        out.writeByte(2)
        out.writeUInt16(packetID)
    }

    static func pingreq(into out: ByteBuffer) {
        out.writeByte(PacketType.pingreq.rawValue << 4)
        out.writeByte(0)
    }

    static func disconnect(into out: ByteBuffer) {
        out.writeByte(PacketType.disconnect.rawValue << 4)
        out.writeByte(0)
    }
}
