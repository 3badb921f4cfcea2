import Testing
import FleetProtocol

@Suite("ByteReader and ByteWriter")
struct ByteReaderWriterTests {
    private func read<T>(_ bytes: [UInt8], _ body: (inout ByteReader) throws(ByteReaderError) -> T) -> Result<T, ByteReaderError> {
        bytes.withUnsafeBytes { buffer in
            var r = ByteReader(buffer)
            return Result { () throws(ByteReaderError) in try body(&r) }
        }
    }

    @Test("big-endian integers")
    func integers() throws {
        let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07]
        let values = try read(bytes) { r throws(ByteReaderError) in (try r.readU8(), try r.readU16(), try r.readU32(), r.isAtEnd) }.get()
        #expect(values.0 == 0x01 && values.1 == 0x0203 && values.2 == 0x0405_0607 && values.3)
        var w = ByteWriter()
        w.writeU8(0x01); w.writeU16(0x0203); w.writeU32(0x0405_0607)
        #expect(w.bytes == bytes)
    }

    /// MQTT 5 §1.5.5 table: the edges of each width.
    static let varintTable: [(UInt32, [UInt8])] = [
        (0, [0x00]), (127, [0x7F]), (128, [0x80, 0x01]), (16_383, [0xFF, 0x7F]),
        (16_384, [0x80, 0x80, 0x01]), (2_097_151, [0xFF, 0xFF, 0x7F]), (2_097_152, [0x80, 0x80, 0x80, 0x01]),
        (268_435_455, [0xFF, 0xFF, 0xFF, 0x7F]),
    ]

    @Test("variable byte integers from the spec table (MQTT 5 §1.5.5)", arguments: varintTable)
    func varints(value: UInt32, bytes: [UInt8]) throws {
        var w = ByteWriter()
        w.writeVariableByteInteger(value)
        #expect(w.bytes == bytes)
        #expect(ByteWriter.variableByteIntegerLength(value) == bytes.count)
        #expect(try read(bytes) { r throws(ByteReaderError) in try r.readVariableByteInteger() }.get() == value)
    }

    @Test("variable byte integer errors")
    func varintErrors() {
        #expect(read([0x80, 0x80, 0x80, 0x80, 0x01]) { r throws(ByteReaderError) in try r.readVariableByteInteger() }
            == .failure(.variableByteIntegerTooLong))
        #expect(read([0x80, 0x80]) { r throws(ByteReaderError) in try r.readVariableByteInteger() }
            == .failure(.truncated(needed: 3, available: 2)))
        [UInt8]([0x80]).withUnsafeBytes { #expect(ByteReader.peekVariableByteInteger($0) == .needMoreBytes) }
        [UInt8]([0x80, 0x00]).withUnsafeBytes { #expect(ByteReader.peekVariableByteInteger($0) == .value(0, length: 2)) }
    }

    @Test("strings and binary data")
    func stringsAndBinary() throws {
        var w = ByteWriter()
        w.writeString("é/x")
        w.writeBinary([9, 8])
        #expect(w.bytes == [0x00, 0x04, 0xC3, 0xA9, 0x2F, 0x78, 0x00, 0x02, 0x09, 0x08])
        let (s, b) = try read(w.bytes) { r throws(ByteReaderError) in (try r.readString(), try r.readBinary()) }.get()
        #expect(s == "é/x" && b == [9, 8])
        #expect(read([0x00, 0x01, 0x00]) { r throws(ByteReaderError) in try r.readString() } == .failure(.invalidUTF8))
        #expect(read([0x00, 0x02, 0xC0, 0x80]) { r throws(ByteReaderError) in try r.readString() } == .failure(.invalidUTF8))
        #expect(read([0x00, 0x03, 0x61]) { r throws(ByteReaderError) in try r.readString() } == .failure(.truncated(needed: 3, available: 1)))
    }

    @Test("a failed read leaves the offset where it was")
    func failedReadKeepsOffset() {
        let offset = read([0x01, 0x00, 0x05, 0x61]) { r throws(ByteReaderError) in
            _ = try r.readU8()
            _ = try? r.readString()
            _ = try? r.readBinary()
            _ = try? r.readU32()
            return r.offset
        }
        #expect(offset == .success(1))
    }

    @Test("sub-reader is bounded and advances its parent")
    func subReader() throws {
        let (inner, outerOffset) = try read([0x02, 0xAA, 0xBB, 0xCC]) { r throws(ByteReaderError) in
            let n = Int(try r.readU8())
            var sub = try r.readSubReader(n)
            let all = try sub.readRemainingBytes()
            return (all, r.offset)
        }.get()
        #expect(inner == [0xAA, 0xBB] && outerOffset == 3)
    }

    @Test("length prefix for short and long bodies")
    func lengthPrefix() {
        for n in [0, 1, 127, 128, 300, 16_384] {
            var w = ByteWriter(bytes: [0xEE])
            w.withVariableByteIntegerLengthPrefix { $0.writeBytes([UInt8](repeating: 7, count: n)) }
            var expected = ByteWriter(bytes: [0xEE])
            expected.writeVariableByteInteger(UInt32(n))
            #expect(w.bytes == expected.bytes + [UInt8](repeating: 7, count: n))
        }
    }
}
