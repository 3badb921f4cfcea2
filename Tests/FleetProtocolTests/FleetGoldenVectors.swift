@testable import FleetProtocol

/// A fleet frame and its wire bytes, read from Protocol/vectors/agent-coordinator/*.txt: typed by
/// hand from Protocol/agent-coordinator.md, never produced by our encoder. The files are the
/// vectors; this file only turns a vector's `key = value` fields into the `FleetFrame` they name,
/// so the tests can check decode(bytes) == frame and encode(frame) == bytes.
struct FleetGoldenVector: Sendable, CustomStringConvertible {
    let name: String
    let bytes: [UInt8]
    let frame: FleetFrame
    var description: String { name }
}

enum FleetGolden {
    /// The vectors that read, and a line per file or vector that did not (FleetGoldenTests fails on
    /// any; the others still run on the vectors that read).
    static let loaded: (vectors: [FleetGoldenVector], problems: [String]) = {
        var vectors: [FleetGoldenVector] = []
        var problems: [String] = []
        let files: [(file: String, vectors: Result<[VectorFile.Vector], any Error>)]
        do { files = try VectorFile.load(folder: "agent-coordinator") } catch { return ([], ["\(error)"]) }
        for (_, result) in files {
            switch result {
            case .failure(let error): problems.append("\(error)")
            case .success(let list):
                for v in list {
                    do {
                        let fields = VectorFields(v)
                        let frame = try frame(kind: v.kind, fields)
                        try fields.finish()
                        vectors.append(FleetGoldenVector(name: v.name, bytes: v.bytes, frame: frame))
                    } catch {
                        problems.append("\(v.location) (\(v.name)): \(error)")
                    }
                }
            }
        }
        return (vectors, problems)
    }()

    static var all: [FleetGoldenVector] { loaded.vectors }

    /// One vector by its name in the files, for the tests that mutate a particular frame.
    static func named(_ name: String) -> FleetGoldenVector {
        guard let v = all.first(where: { $0.name == name }) else {
            fatalError("no vector \"\(name)\" in Protocol/vectors/agent-coordinator; problems: \(loaded.problems)")
        }
        return v
    }

    static var hello: FleetGoldenVector { named("HELLO") }
    static var helloMinimal: FleetGoldenVector { named("HELLO minimal") }
    static var helloAck: FleetGoldenVector { named("HELLO_ACK") }
    static var heartbeat: FleetGoldenVector { named("HEARTBEAT") }
    static var loadReportRelayed: FleetGoldenVector { named("LOAD_REPORT with relayed bytes") }
    static var interestSnapshot: FleetGoldenVector { named("INTEREST_SNAPSHOT last part") }
    static var interestDelta: FleetGoldenVector { named("INTEREST_DELTA") }
    static var remoteInterestDelta: FleetGoldenVector { named("REMOTE_INTEREST delta") }
    static var forward: FleetGoldenVector { named("FORWARD QoS 0") }
    static var deliveryAck: FleetGoldenVector { named("DELIVERY_ACK") }
    static var migrate: FleetGoldenVector { named("MIGRATE") }
    static var sessionTransfer: FleetGoldenVector { named("SESSION_TRANSFER") }
    static var migrationStepRefused: FleetGoldenVector { named("MIGRATION_STEP refused") }
    static var handoff: FleetGoldenVector { named("HANDOFF") }
    static var availabilityQuery: FleetGoldenVector { named("AVAILABILITY_QUERY") }
    static var availability: FleetGoldenVector { named("AVAILABILITY") }
    static var maintenanceRun: FleetGoldenVector { named("MAINTENANCE_RUN") }
    static var maintenanceResult: FleetGoldenVector { named("MAINTENANCE_RESULT") }
    static var mappings: FleetGoldenVector { named("MAPPINGS") }
    static var socketReport: FleetGoldenVector { named("SOCKET_REPORT") }
    static var peerReport: FleetGoldenVector { named("PEER_REPORT") }
    static var peerMatch: FleetGoldenVector { named("PEER_MATCH") }
    static var unknownIgnorable: FleetGoldenVector { named("unknown kind 0xF001, ignorable") }

