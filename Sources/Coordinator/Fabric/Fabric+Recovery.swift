/// Recovery after a coordinator restart.
///
/// Origins re-send every unconfirmed QoS >= 1 forward as soon as they reconnect. If the coordinator
/// confirmed those re-sends against only the gateways connected at that moment, a gateway that
/// reconnects a little later would never get them, and the origin would already have deleted them
/// from its log: loss. So after a restart the coordinator confirms nothing until every gateway that
/// was active before has come back and told its interest (or the recovery window has passed: a
/// gateway still away then is treated as down, as at any other time). Then every origin that
/// forwarded QoS >= 1 meanwhile is asked to reconnect, re-sends its whole unconfirmed log to the
/// now complete fleet, and receivers drop what they already have by (origin, sequence).
/// REMOTE_INTEREST is held back as well: a snapshot of the incomplete union would make an agent
/// replace its older, complete view and stop forwarding to the gateways not back yet (their
/// messages would never enter its log). Agents keep their view until recovery ends.
/// Loop-thread only.
extension Fabric {
    var isRecovering: Bool { !recoveryAwaiting.isEmpty }
    private var recoveryWindowMs: UInt64 { max(config.gatewayTimeoutMs, CoordinatorLimits.recoveryWindowMs) }

    /// Called at start with the gateways that were not down in the stored graph.
    func beginRecovery(awaiting gateways: Set<String>) {
        guard !gateways.isEmpty else { return }
        recoveryAwaiting = gateways
        recoveryDeadlineMs = loop.now + recoveryWindowMs
        log.info("recovering: holding confirmations until \(gateways.sorted().joined(separator: ", ")) reconnect (at most \(recoveryWindowMs) ms)")
    }

    /// A gateway's interest is complete again (its snapshot's last part arrived).
    func recoveryInterestKnown(_ gateway: String) {
        guard isRecovering, recoveryAwaiting.remove(gateway) != nil, recoveryAwaiting.isEmpty else { return }
        endRecovery("every gateway is back")
    }

    /// From the sweep: give up waiting for gateways that do not return.
    func checkRecoveryDeadline() {
        guard isRecovering, loop.now >= recoveryDeadlineMs else { return }
        endRecovery("\(recoveryAwaiting.sorted().joined(separator: ", ")) still away after \(recoveryWindowMs) ms")
    }

    /// An origin forwarded QoS >= 1 while confirmations were held.
    func noteRecoveryOrigin(_ origin: String) { recoveryOrigins.insert(origin) }

    private func endRecovery(_ why: String) {
        recoveryAwaiting = []
        let origins = recoveryOrigins
        recoveryOrigins = []
        log.info("recovery over (\(why)); \(origins.count) origins re-send their unconfirmed forwards")
        // Interest was held back while the union was incomplete (sendInterestSnapshot): now it is
        // whole (recoveryAwaiting is empty, so isRecovering is false).
        for id in gatewayConnections.keys.sorted() { if let c = gatewayConnections[id] { sendInterestSnapshot(on: c) } }
        for origin in origins.sorted() {
            gatewayConnections[origin]?.fail(.overloaded, related: .forward, "coordinator recovered: reconnect and re-send unconfirmed forwards")
        }
    }
}
