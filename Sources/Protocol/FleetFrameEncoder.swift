/// Encodes frames. It trusts its input: values the peer would reject (a list or string over its
/// `FleetLimits` bound, a body over 4 GiB) trap; per-connection MQTT properties on a FORWARD
/// (topic alias, subscription identifiers, connection-level ones) are left out. It does not check
/// the peer's maximum frame size: the writer does (Protocol/agent-coordinator.md §8).
public enum FleetFrameEncoder {
    /// Appends the encoded frame: header with the kind's canonical flags (BULK on FORWARD, nothing
    /// else), then the body. `.unknown` is written back with its own kind, flags and body.
    public static func encode(_ frame: FleetFrame, into out: inout [UInt8]) {
        var w = ByteWriter()
        swap(&w.bytes, &out)
        defer { swap(&w.bytes, &out) }
        let flags: UInt8
        if case .unknown(_, let f, _) = frame { flags = f } else {
            flags = (frame.kind.isBulk ? FleetFrameFlags.bulk : 0) | (frame.kind.isSentIgnorable ? FleetFrameFlags.ignorable : 0)
        }
        let start = w.count
        w.writeU16(frame.kind.rawValue)
        w.writeU8(flags)
        w.writeU32(0)  // body length, patched below
        switch frame {
        case .hello(let f): f.encode(into: &w)
        case .helloAck(let f): f.encode(into: &w)
        case .error(let f): f.encode(into: &w)
        case .heartbeat(let f): f.encode(into: &w)
        case .loadReport(let f): f.encode(into: &w)
        case .interestSnapshot(let f): f.encode(into: &w)
        case .interestDelta(let f): f.encode(into: &w)
        case .remoteInterest(let f), .durableInterest(let f): f.encode(into: &w)
        case .forward(let f): f.encode(into: &w)
        case .deliveryAck(let f): f.encode(into: &w)
        case .replay(let f): f.encode(into: &w)
        case .migrate(let f): f.encode(into: &w)
        case .sessionTransfer(let f): f.encode(into: &w)
        case .migrationStep(let f): f.encode(into: &w)
        case .handoff(let f): f.encode(into: &w)
        case .drain(let f): f.encode(into: &w)
        case .sessionList(let f): f.encode(into: &w)
        case .availabilityQuery(let f): f.encode(into: &w)
        case .availability(let f): f.encode(into: &w)
        case .maintenanceRun(let f): f.encode(into: &w)
        case .maintenanceResult(let f): f.encode(into: &w)
        case .mappings(let f): f.encode(into: &w)
        case .socketReport(let f): f.encode(into: &w)
        case .peerReport(let f): f.encode(into: &w)
        case .socketClose(let f): f.encode(into: &w)
        case .peerAsk(let f): f.encode(into: &w)
        case .peerMatch(let f): f.encode(into: &w)
        case .peerGone(let f): f.encode(into: &w)
        case .unknown(_, _, let body): w.writeBytes(body)
        }
        let length = w.count - start - FleetLimits.headerBytes
        precondition(length <= FleetLimits.maximumEncodableBodySize, "frame body of \(length) bytes too large")
        for i in 0..<4 { w.bytes[start + 3 + i] = UInt8(truncatingIfNeeded: length >> (24 - 8 * i)) }
    }

    public static func encode(_ frame: FleetFrame) -> [UInt8] {
        var out: [UInt8] = []
        encode(frame, into: &out)
        return out
    }
}
