import FleetCore
import FleetProtocol

extension Broker {
    /// A topic name/filter over our limits, named; nil if it is fine. Syntax was checked by the codec.
    func topicProblem(_ topic: String) -> String? {
        let utf8 = topic.utf8
        if utf8.count > limits.maxTopicLength { return "longer than \(limits.maxTopicLength) bytes" }
        var levels = 1
        for b in utf8 where b == UInt8(ascii: "/") {
            levels += 1
            if levels > limits.maxTopicLevels { return "more than \(limits.maxTopicLevels) levels" }
        }
        return nil
    }

    // MARK: Inbound PUBLISH

    func handlePublish(_ incoming: consuming PublishPacket, from session: Session, on c: MQTTConnection) {
        var p = incoming
        metrics.messagesReceived += 1
        metrics.bytesReceived += UInt64(p.payload.count)
        session.publishedSinceReport &+= 1
        session.publishedBytesSinceReport &+= UInt32(truncatingIfNeeded: p.payload.count)

        if c.version == .v5, let alias = p.properties.topicAlias {
            guard alias >= 1 && alias <= limits.topicAliasMaximum else {
                return c.protocolViolation(.topicAliasInvalid, "topic alias \(alias) outside 1...\(limits.topicAliasMaximum)")
            }
            if p.topic.isEmpty {
                guard let topic = c.inboundAliases[alias] else {
                    return c.protocolViolation(.protocolError, "topic alias \(alias) used before it was set")
                }
                p.topic = topic
            } else {
                c.inboundAliases[alias] = p.topic
            }
        }
        if c.lastTopicWithinLimits != p.topic {  // a repeated topic (same storage) compares in O(1)
            if let problem = topicProblem(p.topic) {
                return c.protocolViolation(.topicNameInvalid, "topic \(problem)")
            }
            c.lastTopicWithinLimits = p.topic
        }
        if let policy = c.policy, !policy.mayPublish(p.topic) {
            return refusePublish(p, from: session, on: c)
        }

        switch p.qos {
        case .atMostOnce:
            accept(p, from: session)
        case .atLeastOnce:
            accept(p, from: session)
            c.sendAck(type: .puback, packetId: p.packetId ?? 0)
        case .exactlyOnce:
            let id = p.packetId ?? 0
            if !session.inboundQoS2.contains(id) {
                guard session.inboundQoS2.count < Int(limits.receiveMaximum) else {
                    return c.protocolViolation(.receiveMaximumExceeded, "more than \(limits.receiveMaximum) QoS 2 messages awaiting PUBREL")
                }
                session.inboundQoS2.insert(id)
                if session.isPersistent { store.markDirty(session) }
                accept(p, from: session)
            }
            // A re-sent PUBLISH (same id before PUBREL) is acknowledged again, not delivered twice.
            c.sendAck(type: .pubrec, packetId: id)
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
            session.inboundQoS2.insert(id)  // completes with PUBREL/PUBCOMP like an accepted one
            c.sendAck(type: .pubrec, packetId: id)
        }
    }

    /// Stores (if retained) and routes a message a client published.
    private func accept(_ p: PublishPacket, from session: Session) {
        let message = Message(publish: p, origin: session.clientId, now: now)
        if message.retain { storeRetained(message) }
        route(message)
        fabric?.localMessagePublished(message)
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
        let known = session.inboundQoS2.remove(a.packetId) != nil
        if known && session.isPersistent { store.markDirty(session) }
        c.send(.pubcomp(PubAckPacket(packetId: a.packetId, reasonCode: known || c.version == .v311 ? .success : .packetIdentifierNotFound)))
    }

    // MARK: Acknowledgements of what we sent

    func handlePubAck(_ a: PubAckPacket, session: Session, on c: MQTTConnection) {
        guard let i = session.inflightIndex(packetId: a.packetId), session.inflight[i].phase == .published,
              session.inflight[i].message.qos == .atLeastOnce else {
            return  // MQTT 5 §4.3.2: an unknown id is ignored, not an error
        }
        complete(session, at: i, on: c)
    }