    // MARK: Fields -> frame, one case per kind of Protocol/agent-coordinator.md §4

    /// The frame a vector's fields describe. `kind` is the spec's name (§4), or `0xNNNN` for a
    /// kind outside the table (carried as `.unknown`).
    static func frame(kind: String, _ f: VectorFields) throws -> FleetFrame {
        switch kind {
        case "HELLO":
            return .hello(.init(minVersion: try f.int("min_version"), maxVersion: try f.int("max_version"),
                                gatewayId: try f.string("gateway_id"), authToken: try f.bytes("auth_token"),
                                maximumFrameSize: try f.int("maximum_frame_size"), mqttAddress: try f.string("mqtt_address"),
                                region: try f.string("region"),
                                labels: try f.list("labels") { f, k in .init(try f.record(k).string("key"), try f.record(k).string("value")) },
                                capacityWeight: try f.int("capacity_weight"), softwareVersion: try f.string("software_version")))
        case "HELLO_ACK":
            return .helloAck(.init(version: try f.int("version"), sessionEpoch: try f.int("session_epoch"),
                                   heartbeatIntervalMs: try f.int("heartbeat_interval_ms"),
                                   maximumFrameSize: try f.int("maximum_frame_size"), coordinatorId: try f.string("coordinator_id")))
        case "ERROR":
            let related: UInt16 = try f.int("related_kind")
            return .error(.init(code: FleetErrorCode(try f.int("code")), relatedKind: related == 0 ? nil : FleetFrameKind(related),
                                message: try f.string("message")))
        case "HEARTBEAT":
            return .heartbeat(.init(sequence: try f.int("sequence"), timestampMs: try f.int("timestamp_ms")))
        case "LOAD_REPORT":
            return .loadReport(.init(timestampMs: try f.int("timestamp_ms"), connections: try f.int("connections"),
                                     messagesInPerSecond: try f.int("messages_in_per_second"),
                                     messagesOutPerSecond: try f.int("messages_out_per_second"),
                                     bytesInPerSecond: try f.int("bytes_in_per_second"), bytesOutPerSecond: try f.int("bytes_out_per_second"),
                                     topTalkers: try f.list("top_talkers") { f, k in
                                         let t = f.record(k)
                                         return .init(clientId: try t.string("client_id"), messagesPerSecond: try t.int("messages_per_second"),
                                                      bytesPerSecond: try t.int("bytes_per_second"))
                                     },
                                     relayedBytes: try f.int("relayed_bytes")))
        case "INTEREST_SNAPSHOT":
            return .interestSnapshot(try snapshot(f))
        case "INTEREST_DELTA":
            return .interestDelta(try delta(f))
        case "REMOTE_INTEREST":
            return .remoteInterest(try remoteInterest(f))
        case "DURABLE_INTEREST":
            return .durableInterest(try remoteInterest(f))
        case "FORWARD":
            return .forward(.init(originGatewayId: try f.string("origin_gateway_id"), sequence: try f.int("sequence"),
                                  topic: try f.string("topic"), qos: try qos(f), retain: try f.bool("retain"),
                                  properties: try properties(f), payload: try f.bytes("payload")))
        case "DELIVERY_ACK":
            return .deliveryAck(.init(originGatewayId: try f.string("origin_gateway_id"), upToSequence: try f.int("up_to_sequence"),
                                      sequences: try f.list("selective") { f, k in try f.int(k) }))
        case "REPLAY":
            return .replay(.init(fromSequence: try f.int("from_sequence")))
        case "MIGRATE":
            return .migrate(.init(migrationId: try f.int("migration_id"), clientId: try f.string("client_id"), epoch: try f.int("epoch"),
                                  targetGatewayId: try f.string("target_gateway_id"), serverReference: try f.string("server_reference"),
                                  mode: try enumeration(f, "mode")))
        case "SESSION_TRANSFER":
            return .sessionTransfer(.init(migrationId: try f.int("migration_id"), clientId: try f.string("client_id"),
                                          session: try f.bytes("session")))
        case "MIGRATION_STEP":
            return .migrationStep(.init(migrationId: try f.int("migration_id"), step: try enumeration(f, "step"), count: try f.int("count"),
                                        reason: try f.string("reason")))
        case "HANDOFF":
            return .handoff(.init(migrationId: try f.int("migration_id"), index: try f.int("index"),
                                  originGatewayId: try f.string("origin_gateway_id"), originSequence: try f.int("origin_sequence"),
                                  topic: try f.string("topic"), qos: try qos(f), retain: try f.bool("retain"),
                                  properties: try properties(f), payload: try f.bytes("payload")))
        case "DRAIN":
            return .drain(.init(rate: try f.int("rate")))
        case "SESSION_LIST":
            return .sessionList(.init(clientIds: try f.list("client_ids") { f, k in try f.string(k) }, last: try f.bool("last")))
        case "AVAILABILITY_QUERY":
            return .availabilityQuery(.init(queryId: try f.int("query_id"), operation: try f.string("operation")))
        case "AVAILABILITY":
            return .availability(.init(queryId: try f.int("query_id"), answer: try enumeration(f, "answer"), reason: try f.string("reason"),
                                       connections: try f.int("connections"), sessions: try f.int("sessions"),
                                       messagesInPerSecond: try f.int("messages_in_per_second"), drainFirst: try f.bool("drain_first")))
        case "MAINTENANCE_RUN":
            return .maintenanceRun(.init(runId: try f.string("run_id"), operation: try f.string("operation"), fencing: try f.int("fencing")))
        case "MAINTENANCE_RESULT":
            return .maintenanceResult(.init(runId: try f.string("run_id"), fencing: try f.int("fencing"), state: try enumeration(f, "state"),
                                            exitStatus: try f.int("exit_status"), outputTail: try f.string("output_tail"),
                                            reason: try f.string("reason")))
        case "MAPPINGS":
            return .mappings(.init(replaces: try f.bool("replaces"), isLast: try f.bool("last"),
                                   entries: try f.list("entries") { f, k in
                                       .init(name: try f.record(k).string("name"), document: try f.record(k).string("document"))
                                   }))
        case "SOCKET_REPORT":
            return .socketReport(try socketReport(f))
        case "PEER_REPORT":
            return .peerReport(.init(isFirst: try f.bool("first"), isLast: try f.bool("last"),
                                     links: try f.list("links") { f, k in
                                         let l = f.record(k)
                                         return .init(socketId: try l.string("socket_id"), peerSocketId: try l.string("peer_socket_id"),
                                                      peerGateway: try l.string("peer_gateway"), waitingFor: try l.string("waiting_for"),
                                                      state: try enumeration(l, "state"), bytesToPeer: try l.int("bytes_to_peer"),
                                                      bytesFromPeer: try l.int("bytes_from_peer"))
                                     }))
        case "SOCKET_CLOSE":
            return .socketClose(.init(socketId: try f.string("socket_id"), reason: try f.string("reason")))
        case "PEER_ASK":
            return .peerAsk(.init(socketId: try f.string("socket_id"), peer: try f.string("peer"), address: try f.string("address")))
        case "PEER_MATCH":
            return .peerMatch(.init(socketId: try f.string("socket_id"), peerSocketId: try f.string("peer_socket_id"),
                                    peerGateway: try f.string("peer_gateway"), role: try enumeration(f, "role"),
                                    address: try f.string("address"), secret: try f.bytes("secret")))
        case "PEER_GONE":
            return .peerGone(.init(socketId: try f.string("socket_id")))
        case let other where other.hasPrefix("0x"):
            guard let kind = UInt16(other.dropFirst(2), radix: 16) else { throw VectorFields.KindError(kind: other) }
            return .unknown(kind: kind, flags: try f.int("flags"), body: try f.bytes("body"))
        default:
            throw VectorFields.KindError(kind: kind)
        }
    }

