import FleetCore
import FleetProtocol

extension Broker {
    // MARK: Inbound PUBLISH

    func handlePublish(_ incoming: consuming PublishPacket, from session: Session, on c: MQTTConnection) {
        var p = incoming
        metrics.messagesReceived += 1
        metrics.bytesReceived += UInt64(p.payload.count)
        session.publishedSinceReport &+= 1
        session.publishedBytesSinceReport &+= UInt32(truncatingIfNeeded: p.payload.count)

        if c.version == .v5, p.properties.topicAlias != nil {
            switch c.inboundAliases.resolve(topic: p.topic, alias: p.properties.topicAlias, maximum: limits.topicAliasMaximum) {
            case .success(let topic): p.topic = topic
            case .failure(let violation): return c.protocolViolation(violation.reason, violation.message)
            }
        }
        if c.lastTopicWithinLimits != p.topic {  // a repeated topic (same storage) compares in O(1)
            if let problem = limits.topicProblem(p.topic) {
                return c.protocolViolation(.topicNameInvalid, "topic \(problem)")
            }
            c.lastTopicWithinLimits = p.topic
        }
        if let policy = c.policy, !policy.mayPublish(p.topic) {
            return refusePublish(p, from: session, on: c)
        }

        let id = p.packetId ?? 0
        switch session.machine.receivePublish(qos: p.qos, packetId: id, receiveMaximum: limits.receiveMaximum, out: session) {
        case .accept(let reply):
            accept(p, from: session)
            if let reply { c.sendAck(type: reply, packetId: id) }
        case .duplicate(let reply):
            c.sendAck(type: reply, packetId: id)
        case .violation(let reason, let why):
            c.protocolViolation(reason, why)
        }
    }

    /// A publish the policy refuses: QoS 0 is dropped silently; MQTT 5 acknowledges QoS 1/2 with
    /// 0x87; 3.1.1 cannot say no, so it acknowledges and drops (as mosquitto does), which also
    /// stops the client re-sending forever.
    private func refusePublish(_ p: PublishPacket, from session: Session, on c: MQTTConnection) {
        logDenial(c, "publish", p.topic)
        guard let id = p.packetId, p.qos != .atMostOnce else { return }
        if c.version == .v5 {
            let props = c.reasonString("not authorized to publish to \(p.topic)")
            c.send(p.qos == .atLeastOnce ? .puback(PubAckPacket(packetId: id, reasonCode: .notAuthorized, properties: props))
                                         : .pubrec(PubAckPacket(packetId: id, reasonCode: .notAuthorized, properties: props)))
        } else if p.qos == .atLeastOnce {
            c.sendAck(type: .puback, packetId: id)
        } else {
            session.machine.refusedExactlyOnce(id)  // completes with PUBREL/PUBCOMP like an accepted one
            c.sendAck(type: .pubrec, packetId: id)
        }
    }

    /// Stores (if retained) and routes a message a client published.
    private func accept(_ p: PublishPacket, from session: Session) {
        publishLocally(Message(publish: p, origin: session.clientId, now: now))
    }

    /// A message published on this gateway (by a client or a will): stored if retained, routed
    /// here, offered to the fleet; moving sessions that took it learn the FORWARD sequence it got.
    func publishLocally(_ message: Message) {
        if message.retain { storeRetained(message) }
        route(message)
        let sequence = fabric?.localMessagePublished(message)
        guard !movingDeliveries.isEmpty else { return }  // the common case: nobody is moving
        noteMovingDeliveries(sequence.flatMap { s in fabric.map { FabricIdentity(origin: $0.gatewayId, sequence: s) } })
    }

    func storeRetained(_ message: Message) {
        if message.payload.isEmpty {
            if retained.removeValue(forKey: message.topic) != nil { store.deleteRetained(message.topic) }
            return
        }
        guard retained[message.topic] != nil || retained.count < limits.maxRetainedMessages else {
            metrics.retainedRefused += 1
            return
        }
        var kept = message
        kept.qos = message.qos
        retained[message.topic] = kept
        store.saveRetained(kept)
    }

    func handlePubRel(_ a: PubAckPacket, session: Session, on c: MQTTConnection) {
        session.machine.receivePubRel(a.packetId, out: session)
    }

    // MARK: Acknowledgements of what we sent

