/// Every tunable of the coordinator in one place, each with its reason (docs/COORDINATOR.md).
public enum CoordinatorLimits {
    /// Protocol/agent-coordinator.md §8.3: bulk frames go to the socket only while its unsent bytes are below this.
    public static let bulkLowWatermark = 64 * 1024
    /// Bulk (FORWARD) frames queued per connection behind the watermark. When full, a QoS 0
    /// forward is dropped and counted; a QoS >= 1 forward closes that destination with
    /// `overloaded` (it is too slow; the origin keeps the message until confirmed).
    public static let maxQueuedBulkFrames = 4_096
    /// Bytes of bulk frames queued per connection (same policy as the frame count).
    public static let maxQueuedBulkBytes = 32 * 1024 * 1024
    /// Control bytes allowed to sit unsent on one connection. Control is never dropped: past this
    /// the peer is too slow and is closed with ERROR `overloaded` (Protocol/agent-coordinator.md §8.5).
    public static let maxUnsentControlBytes = 16 * 1024 * 1024
    // Retention per destination (`retention:` in the config file; DeliveryLedger). What a gateway
    // that is away is owed stays in the origins' logs up to these bounds; past one, the oldest is
    // dropped for it and counted. The defaults fit a gateway down for an hour at 1,000 msg/s of
    // messages up to ~290 bytes; the coordinator keeps 24 bytes per held forward (86 MB at the
    // message bound), the bodies stay at the origins.
    public static let defaultRetentionMessages = 3_600_000
    public static let defaultRetentionBytes = 1 << 30
    public static let defaultRetentionAgeMs: UInt64 = 7_200_000
    /// How often the age bound is applied (the message and byte bounds apply as forwards arrive).
    public static let retentionSweepIntervalMs: UInt64 = 1_000
    /// How often the migration policy is asked for decisions (load reports come every heartbeat).
    public static let migrationPlanIntervalMs: UInt64 = 1_000
    /// Migration decisions kept for `GET /v1/migrations` (the oldest go first).
    public static let migrationRecordsKept = 1_000
    /// Finished handovers kept in memory and in `coordinator.db` (a drain of thousands of clients
    /// is one operation, and its records are how it is judged).
    public static let handoverRecordsKept = 20_000
    // Maintenance runs (issue #13; MaintenanceScheduler). A lease outlives the longest silence a
    // healthy host has during its operation (a reboot, an OS patch), so a host is declared
    // vanished only when it really is; even then its slot stays taken (DESIGN-NOTES "Maintenance").
    public static let maintenanceLeaseTTLMs: UInt64 = 1_800_000
    /// A lease of a host that is seen is renewed at most this often (each renewal is a write).
    public static let maintenanceLeaseRenewMs: UInt64 = 60_000
    /// An availability query unanswered this long is dropped; the host is asked again later.
    public static let maintenanceQueryTimeoutMs: UInt64 = 45_000
    /// A host that said busy (or did not answer) is asked again after this long.
    public static let maintenanceBusyRetryMs: UInt64 = 60_000
    /// An "available" answer older than this is asked again before the host starts.
    public static let maintenanceAvailabilityFreshMs: UInt64 = 60_000
    /// A drained gateway is asked again for its sessions at most this often (new clients may have
    /// come, a move may have failed).
    public static let drainRelistIntervalMs: UInt64 = 2_000
    /// Selective sequences in one DELIVERY_ACK to an origin (Protocol/agent-coordinator.md §6 allows 1024).
    public static let maxSelectiveAcks = 1_024
    /// Protocol/agent-coordinator.md §7.2: no HELLO within this many milliseconds -> ERROR handshakeTimeout.
    public static let handshakeTimeoutMs: UInt64 = 10_000
    /// A connection closing after an ERROR gets this long to take its last bytes, then is cut.
    public static let closeGraceMs: UInt64 = 2_000
    /// How often the sweep runs (handshake and gateway timeouts, heartbeats, last-seen persistence).
    public static let sweepIntervalMs: UInt64 = 100
    /// How often `last_seen` of connected gateways is written to SQLite (one transaction).
    public static let lastSeenPersistIntervalMs: UInt64 = 5_000
    /// Default heartbeat interval announced in HELLO_ACK (lowered to a third of the gateway
    /// timeout so a healthy gateway is never timed out between two heartbeats).
    public static let defaultHeartbeatIntervalMs: UInt32 = 5_000
    /// Default silence after which a gateway is marked down (3 heartbeat intervals, Protocol/agent-coordinator.md §5.4).
    public static let defaultGatewayTimeoutSeconds: Double = 15
    /// How long a graceful shutdown waits for gateways to take their ERROR shuttingDown.
    public static let shutdownGraceMs: UInt64 = 2_000

    // The admin HTTP listener (issue #10 §3.2; docs/DESIGN-NOTES.md "HTTP listener bounds").
    // Without these, idle connections were never closed and 20,000 of them used up the process's
    // descriptors, and with them the gateway link.
    /// Default `http_idle_timeout`: a keep-alive connection with no request in progress is closed
    /// after this long (Hummingbird's idle timeout). The admin API's clients (CLI, dashboard,
    /// Prometheus at 15 s+) reconnect cheaply.
    public static let defaultHTTPIdleTimeoutSeconds: Double = 30
    /// Default `http_request_timeout`: from connect (or the previous response) to the end of the
    /// request. Admin requests are a few hundred bytes; this only has to outlast a slow link.
    public static let defaultHTTPRequestTimeoutSeconds: Double = 10
    /// Default `http_max_connections`: open admin connections at once; past it a new connection
    /// is closed as soon as it is accepted (counted in `http_connections_refused_total`). Far
    /// below any sane descriptor limit, so the link always has descriptors left.
    public static let defaultHTTPMaxConnections = 256
    /// Filters one gateway's interest may hold (`max_interest_filters`). One token holder pushed
    /// 409,600 filters in 0.4 s (+330 MB here, +206 MB at every agent); a gateway with more
    /// distinct subscriptions than this needs the key raised.
    public static let defaultMaxInterestFilters = 250_000
}
