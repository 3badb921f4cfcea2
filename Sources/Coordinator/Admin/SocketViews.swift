import FleetProtocol

/// `GET /v1/sockets`: every socket the agents reported at their last report, with its gateway.
public struct SocketsView: Encodable, Sendable {
    public var sockets: [Item]
    /// Open sockets per gateway.
    public var by_gateway: [String: Int]

    public struct Item: Encodable, Sendable {
        public var socket_id: String
        public var gateway: String
        public var mapping: String
        public var client_id: String
        /// The name the device authenticated as; empty when anonymous.
        public var identity: String
        /// ms since the Unix epoch.
        public var opened: UInt64
        public var bytes_in: UInt64
        public var bytes_out: UInt64
        public var calls: UInt64
        public var errors: UInt64
        /// open or closing.
        public var state: String
        /// Its link (issue #15), when it waits for a peer or has one.
        public var peer: Peer?
    }

    /// One socket's side of a link.
    public struct Peer: Encodable, Sendable {
        /// waiting, linked or closing.
        public var state: String
        /// The peer's socket and gateway; absent while waiting.
        public var socket_id: String?
        public var gateway: String?
        /// The name waited for (a socket id or rendezvous name); absent once linked.
        public var waiting_for: String?
        public var bytes_to_peer: UInt64
        public var bytes_from_peer: UInt64
    }

    /// Each link once, both ends: `a` is the end whose id sorts first.
    public var links: [Link]

    public struct Link: Encodable, Sendable {
        public struct End: Encodable, Sendable {
            public var socket_id: String
            public var gateway: String
        }
        public var a: End
        public var b: End
        /// linked, or closing once either end is.
        public var state: String
        public var bytes_a_to_b: UInt64
        public var bytes_b_to_a: UInt64
    }
}

extension Fabric {
    /// `GET /v1/mappings`: `{"mappings": {"name": {...}, ...}}`, each the stored canonical JSON as
    /// it is (names are [A-Za-z0-9._-], so they need no escaping).
    func mappingsJSON() -> String {
        "{\"mappings\":{" + sockets.mappings.keys.sorted().map { "\"\($0)\":\(sockets.mappings[$0]!)" }.joined(separator: ",") + "}}"
    }

    func socketsView() -> SocketsView {
        var items: [SocketsView.Item] = []
        var byGateway: [String: Int] = [:]
        let links = peerLinksBySocket()
        for (gateway, report) in sockets.reports.sorted(by: { $0.key < $1.key }) {
            byGateway[gateway] = report.sockets.count
            for s in report.sockets {
                items.append(.init(socket_id: s.socketId, gateway: gateway, mapping: s.mapping, client_id: s.clientId, identity: s.identity,
                                   opened: s.openedMs, bytes_in: s.bytesIn, bytes_out: s.bytesOut, calls: s.calls, errors: s.errors,
                                   state: s.state == .open ? "open" : "closing", peer: links[SocketKey(gateway: gateway, socketId: s.socketId)].map(Self.peerView)))
            }
        }
        return SocketsView(sockets: items, by_gateway: byGateway, links: linkViews(links))
    }
}