    func handlePubAck(_ a: PubAckPacket, session: Session, on c: MQTTConnection) {
        session.machine.receivePubAck(a.packetId, now: now, out: session)
        if c.congestedSince != nil { relieve(c) }
    }

    func handlePubRec(_ a: PubAckPacket, session: Session, on c: MQTTConnection) {
        session.machine.receivePubRec(a.packetId, isError: a.reasonCode.isError, now: now, out: session)
        if c.congestedSince != nil { relieve(c) }
    }

    func handlePubComp(_ a: PubAckPacket, session: Session, on c: MQTTConnection) {
        session.machine.receivePubComp(a.packetId, now: now, out: session)
        if c.congestedSince != nil { relieve(c) }
    }

    // MARK: Routing

    /// Delivers a message to every matching subscription: once per session at the highest QoS of
    /// its matching subscriptions with all their identifiers (MQTT 5 §3.3.4), and to one member of
    /// each matching shared group.
    func route(_ message: Message) {
        if !movingDeliveries.isEmpty { movingDeliveries.removeAll(keepingCapacity: true) }
        routeGeneration &+= 1
        let generation = routeGeneration
        routeTargets.removeAll(keepingCapacity: true)
        subscriptionTable.forEachMatch(topic: message.topic) { session, options in
            if options.noLocal && session.clientId == message.origin { return }
            if session.routeGeneration == generation {
                var t = routeTargets[session.routeSlot]
                t.qos = max(t.qos, options.qos)
                t.retainAsPublished = t.retainAsPublished || options.retainAsPublished
                if let id = options.subscriptionIdentifier { t.subscriptionIdentifiers.append(id) }
                routeTargets[session.routeSlot] = t
            } else {
                session.routeGeneration = generation
                session.routeSlot = routeTargets.count
                routeTargets.append(RouteTarget(session: session, qos: options.qos, retainAsPublished: options.retainAsPublished,
                                                subscriptionIdentifiers: options.subscriptionIdentifier.map { [$0] } ?? []))
            }
        }
        if sharedTable.count > 0 {
            sharedTable.forEachMatch(topic: message.topic) { group, _ in
                guard let (member, options) = pickMember(of: group, origin: message.origin) else { return }
                routeTargets.append(RouteTarget(session: member, qos: options.qos, retainAsPublished: options.retainAsPublished,
                                                subscriptionIdentifiers: options.subscriptionIdentifier.map { [$0] } ?? []))
            }
        }
        // A tap is a listener inside the agent, not a session: one lookup, and only while a tap
        // exists. Last, once the scratch space is no longer read (Broker+Taps).
        if routeTargets.isEmpty {
            if topicTaps.isEmpty || !tapMessage(message) { metrics.messagesUnrouted += 1 }
            return
        }
        defer { if !topicTaps.isEmpty { _ = tapMessage(message) } }
        let now = self.now
        encodeBuffers.beginMessage()
        let fanOut = routeTargets.count > 1
        let excluded = routeExcluded
        // A local copy (one retain per message) keeps the targets alive and unchanged while
        // deliveries run, even if one of them routes again; the elements are then read in place:
        // `for t in routeTargets` copied each target, a retain and a release per delivery
        // (callgrind, fan-out-1000).
        let targets = routeTargets
        targets.withUnsafeBufferPointer { targets in
            for i in targets.indices {
                if let excluded, excluded == ObjectIdentifier(targets[i].session) { continue }
                var m = message
                m.qos = min(message.qos, targets[i].qos)
                m.retain = targets[i].retainAsPublished && message.retain
                deliver(m, to: targets[i].session, subscriptionIdentifiers: targets[i].subscriptionIdentifiers, now: now,
                        shareEncoding: fanOut)
            }
        }
    }

    /// Round robin over the group, preferring members that are connected; an offline persistent
    /// member gets the message queued only when nobody is online.
    private func pickMember(of group: SharedGroup, origin: String?) -> (Session, SubscriptionOptions)? {
        let n = group.members.count
        guard n > 0 else { return nil }
        var fallback: (Session, SubscriptionOptions)?
        for step in 0..<n {
            let i = (group.next + step) % n
            let member = group.members[i]
            guard let options = group.options[ObjectIdentifier(member)] else { continue }
            if member.connection != nil {
                group.next = (i + 1) % n
                return (member, options)
            }
            if fallback == nil && member.isPersistent { fallback = (member, options) }
        }
        group.next = (group.next + 1) % n
        return fallback
    }

