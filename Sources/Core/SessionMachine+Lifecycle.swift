import FleetProtocol

/// How CONNECT treats the session the client id already has (MQTT §3.1.2.4, §3.1.4).
public enum SessionOpening: Equatable, Sendable {
    /// No session: a new one.
    case new
    /// Resume it (Clean Start 0, not expired): session present.
    case resume
    /// Clean Start 1: it is discarded (its will is not published) and a new one begins.
    case discardAndStartNew
    /// It expired since the last sweep: it ends now, will included, as the sweep would have
    /// ended it; then a new one begins.
    case expireAndStartNew
}

/// What a DISCONNECT from the client means.
public enum DisconnectDecision: Equatable, Sendable {
    /// Close; `publishWill` is false for a normal end (MQTT §3.14.4), true for reason 0x04.
    case close(publishWill: Bool)
    case violation(ReasonCode, String)
}

/// Connect, resume, disconnect, will and expiry.
extension SessionMachine {
    /// The session expiry granted for a CONNECT: MQTT 5's property, 3.1.1's clean session 0 as
    /// "never" (capped by our maximum), and what was asked, so a lowered grant can be told.
    public static func grantedExpiry(version: MQTTVersion, cleanStart: Bool, requested: UInt32?, maximum: UInt32)
        -> (granted: UInt32, requested: UInt32) {
        let asked: UInt32 = version == .v5 ? (requested ?? 0) : (cleanStart ? 0 : UInt32.max)
        return (min(asked, maximum), asked)
    }

    /// How a CONNECT with `cleanStart` treats `existing`, the session its client id has (after
    /// any live connection holding it was taken over).
    public static func opening(existing: SessionMachine?, cleanStart: Bool, now: UInt64) -> SessionOpening {
        guard let existing else { return .new }
        if existing.terms == nil && existing.isExpired(now: now) { return .expireAndStartNew }
        return cleanStart ? .discardAndStartNew : .resume
    }

    /// A connection now holds the session: its terms, will and expiry replace the previous
    /// connection's, and a will still delayed from that one is cancelled (MQTT 5 §3.1.3.2.2).
    /// Call `resume` after the CONNACK has gone.
    public mutating func attach(_ terms: ConnectionTerms, will: Will?, expiryInterval: UInt32, version: MQTTVersion,
                                policy: ConnectionPolicy?) {
        self.terms = terms
        self.will = will
        willDueAt = nil
        self.expiryInterval = expiryInterval
        protocolVersion = version
        disconnectedAt = nil
        self.policy = policy
    }

    /// After CONNACK: re-send what was in flight (MQTT §4.4), then whatever queued while away.
    /// PUBRELs go now; PUBLISHes with DUP and their ids as this connection's Receive Maximum
    /// allows.
    public mutating func resume(now: UInt64, out: some SessionOutput) {
        if isPersistent { out.perform(.saveSession) }
        awaitingResend.removeAll()
        for i in inflight.indices {
            let m = inflight[i]
            if m.phase == .released {
                out.writeAck(.pubrel, packetId: m.packetId, reason: .success)
            } else {
                awaitingResend.append(m.packetId)
            }
        }
        pump(now: now, out: out)
    }

    /// After CONNACK on a relayed hand-over: the client's connection went on from the gateway
    /// that handed the session over, so what is in flight reached the client there and its
    /// acknowledgements come here. Nothing is re-sent (MQTT 5 allows a re-send only on a new
    /// connection, §4.4); whatever queued goes out.
    public mutating func continueRelayed(now: UInt64, out: some SessionOutput) {
        if isPersistent { out.perform(.saveSession) }
        awaitingResend.removeAll()
        pump(now: now, out: out)
    }

    /// The client's DISCONNECT. MQTT 5 may change the session expiry there, but not from 0
    /// (§3.14.2.2.2); reason 0x04 asks for the will to be published.
    public mutating func receiveDisconnect(reason: ReasonCode, sessionExpiry: UInt32?, maximumExpiry: UInt32)
        -> DisconnectDecision {
        guard protocolVersion == .v5 else { return .close(publishWill: false) }
        if let newExpiry = sessionExpiry {
            if expiryInterval == 0 && newExpiry != 0 {
                return .violation(.protocolError, "session expiry set on DISCONNECT after connecting with 0")
            }
            expiryInterval = min(newExpiry, maximumExpiry)
        }
        return .close(publishWill: reason == .disconnectWithWill)
    }

    /// The connection is gone. Returns whether the will is due now; otherwise it is scheduled
    /// (`willDueAt`) or, after a clean end, forgotten. The session then lives on if persistent.
    public mutating func connectionEnded(cleanly: Bool, now: UInt64) -> Bool {
        terms = nil
        disconnectedAt = now
        if cleanly { will = nil }
        guard let will else { return false }
        let delay = willDelayMilliseconds(of: will)
        if delay == 0 { return true }
        willDueAt = now + delay
        return false
    }

