/// JSON shapes of the admin API (snake_case keys; docs/COORDINATOR.md).
public struct GatewayView: Codable, Sendable, Equatable {
    public var id: String
    public var state: String
    public var connected: Bool
    public var mqtt_address: String
    public var region: String
    public var labels: [String: String]
    public var capacity_weight: UInt32
    public var software_version: String
    public var last_seen_ms: UInt64
    public var registered_ms: UInt64
    public var session_epoch: UInt64
    public var remote_address: String?
    public var interest_filters: Int
    /// Durable interest (filters of its persistent sessions at QoS >= 1), kept while it is away.
    public var durable_filters: Int
    public var retention: RetentionView
    public var load: GatewayLoadView?
    /// While the gateway is being drained (`POST /v1/gateways/{id}/drain`).
    public var drain: DrainView?
}

/// What the origins hold for this gateway as a destination (issue #11), and what the retention
/// bound dropped since the coordinator started.
public struct RetentionView: Codable, Sendable, Equatable {
    public var held_messages: Int
    public var held_bytes: Int
    public var dropped_messages: UInt64
    public var dropped_bytes: UInt64
}

public struct GatewayLoadView: Codable, Sendable, Equatable {
    public var timestamp_ms: UInt64
    public var connections: UInt32
    public var messages_in_per_second: UInt32
    public var messages_out_per_second: UInt32
    public var bytes_in_per_second: UInt64
    public var bytes_out_per_second: UInt64
    public var top_talkers: [TalkerView]
}

public struct TalkerView: Codable, Sendable, Equatable {
    public var client_id: String
    public var messages_per_second: UInt32
    public var bytes_per_second: UInt64
}

public struct GatewayList: Codable, Sendable { public var gateways: [GatewayView] }

public struct GraphView: Codable, Sendable {
    public struct Node: Codable, Sendable { public var id: String; public var kind: String; public var state: String; public var region: String? }
    public struct Edge: Codable, Sendable { public var source: String; public var target: String; public var kind: String; public var state: String; public var updated_ms: UInt64 }
    public var nodes: [Node]
    public var edges: [Edge]
}

public struct InterestView: Codable, Sendable {
    public struct Match: Codable, Sendable { public var gateway: String; public var filters: [String] }
    public var topic: String
    public var gateways: [Match]
}

public struct HealthView: Codable, Sendable {
    public var status: String
    public var coordinator_id: String
    public var gateways_active: Int
    public var connections: Int
}

public struct ErrorView: Codable, Sendable {
    public var error: String
    public var code: String
}

extension Fabric {
    func view(_ g: GatewayRecord) -> GatewayView {
        var labels: [String: String] = [:]
        for l in g.labels { labels[l.key] = l.value }
        let connected = gatewayConnections[g.id] != nil
        var lastSeen = g.lastSeenMs
        if let c = gatewayConnections[g.id] { lastSeen = lastSeenWallMs(c, now: wallClock()) }
        return GatewayView(
            id: g.id, state: g.state.rawValue, connected: connected, mqtt_address: g.mqttAddress, region: g.region,
            labels: labels, capacity_weight: g.capacityWeight, software_version: g.softwareVersion, last_seen_ms: lastSeen,
            registered_ms: g.registeredMs, session_epoch: g.sessionEpoch, remote_address: g.remoteAddress,
            interest_filters: interest.filters(of: g.id).count,
            durable_filters: durableInterest[g.id]?.count ?? 0,
            retention: { h in RetentionView(held_messages: h.messages, held_bytes: h.bytes, dropped_messages: h.droppedMessages,
                                            dropped_bytes: h.droppedBytes) }(delivery.held[g.id] ?? DeliveryLedger.Held()),
            load: g.load.map { GatewayLoadView(timestamp_ms: $0.timestampMs, connections: $0.connections,
                                               messages_in_per_second: $0.messagesInPerSecond, messages_out_per_second: $0.messagesOutPerSecond,
                                               bytes_in_per_second: $0.bytesInPerSecond, bytes_out_per_second: $0.bytesOutPerSecond,
                                               top_talkers: $0.topTalkers.map { TalkerView(client_id: $0.clientId, messages_per_second: $0.messagesPerSecond,
                                                                                           bytes_per_second: $0.bytesPerSecond) }) },
            drain: drainView(g.id))
    }

    public func gatewayList() -> GatewayList {
        GatewayList(gateways: gateways.keys.sorted().compactMap { gateways[$0].map(view) })
    }

    public func gateway(id: String) -> GatewayView? { gateways[id].map(view) }

