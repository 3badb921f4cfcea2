import FleetProtocol

/// What the broker does with a PUBLISH the client sent.
public enum InboundPublishDecision: Equatable, Sendable {
    /// Route it, then answer with `reply` (PUBACK for QoS 1, PUBREC for QoS 2, nothing for QoS 0).
    case accept(reply: MQTTPacketType?)
    /// A QoS 2 PUBLISH re-sent before its PUBREL: answered again, not delivered twice.
    case duplicate(reply: MQTTPacketType)
    /// A protocol error: disconnect with this reason.
    case violation(ReasonCode, String)
}

/// Messages from the client: QoS 0/1/2 receipt and the QoS 2 release (MQTT §4.3).
extension SessionMachine {
    /// Decides an inbound PUBLISH the policy allowed. QoS 2 ids are remembered until PUBREL
    /// (persisted, so a re-send after a restart is not delivered twice), at most our Receive
    /// Maximum of them.
    public mutating func receivePublish(qos: QoS, packetId: UInt16, receiveMaximum: UInt16,
                                        out: some SessionOutput) -> InboundPublishDecision {
        switch qos {
        case .atMostOnce:
            return .accept(reply: nil)
        case .atLeastOnce:
            return .accept(reply: .puback)
        case .exactlyOnce:
            if inboundQoS2.contains(packetId) { return .duplicate(reply: .pubrec) }
            guard inboundQoS2.count < Int(receiveMaximum) else {
                return .violation(.receiveMaximumExceeded, "more than \(receiveMaximum) QoS 2 messages awaiting PUBREL")
            }
            inboundQoS2.insert(packetId)
            if isPersistent { out.perform(.saveSession) }
            return .accept(reply: .pubrec)
        }
    }

    /// A QoS 2 PUBLISH refused (not authorized) to a 3.1.1 client, which cannot be told no: it is
    /// acknowledged and dropped, and completes with PUBREL/PUBCOMP like an accepted one.
    public mutating func refusedExactlyOnce(_ packetId: UInt16) {
        inboundQoS2.insert(packetId)
    }

    /// PUBREL: the QoS 2 exchange ends; PUBCOMP answers it, with 0x92 in MQTT 5 for an id we
    /// did not hold (3.1.1 has no such code).
    public mutating func receivePubRel(_ packetId: UInt16, out: some SessionOutput) {
        let known = inboundQoS2.remove(packetId) != nil
        if known && isPersistent { out.perform(.saveSession) }
        out.writeAck(.pubcomp, packetId: packetId,
                     reason: known || protocolVersion == .v311 ? .success : .packetIdentifierNotFound)
    }
}
