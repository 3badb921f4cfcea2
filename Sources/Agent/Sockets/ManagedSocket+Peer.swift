import FleetConfig
import FleetCore
import FleetRuntime

// Socket peering (issue #15; Protocol/managed-sockets.md "Peering"): the open event's answer may
// name a peer; the two sockets are linked and bytes flow both ways unchanged, each direction
// paused while the other device's unsent bytes pass SocketLimits.maxPeerQueuedBytes, so a device
// that stops reading stalls only its peer and a link's memory stays bounded.
extension ManagedSocket {
    /// After `OK`: the directory links this socket, makes it wait for the peer its answer named,
    /// or keeps it linkable by id.
    func joinPeering(peer: String?, mapping: SocketMapping) {
        guard let socketId else { return }
        let peering = service.peering
        switch peering.directory.ask(token: ObjectIdentifier(self), id: socketId, peer: peer) {
        case .unpaired:
            // An id the device asked for may be named from another gateway.
            if SocketPeerName.isRequestable(socketId) { peering.askRemote(self, peer: nil) }
            return
        case .waiting:
            let side = PeerSide()
            side.waitingFor = peer
            side.link.wait(now: service.loop.now, waitMs: mapping.peerWaitMs)
            peerSide = side
            let timer = LoopTimer(loop: service.loop)
            side.timer = timer
            timer.start(afterMilliseconds: mapping.peerWaitMs) { [weak self] in
                guard let self, let side = self.peerSide else { return }
                self.apply(side.link.tick(now: self.service.loop.now))
            }
            service.log.info("socket \(socketId): waiting up to \(mapping.peerWaitMs) ms for peer \(peer ?? "?")")
            peering.askRemote(self, peer: peer)
        case .linked(let token):
            // The directory holds open sockets only (a closing one leaves it in peerSelfEnded).
            guard let other = service.sockets[token], other.phase == .open else {
                return service.log.error("socket \(socketId): matched a socket that is gone; not linked")
            }
            ManagedSocket.link(self, other)
        }
    }

    /// Links this socket with `b`: another socket of this agent, or a RemotePeer (the direct
    /// connection to the agent holding the peer).
    static func link(_ a: ManagedSocket, _ b: any PeerEnd) {
        let sa = a.peerSide ?? PeerSide(), sb = b.peerSide ?? PeerSide()
        a.peerSide = sa
        b.peerSide = sb
        sa.peer = b
        sb.peer = a
        for (side, other) in [(sa, b), (sb, a as any PeerEnd)] {
            side.timer?.close()
            side.timer = nil
            side.waitingFor = nil
            side.peerId = other.endId
            side.peerGateway = other.endGateway
        }
        a.service.peering.forgetRemote(a.socketId)
        if let b = b as? ManagedSocket { b.service.peering.forgetRemote(b.socketId) }
        // A side's queue emptied: the other may read again.
        a.stream.onDrained = { [weak b] in b?.peerDrained() }
        b.stream.onDrained = { [weak a] in a?.peerDrained() }
        a.service.peering.metrics.linked += 1
        a.service.log.info("sockets \(a.endId) and \(b.endGateway)/\(b.endId) linked")
        a.peerLinked()
        b.peerLinked()
    }

    /// Bytes from the device while peering: held, forwarded or dropped (closing). Returns false
    /// when this socket takes no part in a link (its bytes go to the receive criteria as before).
    func peerReceived(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard let side = peerSide else { return false }
        if side.link.state == .linked, let peer = side.peer {
            // The hot path: straight from the loop's read buffer into the peer's write queue.
            side.link.countForwarded(bytes.count)
            peer.stream.write(bytes)
            peer.peerSide?.bytesFromPeer &+= UInt64(bytes.count)
            service.peering.metrics.bytesForwarded &+= UInt64(bytes.count)
            apply(side.link.peerQueued(peer.stream.pendingWriteBytes))
            return true
        }
        apply(side.link.deviceSent(Array(bytes)))
        return true
    }

    func peerLinked() {
        guard let side = peerSide else { return }
        apply(side.link.linked())
    }

    /// The peer's stream wrote all that was queued for its device.
    func peerDrained() {
        guard let side = peerSide else { return }
        apply(side.link.peerDrained())
    }

    /// This device's stream ended, or the socket finishes for any reason: the peer hears it.
    func peerSelfEnded() {
        // Out of the directory at once: its close event may still be running, and no socket
        // should be linked to one that is going away.
        service.peering.directory.remove(ObjectIdentifier(self))
        service.peering.forgetRemote(socketId)
        guard let side = peerSide else { return }
        side.timer?.close()
        side.timer = nil
        apply(side.link.deviceEnded())
        if side.link.state == .closed { detach() }
    }

    func peerOtherEnded() {
        guard let side = peerSide else { return }
        apply(side.link.peerEnded())
    }

    private func detach() {
        guard let side = peerSide else { return }
        stream.onDrained = nil
        let peer = side.peer
        side.peer = nil
        if let back = peer?.peerSide, back.peer === self { back.peer = nil }
    }

    private func apply(_ actions: [PeerLink.Action]) {
        guard let side = peerSide else { return }
        for action in actions {
            switch action {
            case .pauseReading:
                stream.stopReading()
            case .resumeReading:
                if !readingPaused && (phase == .open) { stream.startReading() }
            case .forward(let bytes):
                guard let peer = side.peer else { continue }
                peer.stream.write(bytes)
                peer.peerSide?.bytesFromPeer &+= UInt64(bytes.count)
                service.peering.metrics.bytesForwarded &+= UInt64(bytes.count)
                apply(side.link.peerQueued(peer.stream.pendingWriteBytes))
            case .timedOut:
                service.peering.metrics.timedOut += 1
                service.peering.directory.remove(ObjectIdentifier(self))
                service.peering.forgetRemote(socketId)
                let waitMs = mapping?.peerWaitMs ?? 0
                stream.write(SocketAnswer.error(.peerTimeout, "no peer \(side.waitingFor ?? "") within \(waitMs) ms"))
                close(reason: "no peer within \(waitMs) ms")
            case .endPeer:
                side.peer?.peerOtherEnded()
            case .endSelf:
                close(reason: "the peer closed")
                detach()
            }
        }
    }
}

/// One end of a link as the other end sees it: a socket of this agent, or the direct connection
/// to the agent holding the peer (RemotePeer). Loop-thread only.
protocol PeerEnd: AnyObject {
    /// Where the other end writes this end's bytes.
    var stream: any ByteStream { get }
    var peerSide: PeerSide? { get set }
    var endId: String { get }
    var endGateway: String { get }
    /// This end's stream wrote all that was queued for it: the other end may read again.
    func peerDrained()
    /// The other end ended: this end closes after what is queued.
    func peerOtherEnded()
    /// The link is made: what this end held goes to the other.
    func peerLinked()
}

extension ManagedSocket: PeerEnd {
    var endId: String { socketId ?? "" }
    var endGateway: String { service.gatewayId }
}

