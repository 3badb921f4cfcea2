import FleetCore
import FleetProtocol

extension Broker {
    func handleSubscribe(_ s: SubscribePacket, session: Session, on c: MQTTConnection) {
        let v5 = c.version == .v5
        let identifier = s.properties.subscriptionIdentifiers.first
        var codes: [ReasonCode] = []
        var retainedToSend: [(filter: String, options: SubscriptionOptions)] = []
        var refusals: [String] = []
        for request in s.subscriptions {
            let shared = MQTTTopic.parseShared(request.filter)
            if shared != nil && request.noLocal {
                // MQTT 5 §3.8.3.1: No Local on a shared subscription is a protocol error.
                return c.protocolViolation(.protocolError, "no local on shared subscription \(request.filter)")
            }
            if let problem = limits.topicProblem(request.filter) {
                codes.append(v5 ? .topicFilterInvalid : .v311SubscribeFailure)
                refusals.append("\(request.filter): \(problem)")
                continue
            }
            if isDenied(request.filter) || !(c.policy?.maySubscribe(request.filter) ?? true) {
                logDenial(c, "subscribe", request.filter)
                metrics.subscriptionsDenied += 1
                codes.append(v5 ? .notAuthorized : .v311SubscribeFailure)
                refusals.append("\(request.filter): not authorized")
                continue
            }
            let options = SubscriptionOptions(request, identifier: identifier)
            let outcome = session.machine.subscribe(request.filter, options: options, maxSubscriptions: limits.maxSubscriptionsPerSession)
            if outcome == .quotaExceeded {
                codes.append(v5 ? .quotaExceeded : .v311SubscribeFailure)
                refusals.append("\(request.filter): more than \(limits.maxSubscriptionsPerSession) subscriptions")
                continue
            }
            addToTables(filter: request.filter, options: options, session: session)
            codes.append(ReasonCode(request.qos.rawValue))
            if SessionMachine.sendsRetained(options, isShared: shared != nil, outcome: outcome) {
                retainedToSend.append((request.filter, options))
            }
        }
        if session.isPersistent { store.markDirty(session) }
        var props = MQTTProperties()
        if !refusals.isEmpty { props = c.reasonString(refusals.joined(separator: "; ")) }
        c.send(.suback(SubAckPacket(packetId: s.packetId, reasonCodes: codes, properties: props)))
        let now = self.now
        for (filter, options) in retainedToSend { sendRetained(matching: filter, options: options, to: session, now: now) }
    }

    func handleUnsubscribe(_ u: UnsubscribePacket, session: Session, on c: MQTTConnection) {
        var codes: [ReasonCode] = []
        for filter in u.filters {
            if session.machine.unsubscribe(filter) {
                removeFromTables(filter: filter, session: session)
                codes.append(.success)
            } else {
                codes.append(.noSubscriptionExisted)
            }
        }
        if session.isPersistent { store.markDirty(session) }
        c.send(.unsuback(UnsubAckPacket(packetId: u.packetId, reasonCodes: c.version == .v5 ? codes : [])))
    }

    /// The configured deny rule refuses a filter that lies inside a denied subtree: every topic it
    /// can match is also matched by a deny filter (so `forbidden/+` is refused under
    /// `forbidden/#`, while `#` is not). What `#` may then receive is the policy engine's job.
    func isDenied(_ filter: String) -> Bool {
        let plain = MQTTTopic.parseShared(filter)?.filter ?? filter
        return denySubscribe.contains { TopicMatch.matches(filter: $0, topic: plain) }
    }

    func addToTables(filter: String, options: SubscriptionOptions, session: Session) {
        if let shared = MQTTTopic.parseShared(filter) {
            let key = shared.group + "\u{0}" + shared.filter
            let group: SharedGroup
            if let g = sharedGroups[key] { group = g } else {
                group = SharedGroup(name: shared.group, filter: shared.filter)
                sharedGroups[key] = group
                sharedTable.insert(filter: shared.filter, subscriber: group, entry: true)
            }
            let previous = group.options.updateValue(options, forKey: ObjectIdentifier(session))
            if previous == nil {
                group.members.append(session)
                countInterest(shared.filter, by: 1)
            }
            countDurable(shared.filter, before: previous, after: options, session: session)
        } else {
            let previous = subscriptionTable.insert(filter: filter, subscriber: session, entry: options)
            if previous == nil { countInterest(filter, by: 1) }
            countDurable(filter, before: previous, after: options, session: session)
        }
    }