    private static func snapshot(_ f: VectorFields) throws -> FleetFrame.InterestSnapshot {
        .init(epoch: try f.int("epoch"), sequence: try f.int("sequence"), isLast: try f.bool("last"),
              filters: try f.list("filters") { f, k in try f.string(k) })
    }

    private static func delta(_ f: VectorFields) throws -> FleetFrame.InterestDelta {
        .init(epoch: try f.int("epoch"), sequence: try f.int("sequence"),
              added: try f.list("added") { f, k in try f.string(k) }, removed: try f.list("removed") { f, k in try f.string(k) })
    }

    /// §5.8: `form` 0 is a snapshot's body, 1 a delta's.
    private static func remoteInterest(_ f: VectorFields) throws -> FleetFrame.RemoteInterest {
        switch try f.int("form", as: UInt8.self) {
        case 0: return .snapshot(try snapshot(f))
        case 1: return .delta(try delta(f))
        default: throw VectorFields.KindError(kind: "REMOTE_INTEREST form")
        }
    }

    private static func qos(_ f: VectorFields) throws -> QoS {
        try enumeration(f, "qos")
    }

    /// A field holding an enumeration's wire value (the spec's number; the files name it in a comment).
    private static func enumeration<E: RawRepresentable>(_ f: VectorFields, _ key: String) throws -> E where E.RawValue == UInt8 {
        let raw: UInt8 = try f.int(key)
        guard let e = E(rawValue: raw) else { throw VectorFields.KindError(kind: "\(key) \(raw)") }
        return e
    }

