import FleetCore
import FleetRuntime

/// The far end of a cross-gateway link (issue #15): a direct TCP connection to the agent holding
/// the peer socket, opened by one agent with a `PEER <socket-id> <secret>` line on the other's
/// socket listener. To the local socket it is a peer like any other (PeerEnd): its stream carries
/// the remote device's bytes, unchanged, and TCP's own flow control does per-link backpressure
/// between the agents. Closing either way closes the other; a failed connection (the other
/// gateway died) closes the local socket. Loop-thread only.
final class RemotePeer: StreamHandler, PeerEnd {
    let stream: any ByteStream
    var peerSide: PeerSide?
    let endId: String
    let endGateway: String
    unowned(unsafe) let service: SocketService

    init(stream: any ByteStream, peerSocketId: String, peerGateway: String, service: SocketService) {
        self.stream = stream
        self.endId = peerSocketId
        self.endGateway = peerGateway
        self.service = service
    }

    // MARK: StreamHandler: the other agent's bytes, for the local device

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        guard let side = peerSide, side.link.state == .linked, let local = side.peer else { return }
        side.link.countForwarded(bytes.count)
        local.stream.write(bytes)
        local.peerSide?.bytesFromPeer &+= UInt64(bytes.count)
        apply(side.link.peerQueued(local.stream.pendingWriteBytes))
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        guard let side = peerSide else { return }
        if let error { service.log.notice("peer link to \(endGateway)/\(endId) failed: \(error)") }
        apply(side.link.deviceEnded())
        detach()
    }

    /// Bytes that came right after the `PEER` line (acceptor) go to the local device first.
    func received(_ bytes: [UInt8]) {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { streamReceived(stream, $0) }
    }

    // MARK: PeerEnd

    func peerDrained() {
        guard let side = peerSide else { return }
        apply(side.link.peerDrained())
    }

    func peerOtherEnded() {
        guard let side = peerSide else { return }
        apply(side.link.peerEnded())
    }

    func peerLinked() {
        guard let side = peerSide else { return }
        apply(side.link.linked())
    }

    private func apply(_ actions: [PeerLink.Action]) {
        guard let side = peerSide else { return }
        for action in actions {
            switch action {
            case .pauseReading: stream.stopReading()
            case .resumeReading: stream.startReading()
            case .forward(let bytes):
                guard let local = side.peer else { continue }
                local.stream.write(bytes)
                apply(side.link.peerQueued(local.stream.pendingWriteBytes))
            case .endPeer:
                side.peer?.peerOtherEnded()
            case .endSelf:
                stream.close()
                detach()
            case .timedOut:
                break  // a remote end never waits
            }
        }
    }

    private func detach() {
        guard let side = peerSide else { return }
        stream.onDrained = nil
        let local = side.peer
        side.peer = nil
        if let back = local?.peerSide, back.peer === self { back.peer = nil }
    }
}
