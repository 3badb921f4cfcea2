import FleetCore

/// Taps: exact topics that a part of the agent itself listens on, as if it were a subscriber
/// there (issue #14: a managed socket whose mapping has an MQTT endpoint writes what is published
/// to `<prefix>/<socket-id>/tx` to its device). A tap counts as local interest, so the coordinator
/// routes the topic here from every gateway of the fleet. Taps are exact topics, not filters: one
/// dictionary lookup per routed message, and none at all while no tap exists. They see messages
/// routed from now on, never retained ones (a command published before the socket opened is not
/// the function's answer to it). A tap runs inside `route`: it may write to a stream, but must
/// not publish or route (that would reuse the routing scratch space of the message being
/// routed); anything that would, it defers to a later turn. Loop-thread only, like the broker.
extension Broker {
    /// Listens on `topic` until `removeTap`. One tap per topic: a second replaces the first.
    func addTap(topic: String, _ handler: @escaping (Message) -> Void) {
        if topicTaps.updateValue(handler, forKey: topic) == nil { countInterest(topic, by: 1) }
    }

    func removeTap(topic: String) {
        if topicTaps.removeValue(forKey: topic) != nil { countInterest(topic, by: -1) }
    }

    /// Hands `message` to the tap on its topic; whether there was one.
    func tapMessage(_ message: Message) -> Bool {
        guard let handler = topicTaps[message.topic] else { return false }
        handler(message)
        return true
    }
}
