/// Every bound the broker enforces, in one place, each with the reason for its default.
/// The agent's config file (`limits:` section) and flags override these.
public struct BrokerLimits: Sendable, Equatable {
    /// Largest inbound packet in bytes (fixed header included). Larger -> DISCONNECT 0x95 / close.
    /// 1 MiB: IoT payloads are small, and one oversize client must not make us buffer 256 MB.
    public var maxPacketSize: Int = 1_048_576
    /// Upper bound on the keepalive a client may ask for; v5 clients asking more (or 0) get this as
    /// Server Keep Alive. 3.1.1 clients cannot be told, so their longer keepalive is capped silently.
    public var maxKeepAlive: UInt16 = 60
    /// Server Receive Maximum: inbound QoS 1/2 publishes a client may have unacknowledged.
    /// Exceeding it is DISCONNECT 0x93 (v5). 3.1.1 has no such limit in the protocol; we enforce the
    /// same window there by simply closing.
    public var receiveMaximum: UInt16 = 100
    /// QoS 1/2 messages in flight to one client when it does not say (3.1.1), and the cap on what a
    /// v5 client may announce, so one client cannot pin unbounded memory.
    public var maxInflightMessages: Int = 100
    /// Messages waiting per session beyond the in-flight window (online or offline). Overflow
    /// policy: the NEWEST message is dropped and counted in `$SYS/broker/publish/messages/dropped`
    /// (mosquitto's policy: an offline device gets the oldest data first, never an unbounded queue).
    public var maxQueuedMessages: Int = 1000
    /// Bytes written to a socket but not yet taken by the kernel. Past this, QoS 0 messages to that
    /// client are dropped (counted) and QoS 1/2 wait in the session queue: a reader that stalls
    /// cannot grow our memory without bound.
    public var maxPendingWriteBytes: Int = 1_048_576
    /// Past this many pending bytes (or half the session queue) a subscriber is congested: the
    /// publisher feeding it stops being read until it drains (backpressure instead of loss).
    public var congestionWriteBytes: Int = 262_144
    /// A subscriber congested for longer than this is a slow consumer: it no longer holds
    /// publishers back, and what does not fit under maxPendingWriteBytes is dropped for it (counted),
    /// so one stalled reader cannot stop traffic for everybody else.
    public var slowConsumerMs: UInt64 = 2_000
    /// Topic aliases we accept from a client (v5 CONNACK Topic Alias Maximum).
    public var topicAliasMaximum: UInt16 = 64
    /// Topic aliases we use towards a client at most, whatever larger number the client allows.
    /// Off by default: mosquitto never sends aliases, and clients that announce a Topic Alias
    /// Maximum without resolving aliases (paho-mqtt for Python 2.x) would see empty topics.
    public var outboundTopicAliasMaximum: UInt16 = 0
    /// Topic name/filter length in UTF-8 bytes (the protocol allows 65,535).
    public var maxTopicLength: Int = 65_535
    /// Levels in a topic name or filter: bounds trie depth and matching cost per publish.
    public var maxTopicLevels: Int = 128
    /// Subscriptions one session may hold; more are refused with 0x97 quota exceeded (v5) / 0x80.
    public var maxSubscriptionsPerSession: Int = 1_000
    /// Client identifier length; longer ones are refused with 0x85 / 0x02.
    public var maxClientIdLength: Int = 256
    /// Milliseconds a new socket may take to send a complete CONNECT before it is closed.
    public var connectTimeoutMs: UInt64 = 10_000
    /// Retained messages held (and persisted) at most; past it a new retained topic is not stored.
    public var maxRetainedMessages: Int = 1_000_000
    /// Session expiry we grant at most (seconds); 3.1.1 persistent sessions use this too.
    public var maxSessionExpiry: UInt32 = 7 * 24 * 3600
    /// Reason strings we send are cut to this many UTF-8 bytes. They often quote a topic or filter
    /// the client chose (up to 65,535 bytes, the most an MQTT string can carry with nothing else
    /// around it); 1 KiB says why without echoing a client's payload back at it.
    public var maxReasonStringBytes: Int = 1_024

    public init() {}
}
