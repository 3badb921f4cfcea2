import FleetProtocol

/// Options a session subscribed with (MQTT 5 §3.8.3.1), kept per filter.
public struct SubscriptionOptions: Sendable, Hashable {
    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: UInt8
    public var subscriptionIdentifier: UInt32?

    public init(qos: QoS, noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: UInt8 = 0,
                subscriptionIdentifier: UInt32? = nil) {
        self.qos = qos; self.noLocal = noLocal; self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling; self.subscriptionIdentifier = subscriptionIdentifier
    }

    public init(_ r: SubscriptionRequest, identifier: UInt32?) {
        self.init(qos: r.qos, noLocal: r.noLocal, retainAsPublished: r.retainAsPublished,
                  retainHandling: r.retainHandling, subscriptionIdentifier: identifier)
    }
}

/// A QoS 1/2 message on its way to one session.
public struct OutboundMessage: Sendable, Hashable {
    public enum Phase: UInt8, Sendable {
        /// Waiting for a place in the in-flight window (or for the client to come back).
        case queued = 0
        /// PUBLISH sent with `packetId`; waiting for PUBACK (QoS 1) or PUBREC (QoS 2).
        case published = 1
        /// PUBREC received and PUBREL sent; waiting for PUBCOMP. The body is no longer needed.
        case released = 2
    }
    /// Per-session sequence: the order of delivery and the persistence key.
    public var seq: Int64
    public var packetId: UInt16
    public var phase: Phase
    /// QoS and retain flag are already the delivered ones (downgraded, retain-as-published applied).
    public var message: Message
    public var subscriptionIdentifiers: [UInt32]

    public init(seq: Int64, packetId: UInt16 = 0, phase: Phase = .queued, message: Message, subscriptionIdentifiers: [UInt32] = []) {
        self.seq = seq; self.packetId = packetId; self.phase = phase; self.message = message
        self.subscriptionIdentifiers = subscriptionIdentifiers
    }
}

/// Everything that makes up an MQTT session, as a value: what persistence writes and what a
/// connection migration moves between gateways. The broker keeps it in memory and mirrors changes
/// to SQLite in group commits.
public struct SessionState: Sendable, Hashable {
    public var clientId: String
    /// Seconds the session outlives its connection; `UInt32.max` is "never expires" (3.1.1
    /// clean session 0, capped by BrokerLimits.maxSessionExpiry at connect time).
    public var expiryInterval: UInt32
    /// Filter as subscribed (including any `$share/group/` prefix) -> options.
    public var subscriptions: [String: SubscriptionOptions]
    public var will: Will?
    public var nextPacketId: UInt16
    public var nextSeq: Int64
    /// Received QoS 2 packet ids whose PUBREL has not arrived: a re-sent PUBLISH with one of
    /// them is acknowledged again but not delivered twice.
    public var inboundQoS2: Set<UInt16>
    /// In-flight (published/released) first in send order, then queued.
    public var outbound: [OutboundMessage]
    /// Wall-clock ms when the last connection ended; nil while connected. Serialized as a
    /// duration before the moment of writing, so it survives a move to a gateway whose clock
    /// differs (see `serialized(asOf:)`).
    public var disconnectedAt: UInt64?
    /// Wall-clock ms at which the will is due (its delay, or the session's end if sooner, after
    /// the connection ended); nil when none is scheduled. Serialized as a duration, like
    /// `disconnectedAt`.
    public var willDueAt: UInt64?
    public var protocolVersion: MQTTVersion
    /// The gateway that serves the session; nil on a stand-alone agent. A connection migration
    /// changes it, together with `epoch`.
    public var ownerGateway: String?
    /// Fencing number of the session's ownership: raised at every change of owner, so a writer
    /// holding an older epoch (a source gateway that has not yet heard it lost the session) is
    /// refused. 0 for a session that never moved.
    public var epoch: UInt64
    /// Set by the gateway that handed the session over (16 random bytes, empty otherwise): that
    /// gateway relays the client's connection here with it (RelayCredential), and only it can.
    public var relaySecret: [UInt8]

    public init(clientId: String, expiryInterval: UInt32, protocolVersion: MQTTVersion) {
        self.clientId = clientId; self.expiryInterval = expiryInterval; self.protocolVersion = protocolVersion
        subscriptions = [:]; will = nil; nextPacketId = 1; nextSeq = 1; inboundQoS2 = []; outbound = []
        disconnectedAt = nil; willDueAt = nil; ownerGateway = nil; epoch = 0; relaySecret = []
    }
}
