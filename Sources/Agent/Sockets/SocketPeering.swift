import FleetCore
import FleetProtocol
import FleetRuntime

/// Socket peering on one gateway (issue #15): who may be linked (PeerDirectory), the ids devices
/// asked for (`id=<name>`, unique among this gateway's open sockets), and the figures of
/// `GET /v1/sockets`. The service owns one; each linked or waiting socket has a PeerSide.
/// Loop-thread only.
final class SocketPeering {
    var directory = PeerDirectory<ObjectIdentifier>()
    /// Open sockets by id: requested ids are refused while taken, and a peer is found by id.
    private(set) var byId: [String: ManagedSocket] = [:]
    var metrics = Metrics()
    /// Across gateways (SocketPeering+Remote.swift): the coordinator link, the sockets asked for
    /// there, and the connections this agent expects for its sockets (PEER_MATCH accept).
    weak var link: CoordinatorLink?
    var askedRemotely: Set<String> = []
    var expected: [String: ExpectedPeer] = [:]
    /// `PEER` connections that came before their PEER_MATCH (the two agents hear the coordinator
    /// on different connections): held a few seconds for it.
    var parked: [String: ParkedPeer] = [:]
    let gatewayId: String
    unowned(unsafe) var service: SocketService!

    init(gatewayId: String) { self.gatewayId = gatewayId }

    struct ExpectedPeer {
        var connect: SocketPeerConnect
        var peerSocketId: String
        var peerGateway: String
        var timer: LoopTimer
    }

    struct ParkedPeer {
        var connect: SocketPeerConnect
        var stream: any ByteStream
        var done: (RemotePeer?) -> Void
        var timer: LoopTimer
    }

    struct Metrics {
        var linked: UInt64 = 0
        var timedOut: UInt64 = 0
        var bytesForwarded: UInt64 = 0
    }

    func isTaken(_ id: String) -> Bool { byId[id] != nil }

    func register(_ socket: ManagedSocket, id: String) { byId[id] = socket }

    func forget(_ socket: ManagedSocket) {
        if let id = socket.socketId, byId[id] === socket { byId[id] = nil }
        directory.remove(ObjectIdentifier(socket))
    }
}

/// One socket's part in a link: the pure state (PeerLink), the other socket, the wait's timer.
final class PeerSide {
    var link = PeerLink()
    /// Strong both ways while linked: broken by `detach` when either side finishes.
    var peer: (any PeerEnd)?
    /// The name this socket waits for (reports).
    var waitingFor: String?
    var timer: LoopTimer?
    var bytesFromPeer: UInt64 = 0
    /// The peer's id and gateway, kept after the peer is gone (reports of a closing side).
    var peerId = ""
    var peerGateway = ""
}

extension SocketService {
    /// PEER_REPORT parts: every socket waiting for a peer or linked, right after SOCKET_REPORT.
    func peerReport() -> [FleetFrame.PeerReport] {
        let links = sockets.values.compactMap { $0.peerReportEntry() }.sorted { $0.socketId < $1.socketId }
        var parts: [FleetFrame.PeerReport] = []
        var index = 0
        repeat {
            let slice = Array(links[index..<min(links.count, index + FleetLimits.maxSocketsPerReport)])
            index += slice.count
            parts.append(.init(isFirst: parts.isEmpty, isLast: index >= links.count, links: slice))
        } while index < links.count
        return parts
    }

    /// SOCKET_CLOSE (`DELETE /v1/sockets/{id}`): the socket closes now, and its peer hears EOF.
    func closeSocket(id: String, reason: String) {
        guard let socket = peering.byId[id] else { return log.info("socket \(id): asked to close, but it is not here") }
        socket.closeNow(reason: reason.isEmpty ? "closed by the coordinator" : reason)
    }
}

extension ManagedSocket {
    func peerReportEntry() -> FleetFrame.PeerReport.Link? {
        guard let side = peerSide, let socketId, phase == .open || phase == .closing else { return nil }
        let state: FleetFrame.PeerReport.LinkState = switch side.link.state {
        case .waiting: .waiting
        case .linked: .linked
        default: .closing
        }
        return .init(socketId: socketId, peerSocketId: String(side.peerId.utf8.prefix(FleetLimits.maxSocketIdBytes)) ?? "",
                     peerGateway: String(side.peerGateway.utf8.prefix(FleetLimits.maxIdentifierBytes)) ?? "",
                     waitingFor: String((side.waitingFor ?? "").utf8.prefix(FleetLimits.maxSocketIdBytes)) ?? "",
                     state: state, bytesToPeer: side.link.bytesToPeer, bytesFromPeer: side.bytesFromPeer)
    }

    /// Closed from outside (the admin API): the peer hears EOF at once, then this socket's close
    /// event runs as for any close.
    func closeNow(reason: String) {
        peerSelfEnded()
        close(reason: reason)
    }
}
