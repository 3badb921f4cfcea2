import CoreMetrics
import FleetProtocol
import Prometheus
import Synchronization

/// What /metrics publishes, copied on the loop thread (so the hot path keeps plain integers).
public struct MetricsSnapshot: Sendable {
    public var counters: FabricCounters
    public var gatewaysByState: [GatewayState: Int]
    public var connections: Int
    public var interestFilters: Int
    public var interestEntries: Int
    public var pendingDeliveries: Int
    public var bulkDropped: UInt64
    /// Per destination gateway: what is held for it and what its retention bound dropped.
    public var retention: [String: DeliveryLedger.Held] = [:]
    public var migrationsInProgress = 0
    /// Hosts of unfinished maintenance runs by state; runs finished by outcome.
    public var maintenanceHosts: [String: Int] = [:]
    public var maintenanceRunsFinished: [String: UInt64] = [:]
    /// Socket service: open sockets per gateway (every known gateway), and each mapping's calls.
    public var socketsOpen: [String: Int] = [:]
    public var socketCalls: [String: FleetFrame.SocketReport.MappingCalls] = [:]
}

/// swift-metrics instruments backed by swift-prometheus (its own registry: no global bootstrap).
/// Counters are advanced by the difference since the previous scrape.
public final class CoordinatorMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    private struct State: ~Copyable {
        var counters: [String: CoreMetrics.Counter] = [:]
        var published: [String: UInt64] = [:]
        var gauges: [String: CoreMetrics.Gauge] = [:]
        /// Gateways with retention gauges: one removed since is set to 0, not left at its last value.
        var retentionGateways: Set<String> = []
    }
    private let state = Mutex(State())
    private let factory: PrometheusMetricsFactory
    /// The admin listener's connection cap (its counters are read at each scrape).
    private let httpLimiter: HTTPConnectionLimiter?

    static let prefix = "fleetgate_coordinator_"
    static let dropReasons = ["queue_full", "too_large", "bad_origin"]

    public init(httpLimiter: HTTPConnectionLimiter? = nil) {
        factory = PrometheusMetricsFactory(registry: registry)
        self.httpLimiter = httpLimiter
        // Every series exists from the first scrape, at 0.
        var initial = FabricCounters()
        for kind in FleetFrameKind.known { initial.framesIn[kind.rawValue] = 0; initial.framesOut[kind.rawValue] = 0 }
        for r in Self.dropReasons { initial.forwardsDropped[r] = 0 }
        var first = MetricsSnapshot(counters: initial, gatewaysByState: [:], connections: 0, interestFilters: 0,
                                    interestEntries: 0, pendingDeliveries: 0, bulkDropped: 0)
        for state in MaintenanceRun.Host.State.allCases { first.maintenanceHosts[state.rawValue] = 0 }
        for outcome in [MaintenanceRun.State.done, .stopped, .cancelled] { first.maintenanceRunsFinished[outcome.rawValue] = 0 }
        publish(first)
    }

    /// Brings the instruments up to `snapshot`, then renders the Prometheus text format.
    public func render(_ snapshot: MetricsSnapshot) -> String {
        publish(snapshot)
        return registry.emitToString()
    }

    private func publish(_ s: MetricsSnapshot) {
        let p = Self.prefix
        state.withLock { st in
            func counter(_ name: String, _ labels: [(String, String)], _ value: UInt64) {
                let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
                let c: CoreMetrics.Counter
                if let existing = st.counters[key] { c = existing } else {
                    c = CoreMetrics.Counter(label: name, dimensions: labels, factory: factory)
                    st.counters[key] = c
                }
                let before = st.published[key] ?? 0
                if value > before { c.increment(by: Int64(clamping: value - before)) }
                st.published[key] = max(before, value)
            }
            func gauge(_ name: String, _ labels: [(String, String)], _ value: Double) {
                let key = name + labels.map { "|\($0.0)=\($0.1)" }.joined()
                let g: CoreMetrics.Gauge
                if let existing = st.gauges[key] { g = existing } else {
                    g = CoreMetrics.Gauge(label: name, dimensions: labels, factory: factory)
                    st.gauges[key] = g
                }
                g.record(value)
            }
            for (kind, n) in s.counters.framesIn { counter(p + "frames_in_total", [("kind", FleetFrameKind(kind).description)], n) }
            for (kind, n) in s.counters.framesOut { counter(p + "frames_out_total", [("kind", FleetFrameKind(kind).description)], n) }
            counter(p + "forwards_routed_total", [], s.counters.forwardsRouted)
            counter(p + "forwards_unrouted_total", [], s.counters.forwardsUnrouted)
            counter(p + "origins_paused_total", [], s.counters.originsPaused)
            for (reason, n) in s.counters.forwardsDropped { counter(p + "forwards_dropped_total", [("reason", reason)], n) }
            counter(p + "malformed_frames_total", [], s.counters.malformedFrames)
            counter(p + "auth_failures_total", [], s.counters.authFailures)
            counter(p + "hellos_delayed_total", [], s.counters.hellosDelayed)
            counter(p + "tls_handshake_failures_total", [], s.counters.tlsHandshakeFailures)
            counter(p + "gateway_timeouts_total", [], s.counters.gatewayTimeouts)
            counter(p + "sessions_replaced_total", [], s.counters.sessionsReplaced)
            counter(p + "interest_out_of_sync_total", [], s.counters.interestOutOfSync)
            counter(p + "interest_refused_total", [], s.counters.interestRefused)
            counter(p + "replays_requested_total", [], s.counters.replaysRequested)
            counter(p + "hellos_refused_in_use_total", [], s.counters.hellosRefusedInUse)
            for (reason, n) in s.counters.migrationDecisions { counter(p + "migration_decisions_total", [("reason", reason)], n) }
            for (reason, n) in s.counters.migrationsStarted { counter(p + "migrations_started_total", [("reason", reason)], n) }
            for (key, n) in s.counters.migrationsFinished {
                let parts = key.split(separator: "/", maxSplits: 1).map(String.init)
                counter(p + "migrations_total", [("reason", parts.first ?? ""), ("outcome", parts.last ?? "")], n)
            }
            // A Prometheus histogram of the handover stall (start to commit), in seconds.
            for (i, bound) in FabricCounters.handoverStallBoundsMs.enumerated() {
                counter(p + "migration_stall_seconds_bucket", [("le", "\(Double(bound) / 1000)")], s.counters.handoverStallBuckets[i])
            }
            counter(p + "migration_stall_seconds_bucket", [("le", "+Inf")], s.counters.handoverStallBuckets.last ?? 0)
            counter(p + "migration_stall_seconds_count", [], s.counters.handoverStallBuckets.last ?? 0)
            gauge(p + "migration_stall_seconds_sum", [], Double(s.counters.handoverStallSumMs) / 1000)
            gauge(p + "migrations_in_progress", [], Double(s.migrationsInProgress))
            counter(p + "migration_relayed_bytes_total", [], s.counters.relayedBytes)
            for (state, n) in s.maintenanceHosts { gauge(p + "maintenance_hosts", [("state", state)], Double(n)) }
            for (outcome, n) in s.maintenanceRunsFinished { counter(p + "maintenance_runs_total", [("outcome", outcome)], n) }
            for (gateway, n) in s.socketsOpen { gauge(p + "sockets_open", [("gateway", gateway)], Double(n)) }
            for (mapping, c) in s.socketCalls {
                counter(p + "socket_calls_total", [("mapping", mapping)], c.buckets.last ?? 0)
                counter(p + "socket_call_errors_total", [("mapping", mapping)], c.errors)
                for (i, bound) in FleetLimits.callLatencyBoundsMs.enumerated() where i < c.buckets.count {
                    counter(p + "socket_call_seconds_bucket", [("mapping", mapping), ("le", "\(Double(bound) / 1000)")], c.buckets[i])
                }
                counter(p + "socket_call_seconds_bucket", [("mapping", mapping), ("le", "+Inf")], c.buckets.last ?? 0)
                counter(p + "socket_call_seconds_count", [("mapping", mapping)], c.buckets.last ?? 0)
                gauge(p + "socket_call_seconds_sum", [("mapping", mapping)], Double(c.latencySumMs) / 1000)
            }
            for gateway in st.retentionGateways.subtracting(s.retention.keys) {
                gauge(p + "retention_held_messages", [("gateway", gateway)], 0)
                gauge(p + "retention_held_bytes", [("gateway", gateway)], 0)
            }
            st.retentionGateways = Set(s.retention.keys)
            for (gateway, h) in s.retention {
                gauge(p + "retention_held_messages", [("gateway", gateway)], Double(h.messages))
                gauge(p + "retention_held_bytes", [("gateway", gateway)], Double(h.bytes))
                counter(p + "retention_dropped_messages_total", [("gateway", gateway)], h.droppedMessages)
                counter(p + "retention_dropped_bytes_total", [("gateway", gateway)], h.droppedBytes)
            }
            for state in GatewayState.allCases { gauge(p + "gateways", [("state", state.rawValue)], Double(s.gatewaysByState[state] ?? 0)) }
            gauge(p + "connections", [], Double(s.connections))
            gauge(p + "interest_filters", [], Double(s.interestFilters))
            gauge(p + "interest_entries", [], Double(s.interestEntries))
            gauge(p + "pending_deliveries", [], Double(s.pendingDeliveries))
            if let limiter = httpLimiter {
                counter(p + "http_connections_refused_total", [], limiter.refusedConnections)
                gauge(p + "http_connections", [], Double(limiter.openConnections))
            }
        }
    }
}