    /// §5.9's property set, as `properties.<name>`; an absent property is not set.
    private static func properties(_ f: VectorFields) throws -> MQTTProperties {
        let p = f.record("properties")
        var out = MQTTProperties()
        if p.has("payload_format_indicator") { out.payloadFormatIndicator = try p.int("payload_format_indicator") }
        if p.has("message_expiry_interval") { out.messageExpiryInterval = try p.int("message_expiry_interval") }
        if p.has("content_type") { out.contentType = try p.string("content_type") }
        if p.has("response_topic") { out.responseTopic = try p.string("response_topic") }
        if p.has("correlation_data") { out.correlationData = try p.bytes("correlation_data") }
        let users = try p.list("user_properties") { f, k in UserProperty(try f.record(k).string("key"), try f.record(k).string("value")) }
        if !users.isEmpty { out.userProperties = users }
        return out
    }

    private static func socketReport(_ f: VectorFields) throws -> FleetFrame.SocketReport {
        .init(isFirst: try f.bool("first"), isLast: try f.bool("last"),
              sockets: try f.list("sockets") { f, k in
                  let s = f.record(k)
                  return .init(socketId: try s.string("socket_id"), mapping: try s.string("mapping"), clientId: try s.string("client_id"),
                               identity: try s.string("identity"), openedMs: try s.int("opened_ms"), bytesIn: try s.int("bytes_in"),
                               bytesOut: try s.int("bytes_out"), calls: try s.int("calls"), errors: try s.int("errors"),
                               state: try enumeration(s, "state"))
              },
              mappings: try f.list("mappings") { f, k in
                  let m = f.record(k)
                  return .init(mapping: try m.string("mapping"), errors: try m.int("errors"), latencySumMs: try m.int("latency_sum_ms"),
                               buckets: try m.list("buckets") { f, k in try f.int(k) })
              })
    }
}

extension VectorFields {
    struct KindError: Error, CustomStringConvertible {
        var kind: String
        var description: String { "no frame for \(kind) (add a case to FleetGolden.frame(kind:_:))" }
    }
}
