/// Minimal incremental MQTT frame parser for the generator: frames first, then per type.
/// `nil` means "need more bytes"; only malformed input throws.
enum FrameError: Error {
    case malformedVarInt
    case packetTooLarge(Int)
}

struct Frame {
    /// First byte: type in the high nibble, flags in the low nibble.
    var header: UInt8
    /// Start of the variable header.
    var body: UnsafePointer<UInt8>
    var bodyLength: Int
    /// Bytes the frame occupies in the input, fixed header included.
    var totalLength: Int

    var type: UInt8 { header >> 4 }
    var flags: UInt8 { header & 0x0F }
}

enum MQTTFrameParser {
    static let maxPacketSize = 16 * 1024 * 1024

    /// Peeks one frame at `p` (`count` bytes available) without consuming anything.
    @inline(__always)
    static func frame(at p: UnsafePointer<UInt8>, count: Int) throws(FrameError) -> Frame? {
        if count < 2 { return nil }
        var length = 0
        var shift = 0
        var i = 1
        while true {
            if i >= count { return nil }
            if i > 4 { throw .malformedVarInt }
            let b = p[i]
            length |= Int(b & 0x7F) << shift
            i += 1
            if b & 0x80 == 0 { break }
            shift += 7
        }
        if length > maxPacketSize { throw .packetTooLarge(length) }
        if count - i < length { return nil }
        return Frame(header: p[0], body: p + i, bodyLength: length, totalLength: i + length)
    }

    @inline(__always)
    static func uint16(_ p: UnsafePointer<UInt8>) -> UInt16 { UInt16(p[0]) << 8 | UInt16(p[1]) }

    /// Reads a Variable Byte Integer inside a body; returns (value, bytes used) or nil if malformed.
    static func varInt(_ p: UnsafePointer<UInt8>, limit: Int) -> (Int, Int)? {
        var value = 0
        var shift = 0
        var i = 0
        while i < min(4, limit) {
            let b = p[i]
            value |= Int(b & 0x7F) << shift
            i += 1
            if b & 0x80 == 0 { return (value, i) }
            shift += 7
        }
        return nil
    }
}

/// A parsed PUBLISH as the generator needs it.
struct InboundPublish {
    var qos: UInt8
    var dup: Bool
    var retain: Bool
    var packetID: UInt16
    var topic: UnsafeBufferPointer<UInt8>
    var payload: UnsafeBufferPointer<UInt8>
}

extension Frame {
    /// Parses this frame as a PUBLISH; nil if malformed.
    @inline(__always)
    func publish(version: MQTTVersion) -> InboundPublish? {
        let qos = (header >> 1) & 0x03
        guard bodyLength >= 2 else { return nil }
        let topicLength = Int(MQTTFrameParser.uint16(body))
        var offset = 2 + topicLength
        var packetID: UInt16 = 0
        if qos > 0 {
            guard offset + 2 <= bodyLength else { return nil }
            packetID = MQTTFrameParser.uint16(body + offset)
            offset += 2
        }
        if version == .v5 {
            guard offset < bodyLength,
                  let (propertiesLength, used) = MQTTFrameParser.varInt(body + offset, limit: bodyLength - offset)
            else { return nil }
            offset += used + propertiesLength
        }
        guard offset <= bodyLength else { return nil }
        return InboundPublish(qos: qos, dup: header & 0x08 != 0, retain: header & 0x01 != 0, packetID: packetID,
                              topic: UnsafeBufferPointer(start: body + 2, count: topicLength),
                              payload: UnsafeBufferPointer(start: body + offset, count: bodyLength - offset))
    }

    /// CONNACK return/reason code (byte 2 of the variable header); nil if malformed.
    func connackCode() -> UInt8? { bodyLength >= 2 ? body[1] : nil }

    /// First packet identifier of PUBACK/SUBACK.
    func packetID() -> UInt16? { bodyLength >= 2 ? MQTTFrameParser.uint16(body) : nil }

    /// PUBACK reason code in 5.0 (absent means success).
    func pubackReason(version: MQTTVersion) -> UInt8 {
        version == .v5 && bodyLength >= 3 ? body[2] : 0
    }

    /// SUBACK return codes; counts those >= 0x80 (failure).
    func subackFailures(version: MQTTVersion) -> Int {
        var offset = 2
        if version == .v5 {
            guard bodyLength > 2, let (len, used) = MQTTFrameParser.varInt(body + 2, limit: bodyLength - 2) else { return 1 }
            offset += used + len
        }
        var failures = 0
        while offset < bodyLength {
            if body[offset] >= 0x80 { failures += 1 }
            offset += 1
        }
        return failures
    }
}
