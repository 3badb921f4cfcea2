// Connection migration frames: MIGRATE, SESSION_TRANSFER, MIGRATION_STEP, HANDOFF
// (Protocol/agent-coordinator.md §5.14-§5.18).

/// How a migrated client reaches its new gateway (Protocol/agent-coordinator.md §5.14, §10).
public enum MigrationMode: UInt8, Sendable, CaseIterable {
    /// Told to reconnect there: MQTT 5 DISCONNECT 0x9C with a Server Reference; a 3.1.1 client,
    /// which cannot be told, is closed.
    case redirect = 0
    /// The source keeps the client's connection and relays its MQTT stream to the target.
    case relay = 1
    /// Redirect for MQTT 5, relay for 3.1.1.
    case auto = 2
}

extension FleetFrame {
    /// MIGRATE (0x0101), coordinator -> source agent: move this client's session to the target.
    public struct Migrate: Hashable, Sendable {
        public var migrationId: UInt64
        public var clientId: String
        /// The session's new ownership epoch: above every epoch it had.
        public var epoch: UInt64
        public var targetGatewayId: String
        /// The target's advertised MQTT address (MQTT 5 Server Reference); may be empty.
        public var serverReference: String
        /// How the client reaches the target: told to reconnect there, or relayed by the source.
        public var mode: MigrationMode

        public init(migrationId: UInt64, clientId: String, epoch: UInt64, targetGatewayId: String, serverReference: String,
                    mode: MigrationMode = .auto) {
            self.migrationId = migrationId; self.clientId = clientId; self.epoch = epoch
            self.targetGatewayId = targetGatewayId; self.serverReference = serverReference; self.mode = mode
        }
    }

    /// SESSION_TRANSFER (0x0102, bulk), source -> coordinator -> target: the session's versioned
    /// serialised form (FleetCore's `SessionState` codec), opaque to this codec.
    public struct SessionTransfer: Hashable, Sendable {
        public var migrationId: UInt64
        public var clientId: String
        public var session: [UInt8]

        public init(migrationId: UInt64, clientId: String, session: [UInt8]) {
            self.migrationId = migrationId; self.clientId = clientId; self.session = session
        }
    }

    /// MIGRATION_STEP (0x0103): one step of a migration, in either direction (§5.16).
    public struct MigrationStep: Hashable, Sendable {
        public enum Step: UInt8, Sendable, CaseIterable {
            case imported = 1, commit, abort, refused, released, handoffAck, done
        }
        public var migrationId: UInt64
        public var step: Step
        /// The HANDOFF index the step refers to (`released`, `handoffAck`); 0 otherwise.
        public var count: UInt64
        /// Why, for `refused` and `abort`; at most `FleetLimits.maxErrorMessageBytes`.
        public var reason: String

        public init(migrationId: UInt64, step: Step, count: UInt64 = 0, reason: String = "") {
            self.migrationId = migrationId; self.step = step; self.count = count; self.reason = reason
        }
    }

    /// HANDOFF (0x0104, bulk), source -> coordinator -> target: a message that reached the
    /// session at the source after its export, with its fleet identity (§5.17, §5.18 rule 4).
    public struct Handoff: Hashable, Sendable {
        public var migrationId: UInt64
        /// 1, 2, 3, ... per migration.
        public var index: UInt64
        /// Where the message entered the fleet; empty when it never left the source.
        public var originGatewayId: String
        /// Its FORWARD sequence from that origin; 0 with an empty origin.
        public var originSequence: UInt64
        public var topic: String
        public var qos: QoS
        public var retain: Bool
        public var properties: MQTTProperties
        public var payload: [UInt8]

        public init(migrationId: UInt64, index: UInt64, originGatewayId: String, originSequence: UInt64, topic: String,
                    qos: QoS, retain: Bool, properties: MQTTProperties = .none, payload: [UInt8]) {
            self.migrationId = migrationId; self.index = index; self.originGatewayId = originGatewayId
            self.originSequence = originSequence; self.topic = topic; self.qos = qos; self.retain = retain
            self.properties = properties; self.payload = payload
        }
    }
}

extension FleetFrame {
    /// DRAIN (0x0105), coordinator -> agent: the gateway is being drained; list its sessions
    /// (SESSION_LIST). Rate 0 ends the drain.
    public struct Drain: Hashable, Sendable {
        /// Clients per second the coordinator moves (informational for the agent); 0 = drain over.
        public var rate: UInt32
        public init(rate: UInt32) { self.rate = rate }
    }

    /// SESSION_LIST (0x0106), agent -> coordinator: the client ids of its sessions, in parts.
    public struct SessionList: Hashable, Sendable {
        public var clientIds: [String]
        /// The last part of this list.
        public var last: Bool
        public init(clientIds: [String], last: Bool) { self.clientIds = clientIds; self.last = last }
    }
}

extension FleetFrame.Drain {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let rate = try r.u32("rate")
        try r.expectEnd()
        return Self(rate: rate)
    }

    func encode(into w: inout ByteWriter) { w.writeU32(rate) }
}

extension FleetFrame.SessionList {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let flags = try r.u8("flags")
        guard flags & ~1 == 0 else { throw .malformed("SESSION_LIST: reserved flags 0x\(String(flags, radix: 16))") }
        let n = try r.count("client ids", limit: FleetLimits.maxClientIdsPerList, minimumElementBytes: 3)
        var ids: [String] = []
        ids.reserveCapacity(n)
        for _ in 0..<n { ids.append(try r.string("client id", 1...ProtocolLimits.maxStringBytes)) }
        try r.expectEnd()
        return Self(clientIds: ids, last: flags & 1 != 0)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU8(last ? 1 : 0)
        w.writeCount(clientIds.count, limit: FleetLimits.maxClientIdsPerList)
        for id in clientIds { w.writeString(id, limit: ProtocolLimits.maxStringBytes) }
    }
}

