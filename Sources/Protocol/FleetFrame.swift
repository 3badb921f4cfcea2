/// A frame kind (Protocol/agent-coordinator.md §4). A struct, so kinds this codec does not know can be carried.
public struct FleetFrameKind: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    public static let hello = FleetFrameKind(0x0001)
    public static let helloAck = FleetFrameKind(0x0002)
    public static let error = FleetFrameKind(0x0003)
    public static let heartbeat = FleetFrameKind(0x0004)
    public static let loadReport = FleetFrameKind(0x0005)
    public static let interestSnapshot = FleetFrameKind(0x0010)
    public static let interestDelta = FleetFrameKind(0x0011)
    public static let remoteInterest = FleetFrameKind(0x0012)
    public static let durableInterest = FleetFrameKind(0x0013)
    public static let forward = FleetFrameKind(0x0020)
    public static let deliveryAck = FleetFrameKind(0x0021)
    public static let replay = FleetFrameKind(0x0022)
    public static let migrate = FleetFrameKind(0x0101)
    public static let sessionTransfer = FleetFrameKind(0x0102)
    public static let migrationStep = FleetFrameKind(0x0103)
    public static let handoff = FleetFrameKind(0x0104)
    public static let drain = FleetFrameKind(0x0105)
    public static let sessionList = FleetFrameKind(0x0106)
    public static let availabilityQuery = FleetFrameKind(0x0201)
    public static let availability = FleetFrameKind(0x0202)
    public static let maintenanceRun = FleetFrameKind(0x0203)
    public static let maintenanceResult = FleetFrameKind(0x0204)
    public static let mappings = FleetFrameKind(0x0301)
    public static let socketReport = FleetFrameKind(0x0302)
    public static let peerReport = FleetFrameKind(0x0303)
    public static let socketClose = FleetFrameKind(0x0304)
    public static let peerAsk = FleetFrameKind(0x0305)
    public static let peerMatch = FleetFrameKind(0x0306)
    public static let peerGone = FleetFrameKind(0x0307)

    /// Every kind of protocol version 1.
    public static let known: [FleetFrameKind] = [
        .hello, .helloAck, .error, .heartbeat, .loadReport,
        .interestSnapshot, .interestDelta, .remoteInterest, .durableInterest, .forward, .deliveryAck, .replay,
        .migrate, .sessionTransfer, .migrationStep, .handoff, .drain, .sessionList,
        .availabilityQuery, .availability, .maintenanceRun, .maintenanceResult, .mappings, .socketReport,
        .peerReport, .socketClose, .peerAsk, .peerMatch, .peerGone,
    ]

    public var isKnown: Bool { Self.known.contains(self) }

    /// The priority class a sender gives this kind: messages and sessions (FORWARD, HANDOFF,
    /// SESSION_TRANSFER) are bulk, everything else control.
    public var isBulk: Bool { self == .forward || self == .handoff || self == .sessionTransfer }

    /// Kinds added to version 1 as optional (§9): sent IGNORABLE, so an older peer skips them and
    /// keeps the connection (it then lacks durable delivery, not the link).
    /// MIGRATE and MIGRATION_STEP likewise: an agent that predates migration skips them and the
    /// coordinator aborts at its deadline. The maintenance kinds too: an older agent never answers
    /// and its host waits in the run (the query times out and is asked again).
    public var isSentIgnorable: Bool {
        self == .durableInterest || self == .replay || self == .migrate || self == .migrationStep || self == .drain || self == .sessionList
            || self == .availabilityQuery || self == .availability || self == .maintenanceRun || self == .maintenanceResult
            || self == .mappings || self == .socketReport || self == .peerReport || self == .socketClose
            || self == .peerAsk || self == .peerMatch || self == .peerGone
    }

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .helloAck: "HELLO_ACK"
        case .error: "ERROR"
        case .heartbeat: "HEARTBEAT"
        case .loadReport: "LOAD_REPORT"
        case .interestSnapshot: "INTEREST_SNAPSHOT"
        case .interestDelta: "INTEREST_DELTA"
        case .remoteInterest: "REMOTE_INTEREST"
        case .durableInterest: "DURABLE_INTEREST"
        case .forward: "FORWARD"
        case .deliveryAck: "DELIVERY_ACK"
        case .replay: "REPLAY"
        case .migrate: "MIGRATE"
        case .sessionTransfer: "SESSION_TRANSFER"
        case .migrationStep: "MIGRATION_STEP"
        case .handoff: "HANDOFF"
        case .drain: "DRAIN"
        case .sessionList: "SESSION_LIST"
        case .availabilityQuery: "AVAILABILITY_QUERY"
        case .availability: "AVAILABILITY"
        case .maintenanceRun: "MAINTENANCE_RUN"
        case .maintenanceResult: "MAINTENANCE_RESULT"
        case .mappings: "MAPPINGS"
        case .socketReport: "SOCKET_REPORT"
        case .peerReport: "PEER_REPORT"
        case .socketClose: "SOCKET_CLOSE"
        case .peerAsk: "PEER_ASK"
        case .peerMatch: "PEER_MATCH"
        case .peerGone: "PEER_GONE"
        default: "kind 0x" + String(rawValue, radix: 16, uppercase: true)
        }
    }
}