    func removeFromTables(filter: String, session: Session) {
        if let shared = MQTTTopic.parseShared(filter) {
            let key = shared.group + "\u{0}" + shared.filter
            guard let group = sharedGroups[key], let removed = group.options.removeValue(forKey: ObjectIdentifier(session)) else { return }
            group.members.removeAll { $0 === session }
            if group.members.isEmpty {
                sharedGroups[key] = nil
                sharedTable.remove(filter: shared.filter, subscriber: group)
            } else {
                group.next %= group.members.count
            }
            countInterest(shared.filter, by: -1)
            countDurable(shared.filter, before: removed, after: nil, session: session)
        } else if let removed = subscriptionTable.remove(filter: filter, subscriber: session) {
            countInterest(filter, by: -1)
            countDurable(filter, before: removed, after: nil, session: session)
        }
    }

    /// Local subscribers per plain filter; the fabric hears when a count leaves or returns to 0.
    func countInterest(_ filter: String, by delta: Int) {
        let before = interestCounts[filter, default: 0]
        let after = before + delta
        interestCounts[filter] = after == 0 ? nil : after
        if before == 0 && after > 0 { fabric?.interestChanged(filter: filter, added: true) }
        if before > 0 && after == 0 { fabric?.interestChanged(filter: filter, added: false) }
    }

    /// A subscription is durable interest when its session outlives its connection and it asks
    /// for QoS >= 1: the coordinator keeps routing matching QoS >= 1 messages to this gateway
    /// while it is away, and the origin holds them until it is back (Protocol/agent-coordinator.md §5.13).
    static func isDurable(_ options: SubscriptionOptions?, persistent: Bool) -> Bool {
        persistent && (options?.qos ?? .atMostOnce) != .atMostOnce
    }

    private func countDurable(_ filter: String, before: SubscriptionOptions?, after: SubscriptionOptions?, session: Session) {
        let persistent = session.isPersistent
        let delta = (Self.isDurable(after, persistent: persistent) ? 1 : 0) - (Self.isDurable(before, persistent: persistent) ? 1 : 0)
        if delta != 0 { countDurableInterest(filter, by: delta) }
    }

    func countDurableInterest(_ filter: String, by delta: Int) {
        let before = durableInterestCounts[filter, default: 0]
        let after = before + delta
        durableInterestCounts[filter] = after == 0 ? nil : after
        if before == 0 && after > 0 { fabric?.durableInterestChanged(filter: filter, added: true) }
        if before > 0 && after == 0 { fabric?.durableInterestChanged(filter: filter, added: false) }
    }

    /// Runs `change`, which may change whether the session outlives its connection (a CONNECT's or
    /// a DISCONNECT's session expiry), and moves its QoS >= 1 subscriptions into or out of the
    /// durable interest accordingly.
    func keepingDurableInterest<T>(of session: Session, _ change: () -> T) -> T {
        let was = session.isPersistent
        let result = change()
        let now = session.isPersistent
        guard was != now else { return result }
        for (filter, options) in session.machine.subscriptions where Self.isDurable(options, persistent: true) {
            countDurableInterest(MQTTTopic.parseShared(filter)?.filter ?? filter, by: now ? 1 : -1)
        }
        return result
    }

    /// Retained messages for a new subscription, always with the retain flag set (MQTT 5 §3.3.1.3).
    private func sendRetained(matching filter: String, options: SubscriptionOptions, to session: Session, now: UInt64) {
        let ids = options.subscriptionIdentifier.map { [$0] } ?? []
        func send(_ stored: Message) {
            var m = stored
            m.qos = min(stored.qos, options.qos)
            m.retain = true
            deliver(m, to: session, subscriptionIdentifiers: ids, now: now, shareEncoding: false)
        }
        // One walk of the retained topics' tree, in topic order so a device sees a stable order.
        for topic in retained.topics(matching: filter) {
            if let m = retained[topic] { send(m) }
        }
    }
}
