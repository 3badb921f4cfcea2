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
        for (gateway, report) in sockets.reports.sorted(by: { $0.key < $1.key }) {
            byGateway[gateway] = report.sockets.count
            for s in report.sockets {
                items.append(.init(socket_id: s.socketId, gateway: gateway, mapping: s.mapping, client_id: s.clientId, identity: s.identity,
                                   opened: s.openedMs, bytes_in: s.bytesIn, bytes_out: s.bytesOut, calls: s.calls, errors: s.errors,
                                   state: s.state == .open ? "open" : "closing"))
            }
        }
        return SocketsView(sockets: items, by_gateway: byGateway)
    }
}