extension FleetFrame.Migrate {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.u64("migration id")
        guard id > 0 else { throw .malformed("MIGRATE: migration id 0") }
        let client = try r.string("client id", 1...ProtocolLimits.maxStringBytes)
        let epoch = try r.u64("epoch")
        let target = try r.string("target gateway id", 1...FleetLimits.maxIdentifierBytes)
        let reference = try r.string("server reference", 0...FleetLimits.maxAddressBytes)
        guard let mode = MigrationMode(rawValue: try r.u8("mode")) else { throw .malformed("MIGRATE: unknown mode") }
        try r.expectEnd()
        return Self(migrationId: id, clientId: client, epoch: epoch, targetGatewayId: target, serverReference: reference, mode: mode)
    }

    /// Why these values cannot travel (a bound the decoder enforces), nil when they can.
    public var limitProblem: String? {
        if migrationId == 0 { return "migration id 0" }
        let client = clientId.utf8.count, target = targetGatewayId.utf8.count, reference = serverReference.utf8.count
        if client < 1 || client > ProtocolLimits.maxStringBytes { return "client id of \(client) bytes" }
        if target < 1 || target > FleetLimits.maxIdentifierBytes { return "target gateway id of \(target) bytes" }
        if reference > FleetLimits.maxAddressBytes { return "server reference of \(reference) bytes" }
        return nil
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(migrationId)
        w.writeString(clientId, limit: ProtocolLimits.maxStringBytes)
        w.writeU64(epoch)
        w.writeString(targetGatewayId, limit: FleetLimits.maxIdentifierBytes)
        w.writeString(serverReference, limit: FleetLimits.maxAddressBytes)
        w.writeU8(mode.rawValue)
    }
}

extension FleetFrame.SessionTransfer {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.u64("migration id")
        guard id > 0 else { throw .malformed("SESSION_TRANSFER: migration id 0") }
        let client = try r.string("client id", 1...ProtocolLimits.maxStringBytes)
        let length = Int(try r.u32("session length"))
        // The frame limit bounds it; the length must match what is left, checked before copying.
        guard length == r.remaining else {
            throw .malformed("SESSION_TRANSFER: session length \(length), \(r.remaining) bytes left")
        }
        return Self(migrationId: id, clientId: client, session: r.rest())
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(migrationId)
        w.writeString(clientId, limit: ProtocolLimits.maxStringBytes)
        w.writeU32(UInt32(session.count))
        w.writeBytes(session)
    }
}

extension FleetFrame.MigrationStep {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.u64("migration id")
        guard id > 0 else { throw .malformed("MIGRATION_STEP: migration id 0") }
        let raw = try r.u8("step")
        guard let step = Step(rawValue: raw) else { throw .malformed("MIGRATION_STEP: unknown step \(raw)") }
        let count = try r.u64("count")
        let reason = try r.string("reason", 0...FleetLimits.maxErrorMessageBytes)
        try r.expectEnd()
        return Self(migrationId: id, step: step, count: count, reason: reason)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(migrationId)
        w.writeU8(step.rawValue)
        w.writeU64(count)
        // A reason is ours (an agent's or the coordinator's words), cut rather than trapped on.
        w.writeString(reason.truncatedUTF8(maxBytes: FleetLimits.maxErrorMessageBytes), limit: FleetLimits.maxErrorMessageBytes)
    }
}

extension FleetFrame.Handoff {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.u64("migration id")
        guard id > 0 else { throw .malformed("HANDOFF: migration id 0") }
        let index = try r.u64("index")
        guard index > 0 else { throw .malformed("HANDOFF: index 0 (indexes start at 1)") }
        let origin = try r.string("origin gateway id", 0...FleetLimits.maxIdentifierBytes)
        let sequence = try r.u64("origin sequence")
        guard origin.isEmpty == (sequence == 0) else {
            throw .malformed("HANDOFF: origin \"\(origin)\" with sequence \(sequence) (both or neither)")
        }
        let m = try FleetFrame.Forward.decodeMessage(&r, frame: "HANDOFF")
        return Self(migrationId: id, index: index, originGatewayId: origin, originSequence: sequence, topic: m.topic,
                    qos: m.qos, retain: m.retain, properties: m.properties, payload: m.payload)
    }

    /// Why these values cannot travel, nil when they can (see `Forward.limitProblem`).
    public var limitProblem: String? {
        if migrationId == 0 || index == 0 { return "migration id or index 0" }
        let originBytes = originGatewayId.utf8.count
        if originBytes > FleetLimits.maxIdentifierBytes { return "origin gateway id of \(originBytes) bytes" }
        if originGatewayId.isEmpty != (originSequence == 0) { return "origin and origin sequence must come together" }
        return FleetFrame.Forward.messageLimitProblem(topic: topic, properties: properties)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(migrationId)
        w.writeU64(index)
        w.writeString(originGatewayId, limit: FleetLimits.maxIdentifierBytes)
        w.writeU64(originSequence)
        FleetFrame.Forward.encodeMessage(topic: topic, qos: qos, retain: retain, properties: properties, payload: payload, into: &w)
    }
}
