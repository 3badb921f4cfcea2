import FleetCore

/// Counters of the coordinator link, published with the broker's under `$SYS/broker/fabric/...`.
/// (The broker counts forwarded messages it delivered as `fabric/messages/received`.)
struct FabricMetrics {
    var connected = false
    var connectAttempts: UInt64 = 0
    /// HELLO_ACKs received (sessions established).
    var sessions: UInt64 = 0
    var disconnects: UInt64 = 0
    var errorsReceived: UInt64 = 0
    var lastReconnectDelayMs: UInt64 = 0
    var commitFailures: UInt64 = 0

    /// FORWARD frames written (first sends and re-sends).
    var forwardsSent: UInt64 = 0
    /// Unconfirmed QoS >= 1 forwards queued again for sending by a new session.
    var forwardsResent: UInt64 = 0
    /// REPLAY requests from the coordinator (a destination came back and is owed forwards).
    var replays: UInt64 = 0
    /// QoS >= 1 forwards the coordinator confirmed (removed from the log).
    var forwardsConfirmed: UInt64 = 0
    /// QoS 0 forwards dropped: no session, or the bulk queue full.
    var forwardsDroppedQoS0: UInt64 = 0
    /// Times a publisher stopped being read because the outbound log was at its bound.
    var publishersHeldByLog: UInt64 = 0
    /// Forwards larger than the coordinator's maximum frame size.
    var forwardsTooLarge: UInt64 = 0
    var forwardsExpired: UInt64 = 0

    /// FORWARDs from other gateways delivered locally / dropped as already taken.
    var forwardsReceived: UInt64 = 0
    var duplicatesDropped: UInt64 = 0
    /// A moved session's copies skipped because it took the same message by the other path
    /// during its handover (Protocol/agent-coordinator.md §5.18 rule 4).
    var handoffDuplicatesSkipped: UInt64 = 0
    var deliveryAcksSent: UInt64 = 0
    /// Times the link stopped reading because forwarded messages congested a local subscriber.
    var pausedForSubscribers: UInt64 = 0

    var snapshotsSent: UInt64 = 0
    var deltasSent: UInt64 = 0
    var outOfSyncReceived: UInt64 = 0
    var outOfSyncSent: UInt64 = 0
}

extension CoordinatorLink {
    /// (topic under `$SYS/broker/`, value) for every counter and gauge of the link.
    func sysTopics() -> [(String, String)] {
        let m = metrics
        return [
            ("fabric/link/connected", m.connected ? "1" : "0"),
            ("fabric/link/attempts", "\(m.connectAttempts)"),
            ("fabric/link/sessions", "\(m.sessions)"),
            ("fabric/link/disconnects", "\(m.disconnects)"),
            ("fabric/link/errors_received", "\(m.errorsReceived)"),
            ("fabric/link/commit_failures", "\(m.commitFailures)"),
            ("fabric/forwards/sent", "\(m.forwardsSent)"),
            ("fabric/forwards/resent", "\(m.forwardsResent)"),
            ("fabric/forwards/replays", "\(m.replays)"),
            ("fabric/forwards/confirmed", "\(m.forwardsConfirmed)"),
            ("fabric/forwards/unconfirmed", "\(outbound.count)"),
            ("fabric/forwards/dropped", "\(m.forwardsDroppedQoS0 + m.forwardsTooLarge)"),
            ("fabric/forwards/dropped_qos0", "\(m.forwardsDroppedQoS0)"),
            ("fabric/publishers/held_by_log", "\(m.publishersHeldByLog)"),
            ("fabric/forwards/too_large", "\(m.forwardsTooLarge)"),
            ("fabric/forwards/expired", "\(m.forwardsExpired)"),
            ("fabric/forwards/received", "\(m.forwardsReceived)"),
            ("fabric/forwards/duplicates", "\(m.duplicatesDropped)"),
            ("fabric/migration/handoff_duplicates_skipped", "\(m.handoffDuplicatesSkipped)"),
            ("fabric/acks/sent", "\(m.deliveryAcksSent)"),
            ("fabric/link/paused_for_subscribers", "\(m.pausedForSubscribers)"),
            ("fabric/interest/local", "\(interest.announced.count)"),
            ("fabric/interest/durable", "\(durableInterest.announced.count)"),
            ("fabric/retained/held_while_down", "\(retainedWhileDown.count)"),
            ("fabric/interest/remote", "\(remote.filterCount)"),
            ("fabric/interest/snapshots", "\(m.snapshotsSent)"),
            ("fabric/interest/deltas", "\(m.deltasSent)"),
            ("fabric/interest/out_of_sync_received", "\(m.outOfSyncReceived)"),
            ("fabric/interest/out_of_sync_sent", "\(m.outOfSyncSent)"),
        ]
    }

    /// Publishes `sysTopics()` as retained QoS 0 messages, like the broker's own `$SYS` topics
    /// (kept in memory only, rebuilt each interval).
    func publishSys() {
        for (name, value) in sysTopics() {
            let m = Message(topic: "$SYS/broker/" + name, payload: Array(value.utf8), qos: .atMostOnce, retain: true)
            broker.retained[m.topic] = m
            broker.route(m)
        }
    }
}
