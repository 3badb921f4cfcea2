/// Why a `ByteReader` read failed. Protocol layers map it to their own error type.
public enum ByteReaderError: Error, Equatable, Sendable {
    /// Fewer bytes left than the field needs.
    case truncated(needed: Int, available: Int)
    /// A variable byte integer whose 4th byte still has the continuation bit.
    case variableByteIntegerTooLong
    /// A string that is not well-formed UTF-8, or that contains U+0000.
    case invalidUTF8
}

/// Outcome of peeking a variable byte integer at the start of a buffer that may be incomplete.
public enum VariableByteIntegerPeek: Equatable, Sendable {
    case value(UInt32, length: Int)
    /// Every available byte has the continuation bit and fewer than 4 were seen.
    case needMoreBytes
    case tooLong
}

/// A bounds-checked big-endian reader over borrowed bytes. Pure and general: MQTT and the
/// agent-coordinator frames both use it.
///
/// It borrows `bytes` (no copy), so it must not outlive the buffer it was made from: make it inside
/// `withUnsafeBytes` and let values it returns (`[UInt8]`, `String`) carry the data out.
public struct ByteReader {
    public let bytes: UnsafeRawBufferPointer
    public private(set) var offset: Int = 0

    public init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    public var remaining: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset == bytes.count }

    @inline(__always)
    private func need(_ n: Int) throws(ByteReaderError) {
        guard n <= remaining else { throw .truncated(needed: n, available: remaining) }
    }

    public mutating func readU8() throws(ByteReaderError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readU16() throws(ByteReaderError) -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func readU32() throws(ByteReaderError) -> UInt32 {
        try need(4)
        defer { offset += 4 }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[offset + i]) }
        return v
    }

    /// Reads a variable byte integer of at most 4 bytes (non-minimal encodings are accepted).
    public mutating func readVariableByteInteger() throws(ByteReaderError) -> UInt32 {
        switch ByteReader.peekVariableByteInteger(UnsafeRawBufferPointer(rebasing: bytes[offset...])) {
        case .value(let v, let length):
            offset += length
            return v
        case .needMoreBytes:
            throw .truncated(needed: remaining + 1, available: remaining)
        case .tooLong:
            throw .variableByteIntegerTooLong
        }
    }

    /// Reads `count` bytes into an owned array.
    public mutating func readBytes(_ count: Int) throws(ByteReaderError) -> [UInt8] {
        precondition(count >= 0, "negative count")
        try need(count)
        defer { offset += count }
        return Array(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]))
    }

    /// Reads everything that is left.
    public mutating func readRemainingBytes() throws(ByteReaderError) -> [UInt8] {
        try readBytes(remaining)
    }

    /// Binary data: a 2-byte big-endian length then that many bytes.
    public mutating func readBinary() throws(ByteReaderError) -> [UInt8] {
        let start = offset
        let n = try readU16()
        do { return try readBytes(Int(n)) } catch { offset = start; throw error }
    }

    /// A UTF-8 string with a 2-byte length prefix. Rejects ill-formed UTF-8 (overlong forms,
    /// surrogates, ...) and U+0000, as MQTT requires of every string (MQTT 5 §1.5.4).
    public mutating func readString() throws(ByteReaderError) -> String {
        let start = offset
        let n = Int(try readU16())
        guard n <= remaining else {
            let available = remaining
            offset = start
            throw .truncated(needed: n, available: available)
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
        guard let s = ByteReader.validatedString(raw) else { offset = start; throw .invalidUTF8 }
        offset += n
        return s
    }

    /// A reader over the next `count` bytes; this reader moves past them.
    public mutating func readSubReader(_ count: Int) throws(ByteReaderError) -> ByteReader {
        precondition(count >= 0, "negative count")
        try need(count)
        defer { offset += count }
        return ByteReader(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + count]))
    }

    /// Decodes well-formed UTF-8 without U+0000, or nil.
    public static func validatedString(_ raw: UnsafeRawBufferPointer) -> String? {
        var ascii = true
        for b in raw {
            if b == 0 { return nil }
            if b >= 0x80 { ascii = false }
        }
        if ascii { return String(decoding: raw, as: UTF8.self) }
        return String(validating: raw, as: UTF8.self)
    }

    /// Looks at a variable byte integer at the start of `buffer` without consuming anything.
    public static func peekVariableByteInteger(_ buffer: UnsafeRawBufferPointer) -> VariableByteIntegerPeek {
        var value: UInt32 = 0
        for i in 0..<ProtocolLimits.maxVariableByteIntegerBytes {
            guard i < buffer.count else { return .needMoreBytes }
            let b = buffer[i]
            value |= UInt32(b & 0x7F) << (7 * UInt32(i))
            if b & 0x80 == 0 { return .value(value, length: i + 1) }
        }
        return .tooLong
    }
}