/// Header flag bits (Protocol/agent-coordinator.md §3.2).
public enum FleetFrameFlags {
    /// A receiver that does not know the kind skips the frame instead of failing the connection.
    public static let ignorable: UInt8 = 0x01
    /// Priority class: set = bulk, clear = control. A scheduling hint for the sender's writer.
    public static let bulk: UInt8 = 0x02
    /// Bits 2-7: reserved, must be 0.
    public static let reserved: UInt8 = 0xFC
}

/// One agent-coordinator frame. Values only; `FleetFrameEncoder` and `FleetFrameDecoder` map them
/// to and from bytes.
public enum FleetFrame: Hashable, Sendable {
    case hello(Hello)
    case helloAck(HelloAck)
    case error(ErrorReport)
    case heartbeat(Heartbeat)
    case loadReport(LoadReport)
    case interestSnapshot(InterestSnapshot)
    case interestDelta(InterestDelta)
    case remoteInterest(RemoteInterest)
    /// The agent's durable interest (same body as REMOTE_INTEREST, the agent's own epochs).
    case durableInterest(RemoteInterest)
    case forward(Forward)
    case deliveryAck(DeliveryAck)
    case replay(Replay)
    case migrate(Migrate)
    case sessionTransfer(SessionTransfer)
    case migrationStep(MigrationStep)
    case handoff(Handoff)
    case drain(Drain)
    case sessionList(SessionList)
    case availabilityQuery(AvailabilityQuery)
    case availability(Availability)
    case maintenanceRun(MaintenanceRun)
    case maintenanceResult(MaintenanceResult)
    case mappings(Mappings)
    case socketReport(SocketReport)
    case peerReport(PeerReport)
    case socketClose(SocketClose)
    case peerAsk(PeerAsk)
    case peerMatch(PeerMatch)
    case peerGone(PeerGone)
    /// A kind this codec does not know that carried the IGNORABLE flag: the receiver skips it.
    /// `flags` and `body` are as received (the encoder writes them back verbatim).
    case unknown(kind: UInt16, flags: UInt8, body: [UInt8])

    public var kind: FleetFrameKind {
        switch self {
        case .hello: .hello
        case .helloAck: .helloAck
        case .error: .error
        case .heartbeat: .heartbeat
        case .loadReport: .loadReport
        case .interestSnapshot: .interestSnapshot
        case .interestDelta: .interestDelta
        case .remoteInterest: .remoteInterest
        case .durableInterest: .durableInterest
        case .forward: .forward
        case .deliveryAck: .deliveryAck
        case .replay: .replay
        case .migrate: .migrate
        case .sessionTransfer: .sessionTransfer
        case .migrationStep: .migrationStep
        case .handoff: .handoff
        case .drain: .drain
        case .sessionList: .sessionList
        case .availabilityQuery: .availabilityQuery
        case .availability: .availability
        case .maintenanceRun: .maintenanceRun
        case .maintenanceResult: .maintenanceResult
        case .mappings: .mappings
        case .socketReport: .socketReport
        case .peerReport: .peerReport
        case .socketClose: .socketClose
        case .peerAsk: .peerAsk
        case .peerMatch: .peerMatch
        case .peerGone: .peerGone
        case .unknown(let kind, _, _): FleetFrameKind(kind)
        }
    }

    /// Bulk frames go behind control frames in the writer (Protocol/agent-coordinator.md §8).
    public var isBulk: Bool {
        if case .unknown(_, let flags, _) = self { return flags & FleetFrameFlags.bulk != 0 }
        return kind.isBulk
    }
}

extension FleetFrame {
    /// "FLGT": the first four body bytes of HELLO and HELLO_ACK, so a connection from something
    /// that does not speak this protocol fails at its first frame.
    public static let magic: [UInt8] = [0x46, 0x4C, 0x47, 0x54]

    /// A key/value label of a gateway (HELLO).
    public struct Label: Hashable, Sendable {
        public var key: String
        public var value: String
        public init(_ key: String, _ value: String) { self.key = key; self.value = value }
    }

