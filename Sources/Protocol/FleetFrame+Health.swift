// HEARTBEAT and LOAD_REPORT (Protocol/agent-coordinator.md §5.4-5.5).

extension FleetFrame.Heartbeat {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let sequence = try r.u64("sequence")
        let timestamp = try r.u64("timestamp")
        try r.expectEnd()
        return Self(sequence: sequence, timestampMs: timestamp)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(sequence)
        w.writeU64(timestampMs)
    }
}

extension FleetFrame.LoadReport {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let timestamp = try r.u64("timestamp")
        let connections = try r.u32("connections")
        let msgsIn = try r.u32("messages in per second")
        let msgsOut = try r.u32("messages out per second")
        let bytesIn = try r.u64("bytes in per second")
        let bytesOut = try r.u64("bytes out per second")
        // Each entry: client id (2 + n) + messages/s (4) + bytes/s (8).
        let n = try r.count("top talkers", limit: FleetLimits.maxTopTalkers, minimumElementBytes: 14)
        var talkers: [FleetFrame.TopTalker] = []
        talkers.reserveCapacity(n)
        for _ in 0..<n {
            let client = try r.string("client id", 0...ProtocolLimits.maxStringBytes)
            let msgs = try r.u32("client messages per second")
            let bytes = try r.u64("client bytes per second")
            talkers.append(FleetFrame.TopTalker(clientId: client, messagesPerSecond: msgs, bytesPerSecond: bytes))
        }
        let relayed = r.isAtEnd ? 0 : try r.u64("relayed bytes")
        try r.expectEnd()
        return Self(timestampMs: timestamp, connections: connections, messagesInPerSecond: msgsIn,
                    messagesOutPerSecond: msgsOut, bytesInPerSecond: bytesIn, bytesOutPerSecond: bytesOut,
                    topTalkers: talkers, relayedBytes: relayed)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(timestampMs)
        w.writeU32(connections)
        w.writeU32(messagesInPerSecond)
        w.writeU32(messagesOutPerSecond)
        w.writeU64(bytesInPerSecond)
        w.writeU64(bytesOutPerSecond)
        w.writeCount(topTalkers.count, limit: FleetLimits.maxTopTalkers)
        for t in topTalkers {
            w.writeString(t.clientId)
            w.writeU32(t.messagesPerSecond)
            w.writeU64(t.bytesPerSecond)
        }
        if relayedBytes > 0 { w.writeU64(relayedBytes) }
    }
}
