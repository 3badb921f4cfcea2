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

    /// Sessions held at most (connected or persistent, clean ones included while connected). A
    /// CONNECT that would create one more is refused with 0x97 quota exceeded (v5) / 0x03 server
    /// unavailable (3.1.1); resuming an existing session or taking one over never is. 1,000,000 is
    /// the idle-connection design target (docs/BENCHMARKS: ~1.2 KiB each); size it to the host.
    public var maxSessions: Int = 1_000_000

    // Before CONNECT completes nobody is known: every bound below keeps unauthenticated sockets
    // cheap (issue #10 §3.3, §3.4; docs/DESIGN-NOTES.md "Admission before authentication").

    /// Largest packet accepted before CONNECT completes (the CONNECT itself, and what a client
    /// pipelines behind it while its password is checked). Larger -> CONNACK 0x95 (v5) / close.
    /// A real CONNECT is a few hundred bytes: a 256-byte client id, a user name, a password or a
    /// JWT of 1-2 KiB, a will topic and a small will payload; 16 KiB leaves room for a will of
    /// ~12 KiB with properties. Without it a partial CONNECT could announce, and hold, 1 MiB.
    public var maxConnectPacketSize: Int = 16_384
    /// Bytes all connections that have not completed CONNECT may hold together (partial packets).
    /// A connection whose partial data would pass it is closed. 16 MiB = 1,000 half-sent CONNECTs
    /// of the largest size, while 3,000 of 1 MiB each took the agent to 3 GB before.
    public var maxPreAuthBytes: Int = 16 * 1_048_576
    /// Password verifications (PBKDF2, ~50-100 ms of a core each) on worker threads at once;
    /// 0 = one per CPU core. More would only slow each other and the loop's own thread.
    public var maxConcurrentPasswordChecks: Int = 0
    /// Verifications that may wait (delayed or queued) beyond those running; past it a CONNECT is
    /// refused with 0x89 server busy (v5) / 0x03 server unavailable (3.1.1) without hashing.
    /// 64 at ~50 ms each over 2 cores is ~1.6 s of queue: a correct login waits at most that.
    public var maxQueuedPasswordChecks: Int = 64
    /// Verifications one source address may have admitted (waiting or running): one host cannot
    /// fill the queue for everybody else.
    public var maxPasswordChecksPerAddress: Int = 8
    /// Failed logins from one address before its next verifications are delayed.
    public var authFailuresBeforeDelay: Int = 2
    /// First delay after repeated failures from one address, doubled per further failure.
    public var authFailureDelayMs: UInt64 = 100
    /// The cap on that delay: slowed, never locked out (a real user behind the address waits
    /// at most this long). The delay waits on a timer, not on a worker thread.
    public var authFailureMaxDelayMs: UInt64 = 5_000
    /// Each quiet period without a failure halves an address's count, until it is forgotten.
    public var authFailureDecayMs: UInt64 = 60_000
    /// Addresses whose failures are remembered at most; past it the stalest is forgotten.
    public var authFailureTableSize: Int = 10_000

    public init() {}
}