    func handlePubRec(_ a: PubAckPacket, session: Session, on c: MQTTConnection) {
        guard let i = session.inflightIndex(packetId: a.packetId), session.inflight[i].message.qos == .exactlyOnce else {
            if c.version == .v5 { c.send(.pubrel(PubAckPacket(packetId: a.packetId, reasonCode: .packetIdentifierNotFound))) }
            else { c.send(.pubrel(PubAckPacket(packetId: a.packetId))) }
            return
        }
        if a.reasonCode.isError {  // MQTT 5 §4.3.3: the receiver refused it; the exchange ends here
            return complete(session, at: i, on: c)
        }
        session.inflight[i].phase = .released
        session.acknowledgedBeforeResend(a.packetId)
        if session.isPersistent { store.saveOutbound(session.inflight[i], of: session.clientId, bodyNeeded: false) }
        c.sendAck(type: .pubrel, packetId: a.packetId)
    }

    func handlePubComp(_ a: PubAckPacket, session: Session, on c: MQTTConnection) {
        guard let i = session.inflightIndex(packetId: a.packetId), session.inflight[i].phase == .released else { return }
        complete(session, at: i, on: c)
    }

    private func complete(_ session: Session, at i: Int, on c: MQTTConnection) {
        let done = session.removeInflight(at: i)
        if session.isPersistent { store.deleteOutbound(seq: done.seq, of: session.clientId) }
        metrics.messagesAcknowledged += 1
        pump(session, now: now)
        if c.congestedSince != nil { relieve(c) }
    }

    // MARK: Routing

