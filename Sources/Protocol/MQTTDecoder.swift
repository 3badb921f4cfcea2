/// Frames and decodes MQTT packets from a byte stream. A value type with no state between calls:
/// the caller keeps the bytes, calls `decode` until it returns nil, and drops `consumed` bytes.
public struct MQTTDecoder: Sendable {
    /// The protocol level of the connection, used for every packet except CONNECT, which carries its own.
    public var version: MQTTVersion
    /// Largest whole packet (fixed header included) accepted.
    public var maximumPacketSize: Int

    public init(version: MQTTVersion = .v311, maximumPacketSize: Int = ProtocolLimits.maxPacketSize) {
        self.version = version
        self.maximumPacketSize = maximumPacketSize
    }

    /// Decodes one packet from the start of `bytes`. nil = a whole packet is not there yet;
    /// `packetTooLarge` and `malformedVariableByteInteger` are thrown as soon as they are known.
    /// Only malformed input throws.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(MQTTDecodeError) -> (packet: MQTTPacket, consumed: Int)? {
        var topics = TopicNameCache()
        return try decode(bytes, topics: &topics)
    }

    /// As `decode(_:)`, reusing the connection's last PUBLISH topic name when it repeats.
    public func decode(_ bytes: UnsafeRawBufferPointer, topics: inout TopicNameCache) throws(MQTTDecodeError) -> (packet: MQTTPacket, consumed: Int)? {
        // Frame first: peek the fixed header, consume nothing until the whole packet is there.
        guard bytes.count >= 2 else { return nil }
        let remaining: Int, lengthBytes: Int
        switch ByteReader.peekVariableByteInteger(UnsafeRawBufferPointer(rebasing: bytes[1...])) {
        case .needMoreBytes: return nil
        case .tooLong: throw .malformedVariableByteInteger
        case .value(let v, let length): remaining = Int(v); lengthBytes = length
        }
        let size = 1 + lengthBytes + remaining
        guard size <= maximumPacketSize else { throw .packetTooLarge(size: size, limit: maximumPacketSize) }
        guard bytes.count >= size else { return nil }

        var body = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[(1 + lengthBytes)..<size]))
        let packet = try decodePacket(typeAndFlags: bytes[0], body: &body, topics: &topics)
        return (packet, size)
    }

    public func decode(_ bytes: [UInt8]) throws(MQTTDecodeError) -> (packet: MQTTPacket, consumed: Int)? {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(MQTTDecodeError) in try decode(buffer) }
        }
        return try result.get()
    }

    /// Decodes `bytes`, exactly one whole PUBLISH packet (as `PacketAssembler` hands them over),
    /// straight into a `PublishPacket`: the broker's per-message path, without the `MQTTPacket`
    /// wrapper and its copies. Errors are the ones `decode` raises for the same bytes.
    public func decodePublish(_ bytes: UnsafeRawBufferPointer, topics: inout TopicNameCache) throws(MQTTDecodeError) -> PublishPacket {
        guard bytes.count >= 2, bytes[0] >> 4 == MQTTPacketType.publish.rawValue else {
            throw .malformed("not a whole PUBLISH packet")
        }
        let lengthBytes: Int
        switch ByteReader.peekVariableByteInteger(UnsafeRawBufferPointer(rebasing: bytes[1...])) {
        case .tooLong: throw .malformedVariableByteInteger
        case .needMoreBytes: throw .malformed("packet length disagrees with its contents")
        case .value(let remaining, let length):
            // The assembler hands over a header that announces too much without its body.
            let size = 1 + length + Int(remaining)
            guard size <= maximumPacketSize else { throw .packetTooLarge(size: size, limit: maximumPacketSize) }
            guard size == bytes.count else { throw .malformed("packet length disagrees with its contents") }
            lengthBytes = length
        }
        var body = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[(1 + lengthBytes)...]))
        return try PublishPacket.decode(&body, flags: bytes[0] & 0x0F, version: version, topics: &topics)
    }

    private func decodePacket(typeAndFlags: UInt8, body r: inout ByteReader, topics: inout TopicNameCache) throws(MQTTDecodeError) -> MQTTPacket {
        let flags = typeAndFlags & 0x0F
        guard let type = MQTTPacketType(rawValue: typeAndFlags >> 4) else {
            throw .malformed("reserved packet type 0")
        }
        try Self.checkFlags(flags, for: type, version: version)
        switch type {
        case .connect: return .connect(try ConnectPacket.decode(&r))
        case .connack: return .connack(try ConnAckPacket.decode(&r, version: version))
        case .publish: return .publish(try PublishPacket.decode(&r, flags: flags, version: version, topics: &topics))
        case .puback: return .puback(try PubAckPacket.decode(&r, version: version, packet: "PUBACK"))
        case .pubrec: return .pubrec(try PubAckPacket.decode(&r, version: version, packet: "PUBREC"))
        case .pubrel: return .pubrel(try PubAckPacket.decode(&r, version: version, packet: "PUBREL"))
        case .pubcomp: return .pubcomp(try PubAckPacket.decode(&r, version: version, packet: "PUBCOMP"))
        case .subscribe: return .subscribe(try SubscribePacket.decode(&r, version: version))
        case .suback: return .suback(try SubAckPacket.decode(&r, version: version))
        case .unsubscribe: return .unsubscribe(try UnsubscribePacket.decode(&r, version: version))
        case .unsuback: return .unsuback(try UnsubAckPacket.decode(&r, version: version))
        case .pingreq:
            try r.expectEnd("PINGREQ")
            return .pingreq
        case .pingresp:
            try r.expectEnd("PINGRESP")
            return .pingresp
        case .disconnect: return .disconnect(try DisconnectPacket.decode(&r, version: version))
        case .auth: return .auth(try AuthPacket.decode(&r))
        }
    }

    /// Fixed-header flags (MQTT 5 §2.1.3): PUBREL, SUBSCRIBE, UNSUBSCRIBE 0b0010; PUBLISH is
    /// checked by its decoder; all others 0.
    private static func checkFlags(_ flags: UInt8, for type: MQTTPacketType, version: MQTTVersion) throws(MQTTDecodeError) {
        switch type {
        case .publish: return
        case .pubrel, .subscribe, .unsubscribe:
            guard flags == 0b0010 else { throw .invalidFlags("\(type) flags 0b\(String(flags, radix: 2)), expected 0b0010") }
        case .auth:
            // Type 15 is reserved in 3.1.1 (§2.2.1).
            guard version == .v5 else { throw .malformed("reserved packet type 15 in MQTT 3.1.1") }
            guard flags == 0 else { throw .invalidFlags("\(type) flags 0b\(String(flags, radix: 2)), expected 0") }
        default:
            guard flags == 0 else { throw .invalidFlags("\(type) flags 0b\(String(flags, radix: 2)), expected 0") }
        }
    }
}
