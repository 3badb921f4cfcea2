// Fitting a server-to-client packet into the client's Maximum Packet Size (MQTT 5 §3.1.2.11.4):
// the Reason String and User Properties are the parts the spec lets a sender leave out.

extension MQTTPacket {
    /// The packet with `transform` applied to its properties. Only packets whose properties carry
    /// problem information (CONNACK, the four PUBLISH acknowledgements, SUBACK, UNSUBACK,
    /// DISCONNECT, AUTH) change; PUBLISH is sized by the broker per delivery and left alone.
    public func mappingProblemInformation(_ transform: (inout MQTTProperties) -> Void) -> MQTTPacket {
        switch self {
        case .connack(var p): transform(&p.properties); return .connack(p)
        case .puback(var p): transform(&p.properties); return .puback(p)
        case .pubrec(var p): transform(&p.properties); return .pubrec(p)
        case .pubrel(var p): transform(&p.properties); return .pubrel(p)
        case .pubcomp(var p): transform(&p.properties); return .pubcomp(p)
        case .suback(var p): transform(&p.properties); return .suback(p)
        case .unsuback(var p): transform(&p.properties); return .unsuback(p)
        case .disconnect(var p): transform(&p.properties); return .disconnect(p)
        case .auth(var p): transform(&p.properties); return .auth(p)
        case .connect, .publish, .subscribe, .unsubscribe, .pingreq, .pingresp: return self
        }
    }

    /// The encoding of this packet that fits in `maximumPacketSize` bytes: as it is, else without
    /// its Reason String, else also without its User Properties (the order MQTT 5 §3.1.2.11.4
    /// and §3.9.2.1.2 allow). nil when even that is too large: the packet must then not be sent.
    public func encoded(version: MQTTVersion, fitting maximumPacketSize: Int) -> [UInt8]? {
        let whole = MQTTEncoder.encode(self, version: version)
        if whole.count <= maximumPacketSize || version != .v5 { return whole.count <= maximumPacketSize ? whole : nil }
        let withoutReason = mappingProblemInformation { $0.reasonString = nil }
        let slim = MQTTEncoder.encode(withoutReason, version: version)
        if slim.count <= maximumPacketSize { return slim }
        let bare = MQTTEncoder.encode(withoutReason.mappingProblemInformation { $0.userProperties = [] }, version: version)
        return bare.count <= maximumPacketSize ? bare : nil
    }
}

extension String {
    /// The longest prefix of whole Unicode scalars that is at most `maxBytes` bytes of UTF-8, for
    /// texts made from client input (a reason string naming a 65,000-byte topic must still fit
    /// the 65,535 bytes an MQTT string can carry).
    public func truncatedUTF8(maxBytes: Int) -> String {
        guard utf8.count > maxBytes else { return self }
        var bytes = 0
        var end = unicodeScalars.startIndex
        for scalar in unicodeScalars {
            let n = UTF8.width(scalar)
            guard bytes + n <= maxBytes else { break }
            bytes += n
            end = unicodeScalars.index(after: end)
        }
        return String(unicodeScalars[..<end])
    }
}
