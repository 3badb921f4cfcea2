// Socket peering frames: PEER_REPORT and SOCKET_CLOSE (Protocol/agent-coordinator.md §5.27-§5.28, issue #15).
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

// Across gateways (Protocol/agent-coordinator.md §5.29-§5.31): the coordinator matches what agents could not
// match locally and hands both a per-link secret; the bytes then go on a direct agent-to-agent
// connection (the dialer opens the acceptor's socket listener with a `PEER` line), never through
// the coordinator.
extension FleetFrame {
    /// PEER_ASK (0x0305), agent -> coordinator: a socket that waits for a peer not on this
    /// gateway, or that asked for its id (`id=<name>`) so that others may name it.
    public struct PeerAsk: Hashable, Sendable {
        public var socketId: String
        /// The peer its function named; empty: none (linkable by id only).
        public var peer: String
        /// Where another agent reaches this one's socket listener ("host:port"); empty: it cannot
        /// accept a peer connection (it can still dial).
        public var address: String
        public init(socketId: String, peer: String, address: String) { self.socketId = socketId; self.peer = peer; self.address = address }
    }

    /// PEER_MATCH (0x0306), coordinator -> agent: this socket's peer is on another gateway.
    public struct PeerMatch: Hashable, Sendable {
        public enum Role: UInt8, Sendable, CaseIterable {
            /// Connect to `address` and send `PEER <peer socket id> <secret hex>`.
            case dial = 1
            /// Expect that connection for this socket, with this secret.
            case accept = 2
        }
        public var socketId: String
        public var peerSocketId: String
        public var peerGateway: String
        public var role: Role
        /// dial: the acceptor's socket listener; accept: empty.
        public var address: String
        /// 16 random bytes, the same in both frames of a match.
        public var secret: [UInt8]
        public init(socketId: String, peerSocketId: String, peerGateway: String, role: Role, address: String, secret: [UInt8]) {
            self.socketId = socketId; self.peerSocketId = peerSocketId; self.peerGateway = peerGateway; self.role = role
            self.address = address; self.secret = secret
        }
    }

    /// PEER_GONE (0x0307), agent -> coordinator: a socket it asked for is no longer waiting
    /// (closed, timed out, or linked on its own gateway).
    public struct PeerGone: Hashable, Sendable {
        public var socketId: String
        public init(socketId: String) { self.socketId = socketId }
    }
}

extension FleetFrame.PeerAsk {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.string("socket id", 1...FleetLimits.maxSocketIdBytes)
        let peer = try r.string("peer", 0...FleetLimits.maxSocketIdBytes)
        let address = try r.string("address", 0...FleetLimits.maxAddressBytes)
        try r.expectEnd()
        return Self(socketId: id, peer: peer, address: address)
    }

    func encode(into w: inout ByteWriter) {
        w.writeString(socketId, limit: FleetLimits.maxSocketIdBytes)
        w.writeString(peer, limit: FleetLimits.maxSocketIdBytes)
        w.writeString(address, limit: FleetLimits.maxAddressBytes)
    }
}

extension FleetFrame.PeerMatch {
    public static let secretBytes = 16

    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.string("socket id", 1...FleetLimits.maxSocketIdBytes)
        let peer = try r.string("peer socket id", 1...FleetLimits.maxSocketIdBytes)
        let gateway = try r.string("peer gateway", 1...FleetLimits.maxIdentifierBytes)
        guard let role = Role(rawValue: try r.u8("role")) else { throw .malformed("PEER_MATCH: unknown role") }
        let address = try r.string("address", 0...FleetLimits.maxAddressBytes)
        if role == .dial && address.isEmpty { throw .malformed("PEER_MATCH: a dialer needs an address") }
        let secret = try r.binary("secret", limit: secretBytes)
        guard secret.count == secretBytes else { throw .malformed("PEER_MATCH: the secret is \(secretBytes) bytes") }
        try r.expectEnd()
        return Self(socketId: id, peerSocketId: peer, peerGateway: gateway, role: role, address: address, secret: secret)
    }

    func encode(into w: inout ByteWriter) {
        w.writeString(socketId, limit: FleetLimits.maxSocketIdBytes)
        w.writeString(peerSocketId, limit: FleetLimits.maxSocketIdBytes)
        w.writeString(peerGateway, limit: FleetLimits.maxIdentifierBytes)
        w.writeU8(role.rawValue)
        w.writeString(address, limit: FleetLimits.maxAddressBytes)
        precondition(secret.count == Self.secretBytes, "a peer secret is 16 bytes")
        w.writeBinary(secret)
    }
}

extension FleetFrame.PeerGone {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.string("socket id", 1...FleetLimits.maxSocketIdBytes)
        try r.expectEnd()
        return Self(socketId: id)
    }

    func encode(into w: inout ByteWriter) { w.writeString(socketId, limit: FleetLimits.maxSocketIdBytes) }
}
