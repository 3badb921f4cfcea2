/// A gateway's state in the graph (DESIGN §3 "Gateway graph").
public enum GatewayState: String, Sendable, CaseIterable, Codable {
    /// Connected and serving.
    case active
    /// Connected, taking no new clients (set by the migration/maintenance issues later).
    case draining
    /// In a maintenance window (later issues).
    case maintenance
    /// Not connected: never routed to. Every gateway is down after a coordinator restart until it
    /// says HELLO again.
    case down
}

/// The last LOAD_REPORT of a gateway (kept in memory only).
public struct GatewayLoad: Sendable, Equatable, Codable {
    public var timestampMs: UInt64
    public var connections: UInt32
    public var messagesInPerSecond: UInt32
    public var messagesOutPerSecond: UInt32
    public var bytesInPerSecond: UInt64
    public var bytesOutPerSecond: UInt64
    /// The gateway's busiest publishing clients, busiest first (at most 100): the candidates for
    /// a migration once that issue lands.
    public var topTalkers: [GatewayTalker] = []
}

/// One busy client of a LOAD_REPORT.
public struct GatewayTalker: Sendable, Equatable, Codable {
    public var clientId: String
    public var messagesPerSecond: UInt32
    public var bytesPerSecond: UInt64
}

/// One node of the gateway graph: what the gateway said in HELLO plus what the coordinator tracks.
public struct GatewayRecord: Sendable, Equatable {
    public var id: String
    /// "host:port" devices are redirected to.
    public var mqttAddress: String
    public var region: String
    /// In HELLO order; a key given twice keeps both (the API shows the last).
    public var labels: [(key: String, value: String)]
    public var capacityWeight: UInt32
    public var state: GatewayState
    /// Wall clock, ms since the Unix epoch, of the last frame received (or of the last state change).
    public var lastSeenMs: UInt64
    public var softwareVersion: String
    /// HELLO_ACK session epoch of the latest session (strictly increasing per gateway, persisted).
    public var sessionEpoch: UInt64
    public var registeredMs: UInt64
    /// Not persisted.
    public var load: GatewayLoad?
    /// Peer address of the current connection (not persisted).
    public var remoteAddress: String?

    public static func == (a: GatewayRecord, b: GatewayRecord) -> Bool {
        a.id == b.id && a.mqttAddress == b.mqttAddress && a.region == b.region
            && a.labels.map(\.key) == b.labels.map(\.key) && a.labels.map(\.value) == b.labels.map(\.value)
            && a.capacityWeight == b.capacityWeight && a.state == b.state && a.lastSeenMs == b.lastSeenMs
            && a.softwareVersion == b.softwareVersion && a.sessionEpoch == b.sessionEpoch && a.registeredMs == b.registeredMs
            && a.load == b.load && a.remoteAddress == b.remoteAddress
    }
}

/// An edge of the graph. Today every edge is a gateway's control link to the coordinator
/// (`kind == .coordinator`); `.peer` edges (gateway <-> gateway) are reserved for later issues.
public struct GraphLink: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable { case coordinator, peer }
    public enum State: String, Sendable, Codable { case up, down }
    public var source: String
    public var target: String
    public var kind: Kind
    public var state: State
    public var updatedMs: UInt64
}
