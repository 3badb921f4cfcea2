/// A big-endian writer that appends to an owned array. Pure and general: MQTT and the
/// agent-coordinator frames both use it. Values the wire cannot carry (a string longer than
/// 65,535 bytes, a variable byte integer above 268,435,455) are programmer errors and trap.
public struct ByteWriter: Sendable {
    public var bytes: [UInt8]

    public init(bytes: [UInt8] = []) { self.bytes = bytes }
    public init(capacity: Int) { bytes = []; bytes.reserveCapacity(capacity) }

    public var count: Int { bytes.count }

    public mutating func writeU8(_ v: UInt8) { bytes.append(v) }

    public mutating func writeU16(_ v: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: v >> 8))
        bytes.append(UInt8(truncatingIfNeeded: v))
    }

    public mutating func writeU32(_ v: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    /// Minimal encoding, as MQTT requires (MQTT 5 §1.5.5).
    public mutating func writeVariableByteInteger(_ v: UInt32) {
        precondition(v <= ProtocolLimits.maxVariableByteInteger, "variable byte integer \(v) too large")
        var x = v
        repeat {
            var b = UInt8(x & 0x7F)
            x >>= 7
            if x > 0 { b |= 0x80 }
            bytes.append(b)
        } while x > 0
    }

    public static func variableByteIntegerLength(_ v: UInt32) -> Int {
        switch v {
        case 0..<128: 1
        case 128..<16_384: 2
        case 16_384..<2_097_152: 3
        default: 4
        }
    }

    public mutating func writeBytes<C: Collection>(_ data: C) where C.Element == UInt8 { bytes.append(contentsOf: data) }

    /// Binary data: 2-byte length then the bytes.
    public mutating func writeBinary(_ data: [UInt8]) {
        precondition(data.count <= ProtocolLimits.maxStringBytes, "binary data of \(data.count) bytes too long")
        writeU16(UInt16(data.count))
        bytes.append(contentsOf: data)
    }

    /// A UTF-8 string with a 2-byte length prefix.
    public mutating func writeString(_ s: String) {
        let n = s.utf8.count
        precondition(n <= ProtocolLimits.maxStringBytes, "string of \(n) bytes too long")
        writeU16(UInt16(n))
        bytes.append(contentsOf: s.utf8)
    }

    /// Writes what `body` writes, preceded by its length as a minimal variable byte integer.
    /// One placeholder byte is reserved, so bodies under 128 bytes are never moved.
    public mutating func withVariableByteIntegerLengthPrefix(_ body: (inout ByteWriter) -> Void) {
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - lengthAt - 1
        precondition(length <= Int(ProtocolLimits.maxVariableByteInteger), "length \(length) too large")
        if length < 128 {
            bytes[lengthAt] = UInt8(length)
            return
        }
        var prefix = ByteWriter(capacity: 4)
        prefix.writeVariableByteInteger(UInt32(length))
        bytes[lengthAt] = prefix.bytes[0]
        bytes.insert(contentsOf: prefix.bytes[1...], at: lengthAt + 1)
    }
}
