import FleetCore
import FleetProtocol

// What makes cross-gateway delivery survive a destination that is away (issue #11,
// Protocol/agent-coordinator.md §5.12-5.13): our durable interest, which the coordinator keeps while we are
// down; the per-origin cursors we report after HELLO_ACK, from which it rebuilds what we are owed;
// REPLAY, which re-sends our log from a sequence for a destination that came back; and the last
// retained QoS 0 value per topic published while the link was down. Loop-thread only.
extension CoordinatorLink {
    /// FabricLink: a filter became, or stopped being, durable interest (recorded; sent per turn).
    func durableInterestChanged(filter: String, added: Bool) {
        guard phase == .established else { return }
        durableInterest.record(filter, added: added)
    }

    /// Every durable filter under a new epoch, as DURABLE_INTEREST snapshot parts.
    func sendDurableSnapshot() {
        guard let c = connection else { return }
        for part in durableInterest.snapshot(of: broker.durableInterestSnapshot()) { c.sendControl(.durableInterest(.snapshot(part))) }
    }

    /// The turn's durable interest changes as deltas.
    func flushDurableInterest() {
        guard phase == .established, let c = connection else { return }
        for delta in durableInterest.deltas(maxFilters: limits.maxFiltersPerDelta) { c.sendControl(.durableInterest(.delta(delta))) }
    }

    /// Right after HELLO_ACK: one DELIVERY_ACK per origin we have taken forwards from, with the
    /// highest sequence taken (durable in `forward_seen`). The coordinator rebuilds from these
    /// what we are still owed, with no window that can expire (Protocol/agent-coordinator.md §7.5).
    func reportCursors() {
        guard let c = connection else { return }
        for (origin, seq) in seen.sorted(by: { $0.key < $1.key }) where seq > 0 {
            c.sendControl(.deliveryAck(FleetFrame.DeliveryAck(originGatewayId: origin, upToSequence: seq)))
            metrics.deliveryAcksSent += 1
        }
    }

    /// REPLAY: a destination that was away is owed our forwards from `fromSequence` on. The log
    /// is sent again from there in order (a binary search, not a scan), merging into new traffic.
    func receivedReplay(_ r: FleetFrame.Replay) {
        let rewound = outbound.rewind(toSequence: r.fromSequence)
        metrics.replays += 1
        metrics.forwardsResent += UInt64(rewound)
        pump()
    }

    /// A retained QoS 0 message while the link is down: only its topic's last value matters.
    func holdRetainedWhileDown(_ message: Message) {
        if retainedWhileDown[message.topic] == nil && retainedWhileDown.count >= limits.maxRetainedWhileDown {
            metrics.forwardsDroppedQoS0 += 1
            return
        }
        retainedWhileDown[message.topic] = message
    }

    /// A retained QoS 0 forward queued on the current connection (see `retainedUnconfirmed`).
    func rememberRetained(seq: UInt64, _ message: Message) {
        guard retainedUnconfirmed[message.topic] != nil || retainedUnconfirmed.count < limits.maxRetainedWhileDown else { return }
        retainedUnconfirmed[message.topic] = (seq, message)
    }

    /// The connection closed: retained QoS 0 values it may have lost are sent again on the next
    /// one, unless a newer value of the topic was published since.
    func keepRetainedNotConfirmed() {
        for (topic, entry) in retainedUnconfirmed where retainedWhileDown[topic] == nil { holdRetainedWhileDown(entry.message) }
        retainedUnconfirmed = [:]
    }

    /// The link is back: the held retained values go out first among QoS 0 forwards.
    func sendRetainedHeldWhileDown() {
        guard !retainedWhileDown.isEmpty else { return }
        let held = retainedWhileDown.sorted { $0.key < $1.key }
        retainedWhileDown = [:]
        for (_, message) in held { localMessagePublished(message) }
    }
}
