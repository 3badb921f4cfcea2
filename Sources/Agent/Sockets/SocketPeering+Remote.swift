import FleetCore
import FleetProtocol
import FleetRuntime

/// Cross-gateway peering on the agent (issue #15; Protocol/agent-coordinator.md §5.29-§5.31): a socket whose
/// peer is not on this gateway is asked for at the coordinator (PEER_ASK) with the address of this
/// agent's socket listener; on a match (PEER_MATCH) one agent dials the other's listener and sends
/// `PEER <socket-id> <secret>`, the other checks it against what it was told to expect, and both
/// link their socket with the connection (RemotePeer). Loop-thread only.
extension SocketPeering {
    /// How long an acceptor waits for the dialer's connection after PEER_MATCH.
    static let acceptTimeoutMs: UInt64 = 10_000
    /// How long a dialer's connection that came before its PEER_MATCH is held for it (within the
    /// listener's 10 s handshake timeout).
    static let parkTimeoutMs: UInt64 = 5_000

    /// Where other agents reach this one's plain socket listener: the advertised host with the
    /// listener's port; empty without a plain listener or a link.
    var peerAddress: String {
        guard let link, let port = service.servers.first?.localAddress.split(separator: ":").last,
              case .success(let advertised) = ListenAddress.parse(link.advertised) else { return "" }
        let host = advertised.host.contains(":") ? "[\(advertised.host)]" : advertised.host
        return "\(host):\(port)"
    }

    func askRemote(_ socket: ManagedSocket, peer: String?) {
        guard let link, let id = socket.socketId else { return }
        // Noted even while the link is down: linkEstablished asks again after HELLO.
        askedRemotely.insert(id)
        guard link.isEstablished, let c = link.connection else { return }
        c.sendControl(.peerAsk(.init(socketId: id, peer: String((peer ?? "").utf8.prefix(FleetLimits.maxSocketIdBytes)) ?? "",
                                     address: peerAddress)))
    }

    /// The socket no longer waits (closed, timed out, linked here): the coordinator forgets it.
    func forgetRemote(_ id: String?) {
        guard let id, askedRemotely.remove(id) != nil else { return }
        if let link, link.isEstablished, let c = link.connection { c.sendControl(.peerGone(.init(socketId: id))) }
    }

    /// After HELLO: the sockets still waiting are asked for again (the coordinator that restarted
    /// or that saw this gateway go knows none of them).
    func linkEstablished() {
        let waiting = askedRemotely
        askedRemotely = []
        for id in waiting {
            guard let socket = byId[id], socket.phase == .open else { continue }
            askRemote(socket, peer: socket.peerSide?.waitingFor)
        }
    }

    func matched(_ m: FleetFrame.PeerMatch) {
        askedRemotely.remove(m.socketId)
        guard let socket = byId[m.socketId], socket.phase == .open, socket.peerSide?.peer == nil,
              socket.peerSide.map({ if case .waiting = $0.link.state { true } else { false } }) ?? true else {
            return service.log.info("peer match for \(m.socketId), which no longer waits: ignored")
        }
        directory.remove(ObjectIdentifier(socket))
        let connect = SocketPeerConnect(socketId: m.role == .accept ? m.socketId : m.peerSocketId, secret: m.secret)
        switch m.role {
        case .accept:
            let timer = LoopTimer(loop: service.loop)
            expected[m.socketId] = ExpectedPeer(connect: connect, peerSocketId: m.peerSocketId, peerGateway: m.peerGateway, timer: timer)
            timer.start(afterMilliseconds: Self.acceptTimeoutMs) { [weak self, weak socket] in
                guard let self, let e = self.expected.removeValue(forKey: m.socketId) else { return }
                e.timer.close()
                socket?.close(reason: "the peer's gateway did not connect")
            }
            if let p = parked.removeValue(forKey: m.socketId) {
                p.timer.close()
                p.done(link(p.connect, stream: p.stream))
            }
        case .dial:
            dial(m, connect: connect, for: socket)
        }
    }

    private func dial(_ m: FleetFrame.PeerMatch, connect: SocketPeerConnect, for socket: ManagedSocket) {
        guard case .success(let address) = ListenAddress.parse(m.address), address.port > 0 else {
            return socket.close(reason: "the peer's gateway address '\(m.address)' is not host:port")
        }
        let loop = service.loop
        loop.resolve(host: address.host) { [weak self, weak socket] result in
            guard let self, let socket, socket.phase == .open else { return }
            guard case .success(let hosts) = result, let host = hosts.first else {
                return socket.close(reason: "cannot resolve the peer's gateway \(address.host)")
            }
            do {
                try TCPStream.connect(loop: loop, host: host, port: address.port) { [weak self, weak socket] result in
                    guard let self else { return }
                    switch result {
                    case .failure(let error):
                        socket?.close(reason: "cannot reach the peer's gateway at \(m.address): \(error)")
                    case .success(let stream):
                        guard let socket, socket.phase == .open else { return stream.close() }
                        let remote = RemotePeer(stream: stream, peerSocketId: m.peerSocketId, peerGateway: m.peerGateway, service: self.service)
                        stream.handler = remote
                        stream.write(connect.line)
                        ManagedSocket.link(socket, remote)
                        stream.startReading()
                    }
                }
            } catch {
                socket.close(reason: "cannot reach the peer's gateway at \(m.address): \(error)")
            }
        }
    }

    /// A `PEER` line on the socket listener: the link's other half. `done` gets the RemotePeer
    /// now handling `stream`, or nil to refuse: at once when this agent expects it (or cannot),
    /// else when its PEER_MATCH comes (at most `parkTimeoutMs` later).
    func accept(_ connect: SocketPeerConnect, stream: any ByteStream, _ done: @escaping (RemotePeer?) -> Void) {
        if expected[connect.socketId] != nil { return done(link(connect, stream: stream)) }
        guard byId[connect.socketId] != nil, parked[connect.socketId] == nil else { return done(nil) }
        let timer = LoopTimer(loop: service.loop)
        parked[connect.socketId] = ParkedPeer(connect: connect, stream: stream, done: done, timer: timer)
        timer.start(afterMilliseconds: Self.parkTimeoutMs) { [weak self] in
            guard let self, let p = self.parked.removeValue(forKey: connect.socketId) else { return }
            p.timer.close()
            p.done(nil)
        }
    }

    private func link(_ connect: SocketPeerConnect, stream: any ByteStream) -> RemotePeer? {
        guard !stream.isClosed, let e = expected[connect.socketId], e.connect.matches(connect.secret),
              let socket = byId[connect.socketId], socket.phase == .open else { return nil }
        expected[connect.socketId] = nil
        e.timer.close()
        let remote = RemotePeer(stream: stream, peerSocketId: e.peerSocketId, peerGateway: e.peerGateway, service: service)
        stream.handler = remote
        ManagedSocket.link(socket, remote)
        return remote
    }
}
