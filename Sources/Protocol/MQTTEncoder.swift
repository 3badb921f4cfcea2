/// Encodes packets. It trusts its input: values the wire cannot carry (strings over 65,535 bytes,
/// QoS > 0 PUBLISH without a packet identifier) trap, and fields that the version or packet cannot
/// carry are left out (properties in 3.1.1, a property not allowed on the packet type).
public enum MQTTEncoder {
    /// Appends the encoded packet. CONNECT uses its own `version`; every other packet `version`.
    /// In 3.1.1 properties are not written and ack reason codes are dropped (3.1.1 CONNACK writes
    /// `reasonCode.rawValue` as the return code, SUBACK writes the codes as given). In 5.0 the
    /// short forms are used (PUBACK etc. with success and no properties = 2-byte body, with
    /// another code and no properties = 3 bytes; DISCONNECT success without properties = empty).
    /// AUTH does not exist in 3.1.1: asking for it there is a programmer error (nothing is written
    /// in release builds).
    public static func encode(_ packet: MQTTPacket, version: MQTTVersion, into out: inout [UInt8]) {
        var w = ByteWriter()
        swap(&w.bytes, &out)
        defer { swap(&w.bytes, &out) }
        switch packet {
        case .connect(let p): frame(.connect, 0, &w) { p.encodeBody(into: &$0) }
        case .connack(let p): frame(.connack, 0, &w) { p.encodeBody(into: &$0, version: version) }
        case .publish(let p): frame(.publish, p.fixedHeaderFlags, &w) { p.encodeBody(into: &$0, version: version) }
        case .puback(let p): frame(.puback, 0, &w) { p.encodeBody(into: &$0, version: version) }
        case .pubrec(let p): frame(.pubrec, 0, &w) { p.encodeBody(into: &$0, version: version) }
        case .pubrel(let p): frame(.pubrel, 0b0010, &w) { p.encodeBody(into: &$0, version: version) }
        case .pubcomp(let p): frame(.pubcomp, 0, &w) { p.encodeBody(into: &$0, version: version) }
        case .subscribe(let p): frame(.subscribe, 0b0010, &w) { p.encodeBody(into: &$0, version: version) }
        case .suback(let p): frame(.suback, 0, &w) { p.encodeBody(into: &$0, version: version) }
        case .unsubscribe(let p): frame(.unsubscribe, 0b0010, &w) { p.encodeBody(into: &$0, version: version) }
        case .unsuback(let p): frame(.unsuback, 0, &w) { p.encodeBody(into: &$0, version: version) }
        case .pingreq: frame(.pingreq, 0, &w) { _ in }
        case .pingresp: frame(.pingresp, 0, &w) { _ in }
        case .disconnect(let p): frame(.disconnect, 0, &w) { p.encodeBody(into: &$0, version: version) }
        case .auth(let p):
            guard version == .v5 else {
                assertionFailure("AUTH does not exist in MQTT 3.1.1")
                return
            }
            frame(.auth, 0, &w) { p.encodeBody(into: &$0) }
        }
    }

    public static func encode(_ packet: MQTTPacket, version: MQTTVersion) -> [UInt8] {
        var out: [UInt8] = []
        encode(packet, version: version, into: &out)
        return out
    }

    /// Fixed header (type, flags, remaining length) around the body.
    private static func frame(_ type: MQTTPacketType, _ flags: UInt8, _ w: inout ByteWriter, _ body: (inout ByteWriter) -> Void) {
        w.writeU8(type.rawValue << 4 | flags)
        w.withVariableByteIntegerLengthPrefix(body)
    }
}
