// Socket peering frames: PEER_REPORT and SOCKET_CLOSE (docs/PROTOCOL.md §5.27-§5.28, issue #15).
// Agents report each socket's link for `GET /v1/sockets`; the coordinator closes a socket (and so
// its peer) for `DELETE /v1/sockets/{id}`.

extension FleetFrame {
    /// PEER_REPORT (0x0303), agent -> coordinator: the links of the sockets this gateway holds,
    /// in parts like SOCKET_REPORT, sent right after it.
    public struct PeerReport: Hashable, Sendable {
        public enum LinkState: UInt8, Sendable, CaseIterable {
            case waiting = 1
            case linked = 2
            case closing = 3
        }
        public struct Link: Hashable, Sendable {
            public var socketId: String
            /// Empty while waiting.
            public var peerSocketId: String
            /// The gateway holding the peer; empty while waiting.
            public var peerGateway: String
            /// The name waited for (a socket id or rendezvous name); empty once linked.
            public var waitingFor: String
            public var state: LinkState
            public var bytesToPeer: UInt64
            public var bytesFromPeer: UInt64
            public init(socketId: String, peerSocketId: String, peerGateway: String, waitingFor: String, state: LinkState,
                        bytesToPeer: UInt64, bytesFromPeer: UInt64) {
                self.socketId = socketId; self.peerSocketId = peerSocketId; self.peerGateway = peerGateway
                self.waitingFor = waitingFor; self.state = state; self.bytesToPeer = bytesToPeer; self.bytesFromPeer = bytesFromPeer
            }
        }
        public var isFirst: Bool
        public var isLast: Bool
        public var links: [Link]
        public init(isFirst: Bool, isLast: Bool, links: [Link]) { self.isFirst = isFirst; self.isLast = isLast; self.links = links }
    }

    /// SOCKET_CLOSE (0x0304), coordinator -> agent: close this socket now (and so its peer, which
    /// hears an EOF). Unknown ids are ignored.
    public struct SocketClose: Hashable, Sendable {
        public var socketId: String
        /// For the agent's log.
        public var reason: String
        public init(socketId: String, reason: String) { self.socketId = socketId; self.reason = reason }
    }
}

extension FleetFrame.PeerReport {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let flags = try r.u8("flags")
        guard flags & ~3 == 0 else { throw .malformed("PEER_REPORT: reserved flags 0x\(String(flags, radix: 16))") }
        // Each link: 4 strings (>= 2 bytes each; the socket id >= 3) + state + 2 x u64.
        let n = try r.count("links", limit: FleetLimits.maxSocketsPerReport, minimumElementBytes: 26)
        var links: [Link] = []
        links.reserveCapacity(n)
        for _ in 0..<n {
            let id = try r.string("socket id", 1...FleetLimits.maxSocketIdBytes)
            let peer = try r.string("peer socket id", 0...FleetLimits.maxSocketIdBytes)
            let gateway = try r.string("peer gateway", 0...FleetLimits.maxIdentifierBytes)
            let waiting = try r.string("waiting for", 0...FleetLimits.maxSocketIdBytes)
            guard let state = LinkState(rawValue: try r.u8("state")) else { throw .malformed("PEER_REPORT: unknown link state") }
            let to = try r.u64("bytes to peer"), from = try r.u64("bytes from peer")
            links.append(Link(socketId: id, peerSocketId: peer, peerGateway: gateway, waitingFor: waiting, state: state,
                              bytesToPeer: to, bytesFromPeer: from))
        }
        try r.expectEnd()
        return Self(isFirst: flags & 1 != 0, isLast: flags & 2 != 0, links: links)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU8((isFirst ? 1 : 0) | (isLast ? 2 : 0))
        w.writeCount(links.count, limit: FleetLimits.maxSocketsPerReport)
        for l in links {
            w.writeString(l.socketId, limit: FleetLimits.maxSocketIdBytes)
            w.writeString(l.peerSocketId, limit: FleetLimits.maxSocketIdBytes)
            w.writeString(l.peerGateway, limit: FleetLimits.maxIdentifierBytes)
            w.writeString(l.waitingFor, limit: FleetLimits.maxSocketIdBytes)
            w.writeU8(l.state.rawValue)
            w.writeU64(l.bytesToPeer)
            w.writeU64(l.bytesFromPeer)
        }
    }
}

extension FleetFrame.SocketClose {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.string("socket id", 1...FleetLimits.maxSocketIdBytes)
        let reason = try r.string("reason", 0...FleetLimits.maxSocketCloseReasonBytes)
        try r.expectEnd()
        return Self(socketId: id, reason: reason)
    }

    func encode(into w: inout ByteWriter) {
        w.writeString(socketId, limit: FleetLimits.maxSocketIdBytes)
        w.writeString(reason, limit: FleetLimits.maxSocketCloseReasonBytes)
    }
}
