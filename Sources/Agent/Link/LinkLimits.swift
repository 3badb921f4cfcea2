import FleetRuntime
import FleetProtocol

/// The tunables of the coordinator link, in one place, each with its reason. Tests shrink them.
struct LinkLimits: Sendable {
    /// No HELLO_ACK (or ERROR) this long after connecting: give up and back off. The coordinator's
    /// own handshake timeout is 10 s (Protocol/agent-coordinator.md §7); ours matches it.
    var handshakeTimeoutMs: UInt64 = 10_000
    /// TCP connect that has not completed by then is abandoned (a black-holed address).
    var connectTimeoutMs: UInt64 = 10_000
    /// Bulk (FORWARD) frames are handed to the socket only while it holds less than this
    /// (Protocol/agent-coordinator.md §8 rule 3): a control frame waits behind at most this plus one frame.
    var bulkLowWatermark = 64 * 1024
    /// Unsent bytes on the socket above which the coordinator is too slow: close with `overloaded`
    /// (§8 rule 5). Control frames are tiny, so only a peer that stopped reading gets here.
    var controlHighWatermark = 8 * 1024 * 1024
    /// QoS 0 forwards waiting for the socket; beyond it they are dropped and counted (§8 rule 5).
    var maxQueuedQoS0 = 10_000
    /// QoS >= 1 forwards not yet confirmed by the coordinator (memory and the `forward_log` table).
    /// At it, the publisher whose message reached it is not read until confirmations bring the
    /// log below half (nothing acknowledged is dropped); it can exceed the bound only by what
    /// publishers had already sent in the read being handled, and by wills.
    /// The default fits a destination gateway down for an hour at 1,000 msg/s (issue #11): the
    /// origin holds what it is owed (the coordinator's retention bound drops the oldest beyond
    /// 3,600,000 per destination). The log is in memory as well as on disk: budget its messages.
    var maxUnacked = 4_000_000
    /// Retained QoS 0 topics remembered while the link is down (the last value of each is sent
    /// when it is back); beyond it new topics are dropped and counted.
    var maxRetainedWhileDown = 10_000
    /// Sequence numbers are reserved on disk in blocks, so a QoS 0 forward costs no write.
    var sequenceBlock: UInt64 = 1 << 20
    /// The largest frame we accept from the coordinator (announced in HELLO).
    var maximumFrameSize = FleetLimits.defaultMaximumFrameSize
    /// Filters per INTEREST_DELTA list (the protocol's own limit).
    var maxFiltersPerDelta = FleetLimits.maxFiltersPerFrame

    init() {}
}

/// What the link runs with: `CoordinatorLinkConfig` validated, the token read.
struct LinkSettings: Sendable, Equatable {
    var gatewayId: String
    var token: [UInt8]
    var coordinator: ListenAddress
    var advertise: String?
    var region: String
    var labels: [FleetFrame.Label]
    var capacity: UInt32
    var backoff: Backoff
    /// nil = plain TCP.
    var tls: LinkTLSSettings?
}

/// TLS towards the coordinator: the client configuration (CA, optional certificate and key) and
/// the name the coordinator's certificate must carry.
struct LinkTLSSettings: Sendable, Equatable {
    var client: TLSClientConfiguration
    var serverName: String
}