    public func graph() -> GraphView {
        var nodes = [GraphView.Node(id: config.coordinatorId, kind: "coordinator", state: isShuttingDown ? "stopping" : "active", region: nil)]
        for id in gateways.keys.sorted() {
            let g = gateways[id]!
            nodes.append(.init(id: id, kind: "gateway", state: g.state.rawValue, region: g.region))
        }
        let edges = links.keys.sorted().compactMap { links[$0] }.map {
            GraphView.Edge(source: $0.source, target: $0.target, kind: $0.kind.rawValue, state: $0.state.rawValue, updated_ms: $0.updatedMs)
        }
        return GraphView(nodes: nodes, edges: edges)
    }

    public func interestView(topic: String) -> InterestView {
        var byGateway: [String: [String]] = [:]
        for m in interest.matchingFilters(topic: topic) { byGateway[m.gateway, default: []].append(m.filter) }
        return InterestView(topic: topic, gateways: byGateway.keys.sorted().map { .init(gateway: $0, filters: byGateway[$0]!.sorted()) })
    }

    public func health() -> HealthView {
        HealthView(status: isShuttingDown ? "stopping" : "ok", coordinator_id: config.coordinatorId,
                   gateways_active: gatewayConnections.count, connections: connections.count)
    }

    public func metricsSnapshot() -> MetricsSnapshot {
        var byState: [GatewayState: Int] = [:]
        for g in gateways.values { byState[g.state, default: 0] += 1 }
        return MetricsSnapshot(counters: counters, gatewaysByState: byState, connections: connections.count,
                               interestFilters: interest.filterCount, interestEntries: interest.entryCount,
                               pendingDeliveries: delivery.heldCount,
                               bulkDropped: connections.values.reduce(0) { $0 + $1.bulkDropped },
                               retention: delivery.held.filter { gateways[$0.key] != nil },
                               migrationsInProgress: handovers.inProgress,
                               maintenanceHosts: maintenanceHostsByState(), maintenanceRunsFinished: maintenance.runsFinished,
                               socketsOpen: Dictionary(uniqueKeysWithValues: gateways.keys.map { ($0, sockets.reports[$0]?.sockets.count ?? 0) }),
                               socketCalls: sockets.calls)
    }
}

/// `GET /v1/migrations`: the policy's recent decisions and the handovers (in progress and the
/// recent finished ones), newest last.
public struct MigrationsView: Encodable, Sendable {
    public struct Item: Encodable, Sendable {
        public var client_id: String
        public var from: String
        public var to: String?
        public var reason: String
        /// started (a handover was started; see `handovers`) or skipped (no eligible gateway).
        public var state: String
        public var messages_per_second: Double
        public var bytes_per_second: Double
        public var source_load: Double
        public var target_load: Double?
        public var at_ms: UInt64
    }
    public var migrations: [Item]
    public var handovers: [HandoverItem]

    /// One handover: who moves where, why, how far it got and how long the client was held.
    public struct HandoverItem: Encodable, Sendable {
        public var id: UInt64
        public var client_id: String
        public var from: String
        public var to: String
        public var reason: String
        /// redirect, relay or auto (the policy's `mode` when it started; the source picks for auto).
        public var mode: String
        /// exporting, importing, committed, released, done or aborted.
        public var state: String
        public var epoch: UInt64
        public var started_ms: UInt64
        /// From the start until the source was told to let go (what the device waited), once known.
        public var stall_ms: UInt64?
        public var finished_ms: UInt64?
        /// "moved", or why it was aborted.
        public var outcome: String?
    }
}

extension Fabric {
    public func migrationsView() -> MigrationsView {
        let wallNow = wallClock(), loopNow = loop.now
        return MigrationsView(migrations: migrationRecords.elements.map { d in
            .init(client_id: d.clientId, from: d.from, to: d.to, reason: d.reason.rawValue, state: Self.migrationState(d),
                         messages_per_second: d.messagesPerSecond, bytes_per_second: d.bytesPerSecond, source_load: d.sourceLoad,
                         target_load: d.targetLoad, at_ms: wallNow &- (loopNow &- d.atMs))
        }, handovers: handovers.handovers.values.sorted { $0.id < $1.id }.map { handoverItem($0, wallNow: wallNow, loopNow: loopNow) })
    }

    func handoverItem(_ h: HandoverTable.Handover, wallNow: UInt64, loopNow: UInt64) -> MigrationsView.HandoverItem {
        func wall(_ t: UInt64) -> UInt64 { wallNow &- (loopNow &- t) }
        return .init(id: h.id, client_id: h.clientId, from: h.from, to: h.to, reason: h.reason,
                     mode: (h.mode ?? .redirect).rawValue, state: h.state.rawValue, epoch: h.epoch,
                     started_ms: wall(h.startedMs), stall_ms: h.committedMs.map { $0 &- h.startedMs },
                     finished_ms: h.finishedMs.map(wall), outcome: h.outcome)
    }
}

/// `DELETE /v1/gateways/{id}`.
struct RemovedView: Encodable, Sendable {
    let removed: String
}
