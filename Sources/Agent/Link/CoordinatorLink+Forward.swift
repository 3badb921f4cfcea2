import FleetCore
import FleetProtocol
import FleetRuntime

// Forwarding out (FORWARD, the outbound log, DELIVERY_ACK from the coordinator) and in (FORWARD
// from other gateways, dedup per origin, our DELIVERY_ACK), Protocol/agent-coordinator.md §5.9-5.10.
// Loop-thread only.
extension CoordinatorLink {
    /// Restores the log, the dedup marks and the sequence, and reserves the next block of
    /// sequences on disk (so a restart never reuses one, even one given to a QoS 0 forward).
    func restore() throws {
        let loaded = try store.load()
        for (seq, message) in loaded.log { outbound.append(seq: seq, message: message) }
        seen = loaded.seen
        nextSequence = loaded.nextSeq
        if loaded.isFresh && loaded.log.isEmpty {
            // A new store under a gateway id that may have been used before (reinstalled, or
            // removed and added again): other gateways remember the highest sequence they took
            // from this id and drop anything not above it. Starting from the wall clock in
            // microseconds puts us above any sequence an earlier install could have reached.
            nextSequence = max(nextSequence, broker.now &* 1000)  // broker.now: wall-clock ms
        }
        reservedSequence = nextSequence + limits.sequenceBlock
        store.reserve(upTo: reservedSequence)
        try store.commit()
        if outbound.count > 0 { log.info("coordinator link: \(outbound.count) unconfirmed forwards to re-send") }
    }

    /// A sequence for a new forward. Crossing the reserved block reserves the next one in this
    /// turn's commit, which runs before the frame can leave.
    private func takeSequence() -> UInt64 {
        let seq = nextSequence
        nextSequence += 1
        if nextSequence >= reservedSequence {
            reservedSequence = nextSequence + limits.sequenceBlock
            store.reserve(upTo: reservedSequence)
        }
        return seq
    }

    /// FabricLink: a local client (or a will) published `message`. Forwarded only when another
    /// gateway wants the topic (one trie walk), or always when retained (retained state is
    /// fleet-wide). QoS >= 1 goes into the outbound log (durable at the end of the turn, before
    /// the publisher's PUBACK leaves); QoS 0 is best effort.
    @discardableResult
    func localMessagePublished(_ message: Message) -> UInt64? {
        guard phase != .stopped, !message.topic.hasPrefix("$SYS") else { return nil }
        guard message.retain || remote.wants(message.topic) else { return nil }
        if message.isExpired(now: broker.now) { return nil }
        let seq: UInt64
        if message.qos == .atMostOnce {
            if message.retain && phase != .established { holdRetainedWhileDown(message); return nil }
            guard phase == .established, queuedQoS0.count < limits.maxQueuedQoS0 else {
                metrics.forwardsDroppedQoS0 += 1
                return nil
            }
            seq = takeSequence()
            queuedQoS0.append((seq, message))
            if message.retain { rememberRetained(seq: seq, message) }
        } else {
            // Always logged: the publisher gets its PUBACK after this turn's commit, so dropping
            // the forward here would lose an acknowledged message (Protocol/agent-coordinator.md §8 rule 5).
            // At the bound the publisher is not read any more until confirmations free the log.
            // A retained QoS 0 value held from an outage is older than this one: never send it after.
            if message.retain { retainedWhileDown[message.topic] = nil; retainedUnconfirmed[message.topic] = nil }
            seq = takeSequence()
            outbound.append(seq: seq, message: message)
            store.insert(seq: seq, message: message)
            if outbound.count >= limits.maxUnacked { holdCurrentPublisherForLog() }
        }
        pump()
        return seq
    }

    /// Stops reading the publisher whose message filled the log (`Broker+Backpressure`'s
    /// mechanism: a publisher held by several parties resumes when the last lets go). A will or
    /// a `$SYS` message has no publisher to hold: the log then exceeds its bound by that message.
    private func holdCurrentPublisherForLog() {
        guard let publisher = broker.currentPublisher, !publishersHeldByLog.contains(where: { $0 === publisher }) else { return }
        if publisher.hold() { broker.metrics.publishersThrottled += 1 }
        publishersHeldByLog.append(publisher)
        metrics.publishersHeldByLog += 1
        if publishersHeldByLog.count == 1 {
            log.warning("coordinator link: \(outbound.count) unconfirmed forwards (limit \(limits.maxUnacked)); publishers wait until the coordinator confirms")
        }
    }

    /// Lets the held publishers read again (below half the bound, so they do not flap).
    func releasePublishersHeldByLog() {
        guard !publishersHeldByLog.isEmpty else { return }
        let held = publishersHeldByLog
        publishersHeldByLog = []
        for p in held { p.release() }
    }

