// Managed-socket frames: MAPPINGS and SOCKET_REPORT (Protocol/agent-coordinator.md §5.25-§5.26, issue #14).
// The coordinator holds the function mappings and pushes them to every agent; agents report the
// sockets they hold and each mapping's calls for `GET /v1/sockets` and the metrics.

extension FleetFrame {
    /// MAPPINGS (0x0301), coordinator -> agent: mapping documents (canonical JSON, validated by
    /// both sides with the same rules); an empty document deletes the mapping.
    public struct Mappings: Hashable, Sendable {
        public struct Entry: Hashable, Sendable {
            public var name: String
            /// The mapping as JSON; empty: deleted (never in a replacing set).
            public var document: String
            public init(name: String, document: String) { self.name = name; self.document = document }
        }
        /// The first part of a complete set: the agent's pushed mappings become this part's
        /// entries and those of the parts that follow, up to the one with `isLast`.
        public var replaces: Bool
        /// The last part of a complete set (only meaningful with a set that replaces).
        public var isLast: Bool
        public var entries: [Entry]
        public init(replaces: Bool, isLast: Bool, entries: [Entry]) { self.replaces = replaces; self.isLast = isLast; self.entries = entries }
    }

    /// SOCKET_REPORT (0x0302), agent -> coordinator: the sockets this gateway holds now and each
    /// mapping's calls since it started, in parts.
    public struct SocketReport: Hashable, Sendable {
        public enum SocketState: UInt8, Sendable, CaseIterable {
            case open = 1
            /// Closing after what is queued (an endpoint asked, an error, the device's EOF).
            case closing = 2
        }
        public struct Socket: Hashable, Sendable {
            public var socketId: String
            public var mapping: String
            public var clientId: String
            /// The name the device authenticated as (user name or certificate identity); empty when anonymous.
            public var identity: String
            public var openedMs: UInt64
            public var bytesIn: UInt64
            public var bytesOut: UInt64
            public var calls: UInt64
            public var errors: UInt64
            public var state: SocketState
            public init(socketId: String, mapping: String, clientId: String, identity: String, openedMs: UInt64, bytesIn: UInt64,
                        bytesOut: UInt64, calls: UInt64, errors: UInt64, state: SocketState) {
                self.socketId = socketId; self.mapping = mapping; self.clientId = clientId; self.identity = identity
                self.openedMs = openedMs; self.bytesIn = bytesIn; self.bytesOut = bytesOut; self.calls = calls
                self.errors = errors; self.state = state
            }
        }
        /// One mapping's endpoint calls since the agent started: a latency histogram over
        /// `FleetLimits.callLatencyBoundsMs` (+Inf last), the errors, and the sum of latencies.
        public struct MappingCalls: Hashable, Sendable {
            public var mapping: String
            public var errors: UInt64
            public var latencySumMs: UInt64
            /// Cumulative counts per bound, +Inf last (so the last is the number of calls).
            public var buckets: [UInt64]
            public init(mapping: String, errors: UInt64, latencySumMs: UInt64, buckets: [UInt64]) {
                self.mapping = mapping; self.errors = errors; self.latencySumMs = latencySumMs; self.buckets = buckets
            }
        }
        /// A new report starts here (the previous one is dropped).
        public var isFirst: Bool
        public var isLast: Bool
        public var sockets: [Socket]
        public var mappings: [MappingCalls]
        public init(isFirst: Bool, isLast: Bool, sockets: [Socket], mappings: [MappingCalls] = []) {
            self.isFirst = isFirst; self.isLast = isLast; self.sockets = sockets; self.mappings = mappings
        }
    }
}

extension FleetFrame.Mappings {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let flags = try r.u8("flags")
        guard flags & ~3 == 0 else { throw .malformed("MAPPINGS: reserved flags 0x\(String(flags, radix: 16))") }
        let n = try r.count("entries", limit: FleetLimits.maxMappingsPerFrame, minimumElementBytes: 5)
        var entries: [Entry] = []
        entries.reserveCapacity(n)
        for _ in 0..<n {
            let name = try r.string("mapping name", 1...FleetLimits.maxIdentifierBytes)
            let document = try r.string("mapping document", 0...FleetLimits.maxMappingDocumentBytes)
            if flags & 1 != 0 && document.isEmpty { throw .malformed("MAPPINGS: a deletion in a replacing set") }
            entries.append(Entry(name: name, document: document))
        }
        try r.expectEnd()
        return Self(replaces: flags & 1 != 0, isLast: flags & 2 != 0, entries: entries)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU8((replaces ? 1 : 0) | (isLast ? 2 : 0))
        w.writeCount(entries.count, limit: FleetLimits.maxMappingsPerFrame)
        for e in entries {
            w.writeString(e.name, limit: FleetLimits.maxIdentifierBytes)
            w.writeString(e.document, limit: FleetLimits.maxMappingDocumentBytes)
        }
    }

    /// A complete set in parts that each fit a frame: the first replaces, the last says so.
    public static func replacingSet(_ entries: [Entry]) -> [Self] {
        var parts: [Self] = []
        var current: [Entry] = []
        var bytes = 0
        for e in entries {
            let size = 4 + e.name.utf8.count + e.document.utf8.count
            if !current.isEmpty && (current.count == FleetLimits.maxMappingsPerFrame || bytes + size > FleetLimits.snapshotPartBytes) {
                parts.append(Self(replaces: parts.isEmpty, isLast: false, entries: current))
                current = []
                bytes = 0
            }
            current.append(e)
            bytes += size
        }
        parts.append(Self(replaces: parts.isEmpty, isLast: true, entries: current))
        return parts
    }
}

