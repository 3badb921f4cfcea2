/// Everything that makes bytes an invalid MQTT packet. Thrown only for malformed input; a packet
/// that is not complete yet is `nil`, not an error.
public enum MQTTDecodeError: Error, Equatable, Sendable {
    /// A variable byte integer with more than 4 bytes. Non-minimal encodings are accepted.
    case malformedVariableByteInteger
    /// The whole packet (fixed header included) is larger than the decoder's limit. Thrown as soon
    /// as the remaining length is known.
    case packetTooLarge(size: Int, limit: Int)
    /// Truncated field, length mismatch, trailing bytes, QoS 3, reserved bits, unknown property,
    /// property not allowed on the packet type (MQTT 5 §2.2.2.2 calls that malformed).
    case malformed(String)
    /// Fixed-header flags wrong for the packet type.
    case invalidFlags(String)
    /// Ill-formed UTF-8, or U+0000, in an MQTT string.
    case invalidUTF8
    /// Duplicated property, packet identifier 0, empty SUBSCRIBE/UNSUBSCRIBE, retain handling 3,
    /// property value out of range, and other "Protocol Error"s of the spec.
    case protocolError(String)
    /// CONNECT protocol name other than "MQTT" (or "MQIsdp", which is reported as a version).
    case invalidProtocolName(String)
    /// CONNECT protocol level we do not speak: 3 ("MQIsdp", MQTT 3.1), 6, ...
    case unsupportedProtocolVersion(UInt8)
    /// Wildcard or empty topic in PUBLISH or a Will (empty is allowed in 5.0 with a Topic Alias).
    case invalidTopicName(String)
    /// Bad filter in SUBSCRIBE/UNSUBSCRIBE.
    case invalidTopicFilter(String)
    /// Well-formed but over a bound Fleetgate keeps on every packet (`ProtocolLimits`), such as
    /// the number of user properties: answered with 0x83 Implementation Specific Error.
    case limitExceeded(String)

    /// The MQTT 5 reason code the broker sends for this error (in CONNACK before the session is
    /// up, in DISCONNECT after). A 3.1.1 broker maps `.unsupportedProtocolVersion` to CONNACK
    /// return code 1 and simply closes the connection otherwise.
    public var reasonCode: ReasonCode {
        switch self {
        case .malformedVariableByteInteger, .malformed, .invalidFlags, .invalidUTF8: .malformedPacket
        case .packetTooLarge: .packetTooLarge
        case .protocolError: .protocolError
        // A different protocol name is a protocol we do not support, like a version we do not.
        case .invalidProtocolName, .unsupportedProtocolVersion: .unsupportedProtocolVersion
        case .invalidTopicName: .topicNameInvalid
        case .invalidTopicFilter: .topicFilterInvalid
        case .limitExceeded: .implementationSpecificError
        }
    }
}

extension MQTTDecodeError {
    /// Maps a byte-level failure while reading `field`.
    init(_ error: ByteReaderError, reading field: StaticString) {
        switch error {
        case .truncated(let needed, let available):
            self = .malformed("truncated \(field): needs \(needed) bytes, \(available) left")
        case .variableByteIntegerTooLong: self = .malformedVariableByteInteger
        case .invalidUTF8: self = .invalidUTF8
        }
    }
}

/// MQTT-flavoured reads: the same as `ByteReader`'s, but failures become `MQTTDecodeError`s that
/// name the field.
extension ByteReader {
    mutating func u8(_ field: StaticString) throws(MQTTDecodeError) -> UInt8 {
        do { return try readU8() } catch { throw MQTTDecodeError(error, reading: field) }
    }
    mutating func u16(_ field: StaticString) throws(MQTTDecodeError) -> UInt16 {
        do { return try readU16() } catch { throw MQTTDecodeError(error, reading: field) }
    }
    mutating func u32(_ field: StaticString) throws(MQTTDecodeError) -> UInt32 {
        do { return try readU32() } catch { throw MQTTDecodeError(error, reading: field) }
    }
    mutating func varint(_ field: StaticString) throws(MQTTDecodeError) -> UInt32 {
        do { return try readVariableByteInteger() } catch { throw MQTTDecodeError(error, reading: field) }
    }
    mutating func string(_ field: StaticString) throws(MQTTDecodeError) -> String {
        do { return try readString() } catch { throw MQTTDecodeError(error, reading: field) }
    }
    mutating func binary(_ field: StaticString) throws(MQTTDecodeError) -> [UInt8] {
        do { return try readBinary() } catch { throw MQTTDecodeError(error, reading: field) }
    }
    /// The bytes of the u16-length string at the read position, without consuming them; nil
    /// when it is not all there.
    func peekString() -> UnsafeRawBufferPointer? {
        guard remaining >= 2 else { return nil }
        let n = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
        guard n <= remaining - 2 else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + n)])
    }
    mutating func skip(_ n: Int) throws(MQTTDecodeError) {
        do { _ = try readSubReader(n) } catch { throw MQTTDecodeError(error, reading: "topic name") }
    }
    /// Everything left (the PUBLISH payload); cannot fail.
    mutating func rest() -> [UInt8] { (try? readRemainingBytes()) ?? [] }
    /// A packet identifier, which must not be 0 (MQTT 5 §2.2.1).
    mutating func packetId() throws(MQTTDecodeError) -> UInt16 {
        let id = try u16("packet identifier")
        guard id != 0 else { throw .protocolError("packet identifier 0") }
        return id
    }
    /// Fails unless every byte was consumed.
    func expectEnd(_ packet: StaticString) throws(MQTTDecodeError) {
        guard isAtEnd else { throw .malformed("\(remaining) trailing bytes in \(packet)") }
    }
}