    /// Hands one message to one session: QoS 0 straight to the socket if connected (dropped if its
    /// write buffer is over the cap), QoS 1/2 into the in-flight window or the bounded queue.
    /// With `shareEncoding`, plain QoS 0 subscribers share one encoding of the message; the caller
    /// then calls `encodeBuffers.beginMessage()` once before its first delivery of the message.
    /// Without, the PUBLISH is encoded straight into the subscriber's socket queue.
    func deliver(_ m: Message, to session: Session, subscriptionIdentifiers: [UInt32], now: UInt64, shareEncoding: Bool) {
        if let refusal = session.machine.refusal(of: m, now: now) {
            if refusal == .notAuthorized, let c = session.connection { logDenial(c, "receive", m.topic) } else { session.perform(.dropped(refusal)) }
            return
        }
        if m.qos == .atMostOnce {
            guard !session.isMoving, let c = session.connection, c.phase == .connected else { return }
            guard c.stream.pendingWriteBytes < limits.maxPendingWriteBytes else { metrics.messagesDroppedWriteBacklog += 1; return }
            // The common fan-out case (no alias, no identifiers) encodes once for all subscribers.
            let plain = subscriptionIdentifiers.isEmpty && c.outboundAliasLimit == 0 && m.expiresAt == nil
            if !(plain && shareEncoding) {
                if c.sendPublish(m, packetId: 0, dup: false, subscriptionIdentifiers: subscriptionIdentifiers, now: now,
                                 scratch: &encodeBuffers.scratch) {
                    metrics.messagesSent += 1
                } else {
                    metrics.messagesDroppedOverClientMaximum += 1
                }
                applyBackpressure(towards: c)
                return
            }
            let slot = EncodeBuffers.slot(version: c.version, retain: m.retain)
            if plain && encodeBuffers.isEncoded(slot) {
                if encodeBuffers.shared[slot].count <= c.clientMaxPacketSize {
                    c.sendRaw(encodeBuffers.shared[slot])
                    metrics.messagesSent += 1
                } else {
                    metrics.messagesDroppedOverClientMaximum += 1
                }
                applyBackpressure(towards: c)
                return
            }
            let fits = c.encodePublish(m, packetId: 0, dup: false, subscriptionIdentifiers: [], now: now, into: &encodeBuffers.shared[slot])
            encodeBuffers.markEncoded(slot)
            guard fits else { metrics.messagesDroppedOverClientMaximum += 1; return }
            c.sendRaw(encodeBuffers.shared[slot])
            metrics.messagesSent += 1
            applyBackpressure(towards: c)
            return
        }
        guard session.isMoving || session.isArriving else {
            session.machine.offer(m, subscriptionIdentifiers: subscriptionIdentifiers, maxQueued: limits.maxQueuedMessages,
                                  now: now, out: session)
            if let c = session.connection { applyBackpressure(towards: c) }
            return
        }
        // A moving or arriving session: remember which entry this is, for its identity.
        let seq = session.machine.state.nextSeq
        session.machine.offer(m, subscriptionIdentifiers: subscriptionIdentifiers, maxQueued: limits.maxQueuedMessages,
                              now: now, out: session)
        if session.machine.state.nextSeq != seq { movingDeliveries.append((session, seq)) }
    }
}

/// Encode buffers reused by every delivery (their capacity survives between messages, so a warm
/// broker allocates nothing per delivery): the QoS 0 PUBLISH bytes shared by every plain
/// subscriber of one routed message, one slot per protocol version and retain flag, and a scratch
/// buffer for per-subscriber encodings (packet ids, aliases, subscription identifiers).
struct EncodeBuffers {
    var shared: [[UInt8]] = [[], [], [], []]
    var scratch: [UInt8] = []
    /// Bit per slot of `shared`: encoded for the current message.
    private var encoded: UInt8 = 0

    static func slot(version: MQTTVersion, retain: Bool) -> Int { (version == .v5 ? 2 : 0) + (retain ? 1 : 0) }

    /// Forgets the previous message's encodings (keeps the memory).
    mutating func beginMessage() { encoded = 0 }
    func isEncoded(_ slot: Int) -> Bool { encoded & (1 << slot) != 0 }
    mutating func markEncoded(_ slot: Int) { encoded |= 1 << slot }
}