    /// Hands FORWARD frames to the socket in sequence order (merging the log and the QoS 0 queue)
    /// while it is under the bulk watermark (Protocol/agent-coordinator.md §8). Bounded: every round consumes
    /// one entry or stops.
    func pump() {
        guard phase == .established, let c = connection else { return }
        let now = broker.now
        while c.canTakeBulk {
            let logged = outbound.nextUnsent()
            let fromLog: Bool
            let seq: UInt64, message: Message
            switch (logged, queuedQoS0.first) {
            case (nil, nil): return
            case (let l?, nil): fromLog = true; seq = l.seq; message = l.message
            case (nil, let q?): fromLog = false; seq = q.seq; message = q.message
            case (let l?, let q?):
                fromLog = l.seq < q.seq
                (seq, message) = fromLog ? (l.seq, l.message) : (q.seq, q.message)
            }
            var forward = FleetFrame.Forward(originGatewayId: settings.gatewayId, sequence: seq, topic: message.topic, qos: message.qos,
                                             retain: message.retain, properties: message.properties, payload: message.payload)
            forward.properties.messageExpiryInterval = message.remainingExpiry(now: now)
            // A logged forward that cannot go out as it is (expired; over a protocol limit, which
            // the MQTT decoder makes unreachable from a device; larger than the coordinator
            // accepts) goes out as an expired tombstone: destinations take each origin's forwards
            // strictly in order, so the coordinator must see every logged sequence (a gap would
            // hold a destination's stream, DeliveryLedger). The tombstone is delivered to nobody.
            let expired = message.isExpired(now: now)
            var encoded: [UInt8]?
            var problem: String?
            if !expired {
                if let p = forward.limitProblem { problem = p } else { encoded = c.encodeBulk(.forward(forward)) }
                if encoded == nil && problem == nil { problem = "larger than the coordinator accepts" }
            }
            if encoded == nil {
                if let problem { log.warning("coordinator link: forward \(seq) on \(message.topic) cannot be sent (\(problem)); dropped") }
                if expired { metrics.forwardsExpired += 1 } else { metrics.forwardsTooLarge += 1 }
                guard fromLog else { _ = queuedQoS0.popFirst(); continue }
                encoded = c.encodeBulk(.forward(FleetFrame.Forward(originGatewayId: settings.gatewayId, sequence: seq, topic: message.topic,
                                                                   qos: message.qos, retain: false, properties: Self.tombstoneProperties, payload: [])))
            }
            guard let bytes = encoded else { outbound.dropUnsent(); store.delete(seq: seq); continue }
            c.sendBulk(bytes)
            metrics.forwardsSent += 1
            if fromLog { outbound.advance() } else { _ = queuedQoS0.popFirst() }
        }
    }

    /// An expired message: receivers discard it on arrival.
    static let tombstoneProperties: MQTTProperties = {
        var p = MQTTProperties()
        p.messageExpiryInterval = 0
        return p
    }()

    /// The coordinator confirms our forwards: every destination took them, so they leave the log.
    func receivedDeliveryAck(_ ack: FleetFrame.DeliveryAck) {
        guard ack.originGatewayId == settings.gatewayId else { return }  // not ours to act on
        var confirmed = 0
        if ack.upToSequence > 0 {
            confirmed += outbound.confirm(upTo: ack.upToSequence)
            store.delete(upTo: ack.upToSequence)
            if !retainedUnconfirmed.isEmpty { retainedUnconfirmed = retainedUnconfirmed.filter { $0.value.seq > ack.upToSequence } }
        }
        for seq in ack.sequences where outbound.confirm(seq: seq) {
            confirmed += 1
            store.delete(seq: seq)
        }
        if !retainedUnconfirmed.isEmpty && !ack.sequences.isEmpty {
            let told = Set(ack.sequences)
            retainedUnconfirmed = retainedUnconfirmed.filter { !told.contains($0.value.seq) }
        }
        metrics.forwardsConfirmed += UInt64(confirmed)
        if outbound.count <= limits.maxUnacked / 2 { releasePublishersHeldByLog() }
    }

    /// A publication from another gateway: delivered locally once, in the origin's order; a
    /// sequence not above the highest taken from that origin is a re-send and is dropped (and
    /// acknowledged again, the previous acknowledgement may have been lost).
    func receivedForward(_ f: FleetFrame.Forward) {
        let origin = f.originGatewayId
        guard origin != settings.gatewayId else { return }  // never delivered back to its origin
        if f.sequence <= seen[origin, default: 0] {
            metrics.duplicatesDropped += 1
            if f.qos != .atMostOnce { acksDue.insert(origin) }
            return
        }
        seen[origin] = f.sequence
        store.setSeen(origin: origin, seq: f.sequence)
        if f.retain {
            // Another gateway's newer retained value: ours from an outage must not overwrite it.
            retainedUnconfirmed[f.topic] = nil
            retainedWhileDown[f.topic] = nil
        }
        var properties = f.properties
        let expiry = properties.messageExpiryInterval
        properties.messageExpiryInterval = nil
        let now = broker.now
        let message = Message(topic: f.topic, payload: f.payload, qos: f.qos, retain: f.retain, properties: properties,
                              expiresAt: expiry.map { now + UInt64($0) * 1000 }, origin: nil)
        metrics.forwardsReceived += 1
        let identity = FabricIdentity(origin: origin, sequence: f.sequence)
        broker.deliverForwarded(message, identity: identity, excluding: alreadyHandedOff(identity))
        if f.qos != .atMostOnce { acksDue.insert(origin) }
    }

    /// After the turn's commit: one cumulative DELIVERY_ACK per origin that sent QoS >= 1.
    func sendAcks() {
        guard !acksDue.isEmpty else { return }
        defer { acksDue = [] }
        guard phase == .established, let c = connection else { return }
        for origin in acksDue.sorted() {
            c.sendControl(.deliveryAck(FleetFrame.DeliveryAck(originGatewayId: origin, upToSequence: seen[origin, default: 0])))
            metrics.deliveryAcksSent += 1
        }
    }
}
