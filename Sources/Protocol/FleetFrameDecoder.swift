/// Frames and decodes agent-coordinator frames from a byte stream (Protocol/agent-coordinator.md §3). A value
/// type with no state between calls: the caller keeps the bytes, calls `decode` until it returns
/// nil, and drops `consumed` bytes. Which frames are allowed when (HELLO first, direction) is the
/// connection's business, not the codec's.
public struct FleetFrameDecoder: Sendable {
    /// Largest whole frame (header included) accepted. A coordinator lowers it to
    /// `FleetLimits.maximumHelloFrameSize` until the peer has authenticated.
    public var maximumFrameSize: Int

    public init(maximumFrameSize: Int = FleetLimits.defaultMaximumFrameSize) {
        self.maximumFrameSize = maximumFrameSize
    }

    /// Decodes one frame from the start of `bytes`. nil = a whole frame is not there yet. Reserved
    /// header flags, an oversize frame and an unknown kind without IGNORABLE are thrown from the
    /// 7-byte header alone, before the body arrives. Only malformed input throws.
    public func decode(_ bytes: UnsafeRawBufferPointer) throws(FleetFrameError) -> (frame: FleetFrame, consumed: Int)? {
        // Frame first: peek the header, consume nothing until the whole frame is there.
        guard bytes.count >= FleetLimits.headerBytes else { return nil }
        let (kind, flags, size) = try checkedHeader(bytes)
        let known = FleetFrameKind(kind).isKnown
        guard bytes.count >= size else { return nil }

        let body = UnsafeRawBufferPointer(rebasing: bytes[FleetLimits.headerBytes..<size])
        guard known else { return (.unknown(kind: kind, flags: flags, body: Array(body)), size) }
        var r = FleetBodyReader(body, frame: FleetFrameKind(kind))
        return (try Self.decodeBody(&r), size)
    }

    /// The size of the frame at the start of `bytes` for a `PacketAssembler`. A header that
    /// `decode` would refuse (reserved flags, over the limit, unknown kind without IGNORABLE) is
    /// `.invalid` from its 7 bytes alone, so the decoder raises the precise error before the body
    /// arrives.
    public func frameSize(_ bytes: UnsafeRawBufferPointer) -> PacketAssembler.Size {
        guard bytes.count >= FleetLimits.headerBytes else { return .needMore }
        guard let header = try? checkedHeader(bytes) else { return .invalid }
        return .complete(header.size)
    }

    /// The 7-byte header at the start of `bytes` (at least that long), with everything the header
    /// alone can refuse: reserved flags, a frame over `maximumFrameSize`, an unknown kind without
    /// IGNORABLE. `size` includes the header.
    private func checkedHeader(_ bytes: UnsafeRawBufferPointer) throws(FleetFrameError) -> (kind: UInt16, flags: UInt8, size: Int) {
        let kind = UInt16(bytes[0]) << 8 | UInt16(bytes[1])
        let flags = bytes[2]
        var length = 0
        for i in 3..<7 { length = length << 8 | Int(bytes[i]) }
        guard flags & FleetFrameFlags.reserved == 0 else { throw .reservedFlags(kind: kind, flags: flags) }
        let size = FleetLimits.headerBytes + length
        guard size <= maximumFrameSize else { throw .frameTooLarge(size: size, limit: maximumFrameSize) }
        guard FleetFrameKind(kind).isKnown || flags & FleetFrameFlags.ignorable != 0 else { throw .unknownKind(kind) }
        return (kind, flags, size)
    }

    public func decode(_ bytes: [UInt8]) throws(FleetFrameError) -> (frame: FleetFrame, consumed: Int)? {
        let result = bytes.withUnsafeBytes { buffer in
            Result { () throws(FleetFrameError) in try decode(buffer) }
        }
        return try result.get()
    }

    /// IGNORABLE and BULK on a known kind change nothing for the receiver (§3.2).
    private static func decodeBody(_ r: inout FleetBodyReader) throws(FleetFrameError) -> FleetFrame {
        switch r.frame {
        case .hello: .hello(try .decode(&r))
        case .helloAck: .helloAck(try .decode(&r))
        case .error: .error(try .decode(&r))
        case .heartbeat: .heartbeat(try .decode(&r))
        case .loadReport: .loadReport(try .decode(&r))
        case .interestSnapshot: .interestSnapshot(try .decode(&r))
        case .interestDelta: .interestDelta(try .decode(&r))
        case .remoteInterest: .remoteInterest(try .decode(&r))
        case .durableInterest: .durableInterest(try .decode(&r))
        case .forward: .forward(try .decode(&r))
        case .deliveryAck: .deliveryAck(try .decode(&r))
        case .replay: .replay(try .decode(&r))
        case .migrate: .migrate(try .decode(&r))
        case .sessionTransfer: .sessionTransfer(try .decode(&r))
        case .migrationStep: .migrationStep(try .decode(&r))
        case .handoff: .handoff(try .decode(&r))
        case .drain: .drain(try .decode(&r))
        case .sessionList: .sessionList(try .decode(&r))
        case .availabilityQuery: .availabilityQuery(try .decode(&r))
        case .availability: .availability(try .decode(&r))
        case .maintenanceRun: .maintenanceRun(try .decode(&r))
        case .maintenanceResult: .maintenanceResult(try .decode(&r))
        case .mappings: .mappings(try .decode(&r))
        case .socketReport: .socketReport(try .decode(&r))
        case .peerReport: .peerReport(try .decode(&r))
        case .socketClose: .socketClose(try .decode(&r))
        case .peerAsk: .peerAsk(try .decode(&r))
        case .peerMatch: .peerMatch(try .decode(&r))
        case .peerGone: .peerGone(try .decode(&r))
        default: preconditionFailure("decodeBody called for unknown \(r.frame)")
        }
    }
}
