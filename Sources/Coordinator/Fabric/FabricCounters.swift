import FleetProtocol

/// Plain counters bumped on the loop thread (no atomics, no locks on the hot path). The admin
/// API copies them on the loop thread and publishes the deltas to swift-metrics (CoordinatorMetrics).
public struct FabricCounters: Sendable, Equatable {
    /// By frame kind raw value (unknown kinds under their own value).
    public var framesIn: [UInt16: UInt64] = [:]
    public var framesOut: [UInt16: UInt64] = [:]
    /// FORWARD copies handed to a destination's writer.
    public var forwardsRouted: UInt64 = 0
    /// FORWARDs that matched no other gateway (QoS >= 1 ones are confirmed at once).
    public var forwardsUnrouted: UInt64 = 0
    /// Times an origin gateway stopped being read because a destination was backed up.
    public var originsPaused: UInt64 = 0
    /// FORWARD copies not delivered, by reason: queue_full, too_large, bad_origin.
    public var forwardsDropped: [String: UInt64] = [:]
    public var malformedFrames: UInt64 = 0
    /// HELLOs with a bad token, or (mutual TLS) whose gateway id the client certificate does not name.
    public var authFailures: UInt64 = 0
    /// HELLOs held back because their host failed repeatedly (Fabric+HelloAdmission).
    public var hellosDelayed: UInt64 = 0
    /// Link TLS handshakes that failed (no or untrusted client certificate, not TLS, timeout).
    public var tlsHandshakeFailures: UInt64 = 0
    public var gatewayTimeouts: UInt64 = 0
    public var sessionsReplaced: UInt64 = 0
    public var interestOutOfSync: UInt64 = 0
    /// Gateways disconnected for interest over `max_interest_filters`.
    public var interestRefused: UInt64 = 0
    /// REPLAY frames sent to origins (a destination came back owed forwards, or missed a write).
    public var replaysRequested: UInt64 = 0
    /// HELLOs refused because the gateway's session is connected and alive.
    public var hellosRefusedInUse: UInt64 = 0
    /// Migration decisions by reason (message_rate, byte_rate, gateway_overload, no_eligible_target).
    public var migrationDecisions: [String: UInt64] = [:]
    /// Handovers started, by reason (a planner reason, "operator", "drain").
    public var migrationsStarted: [String: UInt64] = [:]
    /// Handovers finished, by "reason/outcome" (outcome: moved or aborted).
    public var migrationsFinished: [String: UInt64] = [:]
    /// Stall of each completed handover, start to commit (the device is held meanwhile): cumulative
    /// counts per upper bound in ms (`handoverStallBoundsMs`, then +Inf), and the sum.
    public var handoverStallBuckets = [UInt64](repeating: 0, count: FabricCounters.handoverStallBoundsMs.count + 1)
    public var handoverStallSumMs: UInt64 = 0
    /// Bytes the agents relayed for migrated clients (Protocol/agent-coordinator.md §10), from their LOAD_REPORTs.
    public var relayedBytes: UInt64 = 0
    public static let handoverStallBoundsMs: [UInt64] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]

    mutating func recordHandoverStall(ms: UInt64) {
        for (i, bound) in Self.handoverStallBoundsMs.enumerated() where ms <= bound { handoverStallBuckets[i] += 1 }
        handoverStallBuckets[Self.handoverStallBoundsMs.count] += 1
        handoverStallSumMs += ms
    }

    public init() {}

    mutating func countIn(_ kind: FleetFrameKind) { framesIn[kind.rawValue, default: 0] += 1 }
    mutating func countOut(_ kind: FleetFrameKind) { framesOut[kind.rawValue, default: 0] += 1 }
    mutating func dropped(_ reason: String) { forwardsDropped[reason, default: 0] += 1 }
}
