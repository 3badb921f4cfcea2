// INTEREST_SNAPSHOT, INTEREST_DELTA, REMOTE_INTEREST and DURABLE_INTEREST (Protocol/agent-coordinator.md §5.6-5.8, §5.13).

extension FleetFrame.InterestSnapshot {
    /// Bit 0 of the snapshot flags byte: this part completes the table. Bits 1-7 reserved.
    static let lastFlag: UInt8 = 0x01

    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let epoch = try r.u64("epoch")
        let sequence = try r.u64("sequence")
        let flags = try r.u8("snapshot flags")
        guard flags & ~lastFlag == 0 else { throw .malformed("\(r.frame): reserved snapshot flags 0x\(String(flags, radix: 16))") }
        let filters = try r.filters("filters")
        try r.expectEnd()
        return Self(epoch: epoch, sequence: sequence, isLast: flags & lastFlag != 0, filters: filters)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(epoch)
        w.writeU64(sequence)
        w.writeU8(isLast ? Self.lastFlag : 0)
        w.writeFilters(filters)
    }

    /// Splits a complete table into parts of at most `maxFiltersPerFrame` filters and
    /// `maxBodyBytes` of filter bytes each, numbered from `firstSequence`; the last part has
    /// `isLast`. An empty table is one empty last part.
    public static func parts(epoch: UInt64, firstSequence: UInt64 = 0, filters: [String],
                             maxFiltersPerFrame: Int = FleetLimits.maxFiltersPerFrame,
                             maxBodyBytes: Int = FleetLimits.snapshotPartBytes) -> [Self] {
        precondition(maxFiltersPerFrame >= 1 && maxFiltersPerFrame <= FleetLimits.maxFiltersPerFrame)
        var parts: [Self] = []
        var current: [String] = []
        var bytes = 0
        for f in filters {
            let size = 2 + f.utf8.count
            if !current.isEmpty && (current.count == maxFiltersPerFrame || bytes + size > maxBodyBytes) {
                parts.append(Self(epoch: epoch, sequence: firstSequence + UInt64(parts.count), isLast: false, filters: current))
                current = []
                bytes = 0
            }
            current.append(f)
            bytes += size
        }
        parts.append(Self(epoch: epoch, sequence: firstSequence + UInt64(parts.count), isLast: true, filters: current))
        return parts
    }
}

extension FleetFrame.InterestDelta {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let epoch = try r.u64("epoch")
        let sequence = try r.u64("sequence")
        let added = try r.filters("added filters")
        let removed = try r.filters("removed filters")
        try r.expectEnd()
        return Self(epoch: epoch, sequence: sequence, added: added, removed: removed)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(epoch)
        w.writeU64(sequence)
        w.writeFilters(added)
        w.writeFilters(removed)
    }
}

extension FleetFrame.RemoteInterest {
    /// The first body byte: which form follows.
    enum Form: UInt8 {
        case snapshot = 0
        case delta = 1
    }

    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let raw = try r.u8("form")
        switch Form(rawValue: raw) {
        case .snapshot: return .snapshot(try FleetFrame.InterestSnapshot.decode(&r))
        case .delta: return .delta(try FleetFrame.InterestDelta.decode(&r))
        case nil: throw .malformed("\(r.frame): form \(raw)")
        }
    }

    func encode(into w: inout ByteWriter) {
        switch self {
        case .snapshot(let s):
            w.writeU8(Form.snapshot.rawValue)
            s.encode(into: &w)
        case .delta(let d):
            w.writeU8(Form.delta.rawValue)
            d.encode(into: &w)
        }
    }
}

extension ByteWriter {
    mutating func writeFilters(_ filters: [String]) {
        writeCount(filters.count, limit: FleetLimits.maxFiltersPerFrame)
        for f in filters { writeString(f) }
    }
}
