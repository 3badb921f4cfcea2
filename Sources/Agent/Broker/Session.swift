import FleetCore
import FleetProtocol

/// A session at run time: its rules and state (`SessionMachine`, FleetCore) plus what only exists
/// while the broker runs (the connection, route bookkeeping, load counters). It is also the
/// machine's output: what the machine decides goes to the connection, the store and the metrics
/// from here. Loop-thread only.
final class Session: Hashable {
    /// Also the machine's; kept here because the output (below) needs it while the machine is
    /// being mutated, where reading `machine` would overlap that access.
    let clientId: String
    var machine: SessionMachine
    /// unowned(unsafe): the broker outlives every session (see MQTTConnection.broker).
    unowned(unsafe) let broker: Broker

    /// Strong on purpose (a weak load per delivery showed in profiles); cleared when the
    /// connection closes, which breaks the cycle with `MQTTConnection.session`.
    var connection: MQTTConnection?

    /// Route bookkeeping: merges overlapping subscriptions without a hash map per publish.
    var routeGeneration: UInt64 = 0
    var routeSlot: Int = 0

    /// Messages and payload bytes this client published since the last LOAD_REPORT (its top
    /// talkers; reset by CoordinatorLink+Load). 32 bits: a report interval is seconds long.
    var publishedSinceReport: UInt32 = 0
    var publishedBytesSinceReport: UInt32 = 0
    /// Being moved to another gateway (Broker+Migration): nothing new is sent to the client; QoS
    /// >= 1 waits in the queue and moves with the session, QoS 0 is not delivered.
    var isMoving = false
    /// While moving: the fleet identity of queued messages by session sequence (the hand-off
    /// carries it so the target takes each message once).
    var handoffIdentities: [Int64: FabricIdentity] = [:]
    /// Moved here and its hand-off not finished: the identities of the messages it took here
    /// meanwhile, against which the source's hand-off is checked.
    var isArriving = false
    var identitiesTaken: Set<FabricIdentity> = []

    init(machine: SessionMachine, broker: Broker) {
        self.clientId = machine.clientId
        self.machine = machine
        self.broker = broker
    }

    static func == (a: Session, b: Session) -> Bool { a === b }
    func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }

    var isPersistent: Bool { machine.isPersistent }
    /// The session as a value (what persistence stores and a migration would move).
    var state: SessionState { machine.state }
}

/// Carries out the machine's decisions. Nothing here may touch `machine`: these run inside one
/// of its mutating calls.
extension Session: SessionOutput {
    var canWritePublish: Bool {
        guard !isMoving, let c = connection else { return false }
        return c.phase == .connected && c.stream.pendingWriteBytes < broker.limits.maxPendingWriteBytes
    }

    func writePublish(_ delivery: OutboundMessage, dup: Bool, now: UInt64) -> Bool {
        guard let c = connection else { return false }
        return c.sendPublish(delivery.message, packetId: delivery.packetId, dup: dup,
                             subscriptionIdentifiers: delivery.subscriptionIdentifiers, now: now,
                             scratch: &broker.encodeBuffers.scratch)
    }

    func writeAck(_ type: MQTTPacketType, packetId: UInt16, reason: ReasonCode) {
        guard let c = connection else { return }
        guard reason != .success else { return c.sendAck(type: type, packetId: packetId) }
        let ack = PubAckPacket(packetId: packetId, reasonCode: reason)
        switch type {
        case .puback: c.send(.puback(ack))
        case .pubrec: c.send(.pubrec(ack))
        case .pubrel: c.send(.pubrel(ack))
        default: c.send(.pubcomp(ack))
        }
    }

    func perform(_ effect: SessionEffect) {
        switch effect {
        case .saveOutbound(let m, let bodyNeeded): broker.store.saveOutbound(m, of: clientId, bodyNeeded: bodyNeeded)
        case .deleteOutbound(let seq): broker.store.deleteOutbound(seq: seq, of: clientId)
        case .saveSession: broker.store.markDirty(self)
        case .sent: broker.metrics.messagesSent += 1
        case .acknowledged: broker.metrics.messagesAcknowledged += 1
        case .dropped(.expired): broker.metrics.messagesExpired += 1
        case .dropped(.notAuthorized): broker.metrics.authorizationDenials += 1
        case .dropped(.queueFull): broker.metrics.messagesDroppedQueueFull += 1
        case .dropped(.overClientMaximum): broker.metrics.messagesDroppedOverClientMaximum += 1
        }
    }
}
