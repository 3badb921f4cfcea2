import FleetProtocol

// The socket service on the link (Protocol/agent-coordinator.md §5.25-§5.26, issue #14): the coordinator's
// mappings in, the sockets and each mapping's calls out with every load report. Loop-thread only.
extension CoordinatorLink {
    func attachSockets(_ service: SocketService) {
        sockets = service
        service.peering.link = self
    }

    /// Cross-gateway peering (issue #15): dial or expect the peer's agent.
    func receivedPeerMatch(_ match: FleetFrame.PeerMatch) {
        sockets?.peering.matched(match)
    }

    func receivedMappings(_ frame: FleetFrame.Mappings) {
        guard let sockets else { return }  // no socket service here: nothing uses them
        sockets.applyPushed(frame, replacingSoFar: &mappingsInProgress)
    }

    /// With every load report, so a closed socket leaves `GET /v1/sockets` within one interval.
    func sendSocketReport(on c: CoordinatorConnection) {
        guard let sockets else { return }
        for part in sockets.report() { c.sendControl(.socketReport(part)) }
        for part in sockets.peerReport() { c.sendControl(.peerReport(part)) }
    }

    /// `DELETE /v1/sockets/{id}` at the coordinator (issue #15): the socket and so its peer close.
    func receivedSocketClose(_ frame: FleetFrame.SocketClose) {
        sockets?.closeSocket(id: frame.socketId, reason: frame.reason)
    }
}
