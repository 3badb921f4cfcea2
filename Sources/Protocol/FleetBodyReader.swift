/// Reads one frame body: `ByteReader` underneath, but failures become `FleetFrameError`s that name
/// the field, and strings and lists are checked against their limits before anything is copied.
struct FleetBodyReader {
    var r: ByteReader
    let frame: FleetFrameKind

    init(_ bytes: UnsafeRawBufferPointer, frame: FleetFrameKind) {
        r = ByteReader(bytes)
        self.frame = frame
    }

    var isAtEnd: Bool { r.isAtEnd }
    var remaining: Int { r.remaining }

    private func map(_ error: ByteReaderError, _ field: StaticString) -> FleetFrameError {
        switch error {
        case .truncated(let needed, let available):
            .malformed("\(frame): truncated \(field): needs \(needed) bytes, \(available) left")
        case .variableByteIntegerTooLong: .malformed("\(frame): \(field): variable byte integer too long")
        case .invalidUTF8: .invalidUTF8(field: "\(frame) \(field)")
        }
    }

    mutating func u8(_ field: StaticString) throws(FleetFrameError) -> UInt8 {
        do { return try r.readU8() } catch { throw map(error, field) }
    }
    mutating func u16(_ field: StaticString) throws(FleetFrameError) -> UInt16 {
        do { return try r.readU16() } catch { throw map(error, field) }
    }
    mutating func u32(_ field: StaticString) throws(FleetFrameError) -> UInt32 {
        do { return try r.readU32() } catch { throw map(error, field) }
    }
    mutating func u64(_ field: StaticString) throws(FleetFrameError) -> UInt64 {
        let high = try u32(field)
        let low = try u32(field)
        return UInt64(high) << 32 | UInt64(low)
    }

    /// A u16-length UTF-8 string (no U+0000) of `allowed` bytes; the length is checked first.
    mutating func string(_ field: StaticString, _ allowed: ClosedRange<Int>) throws(FleetFrameError) -> String {
        let start = r
        let n = Int(try u16(field))
        guard allowed.contains(n) else {
            throw .limitExceeded("\(frame) \(field): \(n) bytes, allowed \(allowed.lowerBound)...\(allowed.upperBound)")
        }
        r = start
        do { return try r.readString() } catch { throw map(error, field) }
    }

    /// u16-length binary data of at most `limit` bytes.
    mutating func binary(_ field: StaticString, limit: Int) throws(FleetFrameError) -> [UInt8] {
        let n = Int(try u16(field))
        guard n <= limit else { throw .limitExceeded("\(frame) \(field): \(n) bytes, limit \(limit)") }
        do { return try r.readBytes(n) } catch { throw map(error, field) }
    }

    /// A u16 element count, checked against `limit` and against what is left of the body (each
    /// element takes at least `minimumElementBytes`) before the caller reserves room for it.
    mutating func count(_ field: StaticString, limit: Int, minimumElementBytes: Int) throws(FleetFrameError) -> Int {
        let n = Int(try u16(field))
        guard n <= limit else { throw .limitExceeded("\(frame) \(field): \(n) entries, limit \(limit)") }
        guard n * minimumElementBytes <= remaining else {
            throw .malformed("\(frame): \(n) \(field) cannot fit in the \(remaining) bytes left")
        }
        return n
    }

    /// A counted list of topic filters (plain MQTT filters; a `$share/` filter is not interest).
    mutating func filters(_ field: StaticString) throws(FleetFrameError) -> [String] {
        let n = try count(field, limit: FleetLimits.maxFiltersPerFrame, minimumElementBytes: 3)
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n {
            let f = try string(field, 1...ProtocolLimits.maxStringBytes)
            guard MQTTTopic.isValidFilter(f), !f.utf8.starts(with: "$share/".utf8) else {
                throw .invalidTopic("\(frame) \(field): \"\(f)\" is not a plain topic filter")
            }
            out.append(f)
        }
        return out
    }

    mutating func rest() -> [UInt8] { (try? r.readRemainingBytes()) ?? [] }

    func expectEnd() throws(FleetFrameError) {
        guard r.isAtEnd else { throw .malformed("\(frame): \(r.remaining) trailing bytes") }
    }
}

extension ByteWriter {
    mutating func writeU64(_ v: UInt64) {
        writeU32(UInt32(truncatingIfNeeded: v >> 32))
        writeU32(UInt32(truncatingIfNeeded: v))
    }

    /// A string within a fleet limit; a longer one is a programmer error (the peer would reject it).
    mutating func writeString(_ s: String, limit: Int) {
        precondition(s.utf8.count <= limit, "string of \(s.utf8.count) bytes over the limit of \(limit)")
        writeString(s)
    }

    /// A u16 list count within a fleet limit; more is a programmer error.
    mutating func writeCount(_ n: Int, limit: Int) {
        precondition(n <= limit, "\(n) entries over the limit of \(limit)")
        writeU16(UInt16(n))
    }
}
