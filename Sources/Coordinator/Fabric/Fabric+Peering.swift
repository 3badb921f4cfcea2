import FleetCore
import FleetProtocol
import FleetRuntime

/// A socket fleet-wide: socket ids are unique per gateway at least (and fleet-wide by design).
struct SocketKey: Hashable {
    var gateway: String
    var socketId: String
}

/// Socket peering at the coordinator (issue #15): the agents' PEER_REPORTs for `GET /v1/sockets`,
/// and SOCKET_CLOSE for `DELETE /v1/sockets/{id}`. Loop-thread only.
extension Fabric {
    func peerReport(_ r: FleetFrame.PeerReport, from id: String) {
        var current: FleetFrame.PeerReport
        if r.isFirst {
            current = r
        } else {
            guard let partial = sockets.partialPeerReports[id] else { return }  // a part without its first
            current = partial
            current.links += r.links
        }
        guard r.isLast else {
            sockets.partialPeerReports[id] = current
            return
        }
        sockets.partialPeerReports[id] = nil
        sockets.peerReports[id] = current
    }

    func peerLinksBySocket() -> [SocketKey: FleetFrame.PeerReport.Link] {
        var out: [SocketKey: FleetFrame.PeerReport.Link] = [:]
        for (gateway, report) in sockets.peerReports {
            for l in report.links { out[SocketKey(gateway: gateway, socketId: l.socketId)] = l }
        }
        return out
    }

    static func peerView(_ l: FleetFrame.PeerReport.Link) -> SocketsView.Peer {
        let state = switch l.state {
        case .waiting: "waiting"
        case .linked: "linked"
        case .closing: "closing"
        }
        return .init(state: state, socket_id: l.peerSocketId.isEmpty ? nil : l.peerSocketId, gateway: l.peerGateway.isEmpty ? nil : l.peerGateway,
                     waiting_for: l.waitingFor.isEmpty ? nil : l.waitingFor, bytes_to_peer: l.bytesToPeer, bytes_from_peer: l.bytesFromPeer)
    }

    /// Each link once: from the end whose (gateway, id) sorts first; the other end's figures when
    /// it reported too (bytes each way are counted where they were read).
    func linkViews(_ links: [SocketKey: FleetFrame.PeerReport.Link]) -> [SocketsView.Link] {
        var out: [SocketsView.Link] = []
        for (key, l) in links where !l.peerSocketId.isEmpty {
            let other = SocketKey(gateway: l.peerGateway, socketId: l.peerSocketId)
            if let back = links[other], (other.gateway, other.socketId) < (key.gateway, key.socketId), !back.peerSocketId.isEmpty { continue }
            let back = links[other]
            let closing = l.state == .closing || back?.state == .closing
            out.append(.init(a: .init(socket_id: key.socketId, gateway: key.gateway), b: .init(socket_id: other.socketId, gateway: other.gateway),
                             state: closing ? "closing" : "linked", bytes_a_to_b: l.bytesToPeer, bytes_b_to_a: back?.bytesToPeer ?? l.bytesFromPeer))
        }
        return out.sorted { ($0.a.gateway, $0.a.socket_id) < ($1.a.gateway, $1.a.socket_id) }
    }

    /// `DELETE /v1/sockets/{id}`: the gateway holding the socket closes it (and its peer hears EOF).
    /// false: no gateway reported such a socket.
    func closeSocket(_ socketId: String) -> Bool {
        var sent = false
        for (gateway, report) in sockets.reports where report.sockets.contains(where: { $0.socketId == socketId }) {
            guard let c = gatewayConnections[gateway] else { continue }
            c.send(.socketClose(.init(socketId: socketId, reason: "closed through the admin API")))
            sent = true
        }
        if sent { log.notice("socket \(socketId): closed through the admin API") }
        return sent
    }
}

/// Cross-gateway matching (PEER_ASK / PEER_MATCH / PEER_GONE, Protocol/agent-coordinator.md §5.29-§5.31). The
/// coordinator runs the agents' own rule (PeerDirectory) over (gateway, socket id) for what the
/// agents could not match locally, and on a match hands both a fresh secret: the waiting one
/// accepts, the newcomer dials the acceptor's socket listener. It keeps nothing about a link after
/// that: the bytes go between the two agents directly, and a coordinator failure leaves links up.
extension Fabric {
    func peerAsk(_ a: FleetFrame.PeerAsk, from gateway: String) {
        let key = SocketKey(gateway: gateway, socketId: a.socketId)
        let outcome = sockets.peerDirectory.ask(token: key, id: a.socketId, peer: a.peer.isEmpty ? nil : a.peer)
        guard case .linked(let other) = outcome else {
            sockets.peerAddresses[key] = a.address
            sockets.peerAsked[gateway, default: []].insert(a.socketId)
            return
        }
        forgetPeerAsk(other)
        // The one that waited accepts (it gave its address when it asked); if it cannot, the
        // newcomer accepts and the waiter dials.
        let waiterAddress = sockets.peerAddresses[other] ?? ""
        let (acceptor, dialer, address) = !waiterAddress.isEmpty ? (other, key, waiterAddress) : (key, other, a.address)
        guard !address.isEmpty, let ca = gatewayConnections[acceptor.gateway], let cd = gatewayConnections[dialer.gateway] else {
            log.notice("peers \(key.socketId) and \(other.socketId) matched, but neither can accept a connection: not linked")
            return
        }
        let secret = SecureRandom.bytes(FleetFrame.PeerMatch.secretBytes)
        ca.send(.peerMatch(.init(socketId: acceptor.socketId, peerSocketId: dialer.socketId, peerGateway: dialer.gateway, role: .accept,
                                 address: "", secret: secret)))
        cd.send(.peerMatch(.init(socketId: dialer.socketId, peerSocketId: acceptor.socketId, peerGateway: acceptor.gateway, role: .dial,
                                 address: address, secret: secret)))
        log.info("peers matched: \(acceptor.gateway)/\(acceptor.socketId) accepts, \(dialer.gateway)/\(dialer.socketId) dials")
    }

    func peerGone(_ g: FleetFrame.PeerGone, from gateway: String) {
        forgetPeerAsk(SocketKey(gateway: gateway, socketId: g.socketId))
    }

    private func forgetPeerAsk(_ key: SocketKey) {
        sockets.peerDirectory.remove(key)
        sockets.peerAddresses[key] = nil
        sockets.peerAsked[key.gateway]?.remove(key.socketId)
    }

    /// A gateway that went away waits for nobody any more (its agent asks again after HELLO for
    /// sockets still waiting).
    func peersGatewayDown(_ gateway: String) {
        for id in sockets.peerAsked.removeValue(forKey: gateway) ?? [] {
            let key = SocketKey(gateway: gateway, socketId: id)
            sockets.peerDirectory.remove(key)
            sockets.peerAddresses[key] = nil
        }
    }
}
