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
    func localMessagePublished(_ message: Message)
}

extension Broker {
    /// Every distinct filter with at least one local subscriber (shared ones as their plain filter).
    func interestSnapshot() -> [String] { interestCounts.keys.sorted() }

    /// Every distinct filter that is durable interest.
    func durableInterestSnapshot() -> [String] { durableInterestCounts.keys.sorted() }

    /// A message forwarded from another gateway: stored if retained, delivered to local
    /// subscribers, and never forwarded again.
    func deliverForwarded(_ message: Message) {
        metrics.messagesForwardedIn += 1
        if message.retain { storeRetained(message) }
        route(message)
    }
}