    /// How long after the connection ends the will is published: its delay, or the session's
    /// end if that comes first (MQTT 5 §3.1.3.2.2).
    public func willDelayMilliseconds(of will: Will) -> UInt64 {
        let delay = UInt64(will.properties.willDelayInterval ?? 0) * 1000
        let expiry = expiryInterval == UInt32.max ? UInt64.max : UInt64(expiryInterval) * 1000
        return min(delay, expiry)
    }

    /// The will, removed: it is published once.
    public mutating func takeWill() -> Will? {
        defer { will = nil; willDueAt = nil }
        return will
    }

    /// What time does to a session no connection holds.
    public func due(now: UInt64) -> (willDue: Bool, expired: Bool) {
        guard terms == nil else { return (false, false) }
        return (willDueAt.map { now >= $0 } ?? false, isExpired(now: now))
    }

    /// A session loaded from disk after a restart: if it was connected when the agent stopped,
    /// its connection ended then (approximated by `now`); its will is due when its delay (or the
    /// session) ran out after that, which may be already. Expired sessions are left to the first
    /// sweep, which ends them by the same rule as at run time.
    public mutating func restored(now: UInt64) {
        terms = nil
        if disconnectedAt == nil { disconnectedAt = now }
        if willDueAt == nil, let will, let since = disconnectedAt {
            willDueAt = since + willDelayMilliseconds(of: will)
        }
    }

    /// Everything the session was to deliver, gone (the session ends).
    public mutating func clearDeliveries() {
        inflight.removeAll()
        inflightIds.removeAll()
        awaitingResend.removeAll()
        queue.removeAll()
    }
}

/// What a SUBSCRIBE does to one filter of the session.
public enum SubscribeOutcome: Equatable, Sendable {
    case added
    /// The filter was subscribed already: its options are replaced (MQTT §3.8.4).
    case replaced
    /// Past `maxSubscriptionsPerSession`: refused (0x97).
    case quotaExceeded
}

/// Subscriptions (the tables that route to them are the broker's).
extension SessionMachine {
    public mutating func subscribe(_ filter: String, options: SubscriptionOptions, maxSubscriptions: Int) -> SubscribeOutcome {
        let isNew = subscriptions[filter] == nil
        if isNew && subscriptions.count >= maxSubscriptions { return .quotaExceeded }
        subscriptions[filter] = options
        return isNew ? .added : .replaced
    }

    /// Whether a subscription gets the retained messages it matches: never a shared one (MQTT 5
    /// §4.8.2), retain handling 0 always, 1 only when new, 2 never.
    public static func sendsRetained(_ options: SubscriptionOptions, isShared: Bool, outcome: SubscribeOutcome) -> Bool {
        guard !isShared else { return false }
        return options.retainHandling == 0 || (options.retainHandling == 1 && outcome == .added)
    }

    /// Returns whether the filter was subscribed.
    public mutating func unsubscribe(_ filter: String) -> Bool {
        subscriptions.removeValue(forKey: filter) != nil
    }

    /// Removes every subscription, returning the filters (for the routing tables).
    public mutating func removeAllSubscriptions() -> [String] {
        defer { subscriptions = [:] }
        return Array(subscriptions.keys)
    }
}

/// The session as a value to store or move, and back.
extension SessionMachine {
    public var state: SessionState {
        var s = SessionState(clientId: clientId, expiryInterval: expiryInterval, protocolVersion: protocolVersion)
        s.subscriptions = subscriptions
        s.will = will
        s.inboundQoS2 = inboundQoS2
        s.disconnectedAt = disconnectedAt
        s.willDueAt = willDueAt
        s.nextSeq = nextSeq
        s.nextPacketId = nextPacketId
        s.outbound = inflight.elements + queue.elements
        s.ownerGateway = ownership?.gateway
        s.epoch = ownership?.epoch ?? 0
        s.relaySecret = ownership?.relaySecret ?? []
        return s
    }

    /// Rebuilds a session from its stored value; in-flight messages keep their packet ids so a
    /// resumed client can match PUBACK/PUBREC/PUBCOMP to them.
    public init(state s: SessionState) {
        self.init(clientId: s.clientId, expiryInterval: s.expiryInterval, protocolVersion: s.protocolVersion)
        subscriptions = s.subscriptions
        will = s.will
        inboundQoS2 = s.inboundQoS2
        disconnectedAt = s.disconnectedAt
        willDueAt = s.willDueAt
        if s.ownerGateway != nil || s.epoch != 0 || !s.relaySecret.isEmpty {
            ownership = SessionOwnership(gateway: s.ownerGateway ?? "", epoch: s.epoch, relaySecret: s.relaySecret)
        }
        nextPacketId = s.nextPacketId == 0 ? 1 : s.nextPacketId
        for m in s.outbound.sorted(by: { $0.seq < $1.seq }) {
            if m.phase == .queued { queue.append(m) } else { addInflight(m) }
        }
        nextSeq = max(s.nextSeq, (s.outbound.map(\.seq).max() ?? 0) + 1)
    }
}