    /// HELLO (0x0001), agent -> coordinator, the first frame on a connection.
    public struct Hello: Hashable, Sendable {
        public var minVersion: UInt16
        public var maxVersion: UInt16
        public var gatewayId: String
        /// Opaque bearer token; empty when mutual TLS authenticates the agent.
        public var authToken: [UInt8]
        /// Largest frame the agent accepts, header included.
        public var maximumFrameSize: UInt32
        /// "host:port" devices are redirected to (MQTT 5 Server Reference).
        public var mqttAddress: String
        public var region: String
        public var labels: [Label]
        /// Relative capacity for placement and migration; 0 = take no migrated clients.
        public var capacityWeight: UInt32
        public var softwareVersion: String

        public init(minVersion: UInt16 = FleetLimits.supportedVersions.lowerBound,
                    maxVersion: UInt16 = FleetLimits.supportedVersions.upperBound,
                    gatewayId: String, authToken: [UInt8], maximumFrameSize: UInt32 = UInt32(FleetLimits.defaultMaximumFrameSize),
                    mqttAddress: String, region: String = "", labels: [Label] = [], capacityWeight: UInt32 = 1,
                    softwareVersion: String = "") {
            self.minVersion = minVersion
            self.maxVersion = maxVersion
            self.gatewayId = gatewayId
            self.authToken = authToken
            self.maximumFrameSize = maximumFrameSize
            self.mqttAddress = mqttAddress
            self.region = region
            self.labels = labels
            self.capacityWeight = capacityWeight
            self.softwareVersion = softwareVersion
        }
    }

    /// HELLO_ACK (0x0002), coordinator -> agent: the session is up.
    public struct HelloAck: Hashable, Sendable {
        public var version: UInt16
        /// Strictly increasing per gateway id; fences older sessions of the same gateway.
        public var sessionEpoch: UInt64
        public var heartbeatIntervalMs: UInt32
        /// Largest frame the coordinator accepts, header included.
        public var maximumFrameSize: UInt32
        public var coordinatorId: String

        public init(version: UInt16, sessionEpoch: UInt64, heartbeatIntervalMs: UInt32,
                    maximumFrameSize: UInt32 = UInt32(FleetLimits.defaultMaximumFrameSize), coordinatorId: String) {
            self.version = version
            self.sessionEpoch = sessionEpoch
            self.heartbeatIntervalMs = heartbeatIntervalMs
            self.maximumFrameSize = maximumFrameSize
            self.coordinatorId = coordinatorId
        }
    }

    /// ERROR (0x0003), either direction.
    public struct ErrorReport: Hashable, Sendable {
        public var code: FleetErrorCode
        /// The kind of the frame that caused it, when one did (0 on the wire = none).
        public var relatedKind: FleetFrameKind?
        public var message: String

        /// `message` is cut at a character boundary to `FleetLimits.maxErrorMessageBytes`.
        public init(code: FleetErrorCode, relatedKind: FleetFrameKind? = nil, message: String = "") {
            precondition(relatedKind?.rawValue != 0, "kind 0 means 'none' on the wire; pass nil")
            self.code = code
            self.relatedKind = relatedKind
            self.message = Self.truncated(message)
        }

        static func truncated(_ s: String) -> String {
            guard s.utf8.count > FleetLimits.maxErrorMessageBytes else { return s }
            var out = ""
            var n = 0
            for c in s {
                n += c.utf8.count
                if n > FleetLimits.maxErrorMessageBytes { break }
                out.append(c)
            }
            return out
        }
    }

    /// HEARTBEAT (0x0004), both directions, every heartbeat interval.
    public struct Heartbeat: Hashable, Sendable {
        public var sequence: UInt64
        /// Sender's wall clock, milliseconds since the Unix epoch.
        public var timestampMs: UInt64
        public init(sequence: UInt64, timestampMs: UInt64) { self.sequence = sequence; self.timestampMs = timestampMs }
    }

    /// One busy client in a LOAD_REPORT.
    public struct TopTalker: Hashable, Sendable {
        public var clientId: String
        public var messagesPerSecond: UInt32
        public var bytesPerSecond: UInt64
        public init(clientId: String, messagesPerSecond: UInt32, bytesPerSecond: UInt64) {
            self.clientId = clientId
            self.messagesPerSecond = messagesPerSecond
            self.bytesPerSecond = bytesPerSecond
        }
    }

    /// LOAD_REPORT (0x0005), agent -> coordinator, every report interval.
    public struct LoadReport: Hashable, Sendable {
        public var timestampMs: UInt64
        public var connections: UInt32
        public var messagesInPerSecond: UInt32
        public var messagesOutPerSecond: UInt32
        public var bytesInPerSecond: UInt64
        public var bytesOutPerSecond: UInt64
        /// Busiest clients first.
        public var topTalkers: [TopTalker]
        /// Bytes relayed for migrated clients (both ways) since the agent started; an optional
        /// trailing field, sent when not 0 (§5.5).
        public var relayedBytes: UInt64