    /// Delivers a message to every matching subscription: once per session at the highest QoS of
    /// its matching subscriptions with all their identifiers (MQTT 5 §3.3.4), and to one member of
    /// each matching shared group.
    func route(_ message: Message) {
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
        if routeTargets.isEmpty { metrics.messagesUnrouted += 1; return }
        let now = self.now
        encodeBuffers.beginMessage()
        let fanOut = routeTargets.count > 1
        for t in routeTargets {
            var m = message
            m.qos = min(message.qos, t.qos)
            m.retain = t.retainAsPublished && message.retain
            deliver(m, to: t.session, subscriptionIdentifiers: t.subscriptionIdentifiers, now: now, shareEncoding: fanOut)
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
        if m.isExpired(now: now) { metrics.messagesExpired += 1; return }
        if let policy = session.policy, !policy.mayReceive(m.topic) {
            if let c = session.connection { logDenial(c, "receive", m.topic) } else { metrics.authorizationDenials += 1 }
            return
        }
        if m.qos == .atMostOnce {
            guard let c = session.connection, c.phase == .connected else { return }
            guard c.stream.pendingWriteBytes < limits.maxPendingWriteBytes else { metrics.messagesDropped += 1; return }
            // The common fan-out case (no alias, no identifiers) encodes once for all subscribers.
            let plain = subscriptionIdentifiers.isEmpty && c.outboundAliasLimit == 0 && m.expiresAt == nil
            if !(plain && shareEncoding) {
                if c.sendPublish(m, packetId: 0, dup: false, subscriptionIdentifiers: subscriptionIdentifiers, now: now,
                                 scratch: &encodeBuffers.scratch) {
                    metrics.messagesSent += 1
                } else {
                    metrics.messagesDropped += 1
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
                    metrics.messagesDropped += 1
                }
                applyBackpressure(towards: c)
                return
            }
            let fits = c.encodePublish(m, packetId: 0, dup: false, subscriptionIdentifiers: [], now: now, into: &encodeBuffers.shared[slot])
            encodeBuffers.markEncoded(slot)
            guard fits else { metrics.messagesDropped += 1; return }
            c.sendRaw(encodeBuffers.shared[slot])
            metrics.messagesSent += 1
            applyBackpressure(towards: c)
            return
        }
        // The in-flight window is bounded by the client's Receive Maximum; this bounds the rest.
        if session.queue.count >= limits.maxQueuedMessages && !(session.connection != nil && session.inflight.count < (session.connection?.sendWindow ?? 0)) {
            metrics.messagesDropped += 1  // overflow policy: the newest message is dropped
            return
        }
        let out = OutboundMessage(seq: session.takeSeq(), message: m, subscriptionIdentifiers: subscriptionIdentifiers)
        if session.queue.isEmpty, session.awaitingResend.isEmpty, let c = session.connection, canSend(to: session, on: c) {
            // The common case: room in the window, nothing waiting ahead; skip the queue.
            send(out, to: session, on: c, now: now)
            applyBackpressure(towards: c)
            return
        }
        session.queue.append(out)
        if session.isPersistent { store.saveOutbound(out, of: session.clientId, bodyNeeded: true) }
        pump(session, now: now)
        if let c = session.connection { applyBackpressure(towards: c) }
    }

    /// Moves queued messages into the in-flight window while the client has room (its Receive
    /// Maximum) and its socket is not backed up.
    func pump(_ session: Session, now: UInt64) {
        guard let c = session.connection else { return }
        if !session.awaitingResend.isEmpty {
            resendInflight(session, on: c, now: now)
            guard session.awaitingResend.isEmpty else { return }  // new messages wait behind re-sends
        }
        while canSend(to: session, on: c), let next = session.queue.popFirst() {
            // Queued before this connection's rules were known (restored after a restart).
            if next.message.isExpired(now: now) || !(session.policy?.mayReceive(next.message.topic) ?? true) {
                metrics.messagesExpired += 1
                if session.isPersistent { store.deleteOutbound(seq: next.seq, of: session.clientId) }
                continue
            }
            send(next, to: session, on: c, now: now)
        }
    }

    private func canSend(to session: Session, on c: MQTTConnection) -> Bool {
        c.phase == .connected && session.inflight.count < c.sendWindow && c.stream.pendingWriteBytes < limits.maxPendingWriteBytes
    }

    /// Re-sends in-flight PUBLISHes of a resumed session, with DUP and their packet ids, while the
    /// client's current Receive Maximum has room. One its current Maximum Packet Size refuses is
    /// dropped for it, as a new delivery would be, instead of staying in flight for ever.
    private func resendInflight(_ session: Session, on c: MQTTConnection, now: UInt64) {
        while !session.awaitingResend.isEmpty, c.phase == .connected, session.sentInflightCount < c.sendWindow,
              c.stream.pendingWriteBytes < limits.maxPendingWriteBytes {
            let id = session.awaitingResend.removeFirst()
            guard let i = session.inflightIndex(packetId: id), session.inflight[i].phase == .published else { continue }
            let m = session.inflight[i]
            if !c.sendPublish(m.message, packetId: id, dup: true, subscriptionIdentifiers: m.subscriptionIdentifiers, now: now,
                              scratch: &encodeBuffers.scratch) {
                metrics.messagesDropped += 1
                session.removeInflight(at: i)
                if session.isPersistent { store.deleteOutbound(seq: m.seq, of: session.clientId) }
            }
        }
    }

    /// Gives the message a packet id, writes it and keeps it in flight until acknowledged.
    private func send(_ message: OutboundMessage, to session: Session, on c: MQTTConnection, now: UInt64) {
        var next = message
        next.packetId = session.allocatePacketId()
        next.phase = .published
        // Checked before the write: a packet the client would refuse is never put in flight.
        guard c.sendPublish(next.message, packetId: next.packetId, dup: false, subscriptionIdentifiers: next.subscriptionIdentifiers,
                            now: now, scratch: &encodeBuffers.scratch) else {
            metrics.messagesDropped += 1  // larger than the client accepts: dropped as if delivered
            if session.isPersistent { store.deleteOutbound(seq: next.seq, of: session.clientId) }
            return
        }
        if session.isPersistent { store.saveOutbound(next, of: session.clientId, bodyNeeded: true) }
        session.addInflight(next)
        metrics.messagesSent += 1
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
