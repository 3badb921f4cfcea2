import FleetCore
import FleetProtocol

/// What the coordinator link needs from the broker, and nothing more: interest changes for the
/// interest snapshot/deltas, each message local clients publish (to forward if a remote gateway
/// wants it), and a way in for messages forwarded from other gateways.
protocol FabricLink: AnyObject {
    /// `filter` got its first local subscriber (added) or lost its last (removed). Shared
    /// subscriptions report their plain filter.
    func interestChanged(filter: String, added: Bool)
    /// The same for durable interest (QoS >= 1 subscriptions of sessions that outlive their
    /// connection, `Broker.isDurable`).
    func durableInterestChanged(filter: String, added: Bool)
    /// A message a local client (or a will) published, after local routing and retained handling.
    /// QoS >= 1 forwards must be durable by the end of the loop turn (the PUBACK leaves after).
    /// Returns the FORWARD sequence it got, nil when it is not forwarded.
    @discardableResult
    func localMessagePublished(_ message: Message) -> UInt64?
    /// This gateway's id in the fleet.
    var gatewayId: String { get }
}

/// Where a message entered the fleet: the gateway and its FORWARD sequence from there
/// (Protocol/agent-coordinator.md §5.18 rule 4). Kept only for messages queued to a session that is moving.
struct FabricIdentity: Hashable {
    let origin: String
    let sequence: UInt64
}

extension Broker {
    /// Every distinct filter with at least one local subscriber (shared ones as their plain filter).
    func interestSnapshot() -> [String] { interestCounts.keys.sorted() }

    /// Every distinct filter that is durable interest.
    func durableInterestSnapshot() -> [String] { durableInterestCounts.keys.sorted() }

    /// A message forwarded from another gateway: stored if retained, delivered to local
    /// subscribers, and never forwarded again. `excluding`: a session moved here that already
    /// has this message from its source (§5.18 rule 4).
    func deliverForwarded(_ message: Message, identity: FabricIdentity, excluding: Session? = nil) {
        metrics.messagesForwardedIn += 1
        if message.retain { storeRetained(message) }
        routeIdentity = identity
        routeExcluded = excluding.map(ObjectIdentifier.init)
        route(message)
        routeIdentity = nil
        routeExcluded = nil
        noteMovingDeliveries(identity)
    }

    /// Moving sessions that took the message just routed keep its identity, for the hand-off;
    /// arriving ones, to check the hand-off against.
    func noteMovingDeliveries(_ identity: FabricIdentity?) {
        guard !movingDeliveries.isEmpty else { return }
        if let identity {
            for (session, seq) in movingDeliveries {
                if session.isArriving { session.identitiesTaken.insert(identity) } else { session.handoffIdentities[seq] = identity }
            }
        }
        movingDeliveries.removeAll(keepingCapacity: true)
    }
}