extension FleetFrame.SocketReport {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let flags = try r.u8("flags")
        guard flags & ~3 == 0 else { throw .malformed("SOCKET_REPORT: reserved flags 0x\(String(flags, radix: 16))") }
        // Each socket: 4 strings (>= 2 bytes each; id and mapping >= 3) + 5 x u64 + state.
        let n = try r.count("sockets", limit: FleetLimits.maxSocketsPerReport, minimumElementBytes: 51)
        var sockets: [Socket] = []
        sockets.reserveCapacity(n)
        for _ in 0..<n {
            let id = try r.string("socket id", 1...FleetLimits.maxSocketIdBytes)
            let mapping = try r.string("mapping", 1...FleetLimits.maxIdentifierBytes)
            let client = try r.string("client id", 0...FleetLimits.maxSocketClientIdBytes)
            let identity = try r.string("identity", 0...FleetLimits.maxSocketClientIdBytes)
            let opened = try r.u64("opened")
            let bytesIn = try r.u64("bytes in"), bytesOut = try r.u64("bytes out")
            let calls = try r.u64("calls"), errors = try r.u64("errors")
            guard let state = SocketState(rawValue: try r.u8("state")) else { throw .malformed("SOCKET_REPORT: unknown socket state") }
            sockets.append(Socket(socketId: id, mapping: mapping, clientId: client, identity: identity, openedMs: opened, bytesIn: bytesIn,
                                  bytesOut: bytesOut, calls: calls, errors: errors, state: state))
        }
        let bucketCount = FleetLimits.callLatencyBoundsMs.count + 1
        let m = try r.count("mappings", limit: FleetLimits.maxMappingsPerFrame, minimumElementBytes: 3 + 16 + 8 * bucketCount)
        var mappings: [MappingCalls] = []
        for _ in 0..<m {
            let name = try r.string("mapping", 1...FleetLimits.maxIdentifierBytes)
            let errors = try r.u64("errors"), sum = try r.u64("latency sum")
            var buckets: [UInt64] = []
            for _ in 0..<bucketCount { buckets.append(try r.u64("latency bucket")) }
            mappings.append(MappingCalls(mapping: name, errors: errors, latencySumMs: sum, buckets: buckets))
        }
        try r.expectEnd()
        return Self(isFirst: flags & 1 != 0, isLast: flags & 2 != 0, sockets: sockets, mappings: mappings)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU8((isFirst ? 1 : 0) | (isLast ? 2 : 0))
        w.writeCount(sockets.count, limit: FleetLimits.maxSocketsPerReport)
        for s in sockets {
            w.writeString(s.socketId, limit: FleetLimits.maxSocketIdBytes)
            w.writeString(s.mapping, limit: FleetLimits.maxIdentifierBytes)
            w.writeString(s.clientId, limit: FleetLimits.maxSocketClientIdBytes)
            w.writeString(s.identity, limit: FleetLimits.maxSocketClientIdBytes)
            w.writeU64(s.openedMs)
            w.writeU64(s.bytesIn)
            w.writeU64(s.bytesOut)
            w.writeU64(s.calls)
            w.writeU64(s.errors)
            w.writeU8(s.state.rawValue)
        }
        w.writeCount(mappings.count, limit: FleetLimits.maxMappingsPerFrame)
        for m in mappings {
            w.writeString(m.mapping, limit: FleetLimits.maxIdentifierBytes)
            w.writeU64(m.errors)
            w.writeU64(m.latencySumMs)
            precondition(m.buckets.count == FleetLimits.callLatencyBoundsMs.count + 1, "latency buckets")
            for b in m.buckets { w.writeU64(b) }
        }
    }
}