        public init(timestampMs: UInt64, connections: UInt32, messagesInPerSecond: UInt32, messagesOutPerSecond: UInt32,
                    bytesInPerSecond: UInt64, bytesOutPerSecond: UInt64, topTalkers: [TopTalker] = [], relayedBytes: UInt64 = 0) {
            self.timestampMs = timestampMs
            self.connections = connections
            self.messagesInPerSecond = messagesInPerSecond
            self.messagesOutPerSecond = messagesOutPerSecond
            self.bytesInPerSecond = bytesInPerSecond
            self.bytesOutPerSecond = bytesOutPerSecond
            self.topTalkers = topTalkers
            self.relayedBytes = relayedBytes
        }
    }

    /// INTEREST_SNAPSHOT (0x0010), agent -> coordinator: one part of the complete filter table.
    /// Also the snapshot form of REMOTE_INTEREST.
    public struct InterestSnapshot: Hashable, Sendable {
        /// Starts a new table on the receiver; the old one is dropped when the last part arrives.
        public var epoch: UInt64
        /// 0 for the first part, then +1 per part and per following delta of this epoch.
        public var sequence: UInt64
        /// The table is complete with this part.
        public var isLast: Bool
        public var filters: [String]
        public init(epoch: UInt64, sequence: UInt64, isLast: Bool, filters: [String]) {
            self.epoch = epoch
            self.sequence = sequence
            self.isLast = isLast
            self.filters = filters
        }
    }

    /// INTEREST_DELTA (0x0011), agent -> coordinator. Also the delta form of REMOTE_INTEREST.
    public struct InterestDelta: Hashable, Sendable {
        public var epoch: UInt64
        public var sequence: UInt64
        /// Filters that gained their first subscriber.
        public var added: [String]
        /// Filters that lost their last subscriber.
        public var removed: [String]
        public init(epoch: UInt64, sequence: UInt64, added: [String] = [], removed: [String] = []) {
            self.epoch = epoch
            self.sequence = sequence
            self.added = added
            self.removed = removed
        }
    }

    /// REMOTE_INTEREST (0x0012), coordinator -> agent: what the other gateways want, as a snapshot
    /// (in parts) then deltas, with the same rules as the agent's own interest.
    public enum RemoteInterest: Hashable, Sendable {
        case snapshot(InterestSnapshot)
        case delta(InterestDelta)
    }

    /// FORWARD (0x0020, bulk), either direction: one publication crossing gateways.
    public struct Forward: Hashable, Sendable {
        public var originGatewayId: String
        /// Strictly increasing per origin gateway, across its restarts.
        public var sequence: UInt64
        public var topic: String
        public var qos: QoS
        public var retain: Bool
        /// The MQTT 5 message properties: payload format, message expiry (remaining, in seconds),
        /// content type, response topic, correlation data, user properties. Others (topic alias,
        /// subscription identifiers, connection-level properties) are per connection: the encoder
        /// leaves them out and the decoder rejects them.
        public var properties: MQTTProperties
        public var payload: [UInt8]
        public init(originGatewayId: String, sequence: UInt64, topic: String, qos: QoS, retain: Bool = false,
                    properties: MQTTProperties = .none, payload: [UInt8]) {
            self.originGatewayId = originGatewayId
            self.sequence = sequence
            self.topic = topic
            self.qos = qos
            self.retain = retain
            self.properties = properties
            self.payload = payload
        }
    }

    /// DELIVERY_ACK (0x0021), either direction: FORWARDs of one origin that were taken.
    public struct DeliveryAck: Hashable, Sendable {
        public var originGatewayId: String
        /// Cumulative: every sequence <= this one (0 = none yet).
        public var upToSequence: UInt64
        /// Selective: sequences above `upToSequence` also taken, ascending.
        public var sequences: [UInt64]
        public init(originGatewayId: String, upToSequence: UInt64, sequences: [UInt64] = []) {
            self.originGatewayId = originGatewayId
            self.upToSequence = upToSequence
            self.sequences = sequences
        }
    }

    /// REPLAY (0x0022), coordinator -> origin agent: a destination came back and is owed forwards
    /// from `fromSequence` on; send the outbound log again from there, in order (Protocol/agent-coordinator.md §5.12).
    public struct Replay: Hashable, Sendable {
        public var fromSequence: UInt64
        public init(fromSequence: UInt64) { self.fromSequence = fromSequence }
    }
}
