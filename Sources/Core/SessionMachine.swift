import FleetProtocol

/// One MQTT session's rules as a value: QoS 1/2 in both directions, packet ids, the in-flight
/// window against the client's Receive Maximum, the bounded queue, resume with DUP, the will and
/// its delay, expiry. It owns no socket, no clock and no database: inputs are decoded packets,
/// `now` and the connection's terms; what it decides leaves through a `SessionOutput` (write a
/// PUBLISH or an acknowledgement, persist a row, count a drop). The broker carries those out; the
/// rules are unit-tested without sockets (Tests/FleetCoreTests/SessionMachine*Tests.swift).
///
/// Why an output object rather than a returned array of actions: a delivery is the broker's
/// hottest path, and whether a PUBLISH goes in flight depends on whether it fits the client's
/// Maximum Packet Size, which only the encoder (topic aliases, properties) knows. The output
/// answers that synchronously, and nothing is allocated per delivery. Tests record the calls.
///
/// Not Sendable (it holds the connection's `ConnectionPolicy`): it lives on the loop thread that
/// owns its session, like everything the broker holds.
public struct SessionMachine {
    // Field order is memory: an idle connection holds one of these, and Swift lays fields out in
    // declaration order, so the small ones sit together.
    public let clientId: String
    /// Seconds the session outlives its connection; `UInt32.max` never expires (3.1.1 clean
    /// session 0). 0 = the session ends with its connection.
    public internal(set) var expiryInterval: UInt32
    public internal(set) var protocolVersion: MQTTVersion
    var nextPacketId: UInt16 = 1
    /// What the connection holding the session negotiated; nil while no connection holds it.
    public internal(set) var terms: ConnectionTerms?
    var nextSeq: Int64 = 1
    /// Filter as subscribed (with any `$share/group/` prefix) -> options.
    public internal(set) var subscriptions: [String: SubscriptionOptions] = [:]
    /// The will of the current (or last) connection, published when the session's rules say.
    public internal(set) var will: Will? {
        get { willBox?.will }
        set { willBox = newValue.map(WillBox.init) }
    }
    /// Boxed: most sessions have no will, and an inline `Will?` is 40 bytes in every session.
    private var willBox: WillBox?
    /// Received QoS 2 packet ids whose PUBREL has not arrived.
    public internal(set) var inboundQoS2: Set<UInt16> = []
    /// Wall-clock ms when the last connection ended; nil while connected.
    public internal(set) var disconnectedAt: UInt64? {
        get { disconnectedAtMs == Self.never ? nil : disconnectedAtMs }
        set { disconnectedAtMs = newValue ?? Self.never }
    }
    /// Wall-clock ms at which a delayed will is due.
    public internal(set) var willDueAt: UInt64? {
        get { willDueAtMs == Self.never ? nil : willDueAtMs }
        set { willDueAtMs = newValue ?? Self.never }
    }
    /// The two instants above, stored without an Optional's padding (8 bytes each instead of 16
    /// in every session); `never` is no wall-clock time.
    private var disconnectedAtMs = Self.never
    private var willDueAtMs = Self.never
    private static let never = UInt64.max
    /// Which gateway serves the session and the fencing epoch of that ownership; nil until a
    /// connection migration moves it (one reference, not 24 bytes, in every session).
    public var ownership: SessionOwnership?
    /// Authorization of the latest connection, applied to deliveries also while offline; nil =
    /// unrestricted.
    public var policy: ConnectionPolicy?

    /// In-flight QoS 1/2 messages (phase published or released), in send order. A ring: acks
    /// usually remove the oldest, which must not shift the whole window.
    public internal(set) var inflight = RingBuffer<OutboundMessage>()
    /// Packet ids of `inflight`, so allocating one is O(1) rather than a scan of the window.
    var inflightIds = PacketIdSet()
    /// Messages waiting for room in the in-flight window or for the client to come back.
    public internal(set) var queue = RingBuffer<OutboundMessage>()
    /// Packet ids of in-flight PUBLISHes not yet re-sent on the current connection (MQTT §4.4),
    /// oldest first. A resumed client may have a smaller Receive Maximum than when they were
    /// sent, so they go out as its window allows, keeping their ids.
    public internal(set) var awaitingResend: [UInt16] = []

    public init(clientId: String, expiryInterval: UInt32, protocolVersion: MQTTVersion) {
        self.clientId = clientId; self.expiryInterval = expiryInterval; self.protocolVersion = protocolVersion
    }

    /// True when the session must outlive its connection, hence be persisted.
    @inlinable public var isPersistent: Bool { expiryInterval > 0 }
    public var isConnected: Bool { terms != nil }

    public func isExpired(now: UInt64) -> Bool {
        guard let since = disconnectedAt, expiryInterval != UInt32.max else { return false }
        return now >= since &+ UInt64(expiryInterval) * 1000
    }

    /// In-flight messages the current connection has been sent (re-sent ones included): what
    /// counts against the client's Receive Maximum.
    public var sentInflightCount: Int { inflight.count - awaitingResend.count }
}

/// What a connection negotiated in CONNECT that the session's rules depend on.
public struct ConnectionTerms: Sendable, Equatable {
    /// In-flight QoS 1/2 messages we may have towards the client: its Receive Maximum (at most
    /// 65,535), capped. 32 bits: it sits among the session's small fields.
    private var window: UInt32
    public var sendWindow: Int { Int(window) }
    public init(sendWindow: Int) { window = UInt32(clamping: sendWindow) }
}

/// The gateway that serves a session and the fencing number of that ownership: raised at every
/// change of owner, so a writer holding an older epoch (a source gateway that has not yet heard
/// it lost the session) is refused.
public final class SessionOwnership: Sendable {
    public let gateway: String
    public let epoch: UInt64
    /// The secret the previous owner relays the client with (`SessionState.relaySecret`).
    public let relaySecret: [UInt8]
    public init(gateway: String, epoch: UInt64, relaySecret: [UInt8] = []) {
        self.gateway = gateway; self.epoch = epoch; self.relaySecret = relaySecret
    }
}

/// Where a session's decisions go. The broker's implementation writes to the session's
/// connection (if any) and to the store; a test's records them.
public protocol SessionOutput: AnyObject {
    /// The session's connection can take another PUBLISH now: it is connected and its socket is
    /// not backed up.
    var canWritePublish: Bool { get }
    /// Writes one PUBLISH (`delivery` carries its packet id). Returns false, writing nothing,
    /// when it would exceed the client's Maximum Packet Size (MQTT 5 §3.1.2.11.4).
    func writePublish(_ delivery: OutboundMessage, dup: Bool, now: UInt64) -> Bool
    /// Writes PUBACK, PUBREC, PUBREL or PUBCOMP.
    func writeAck(_ type: MQTTPacketType, packetId: UInt16, reason: ReasonCode)
    func perform(_ effect: SessionEffect)
}

/// A decision of the session that is not a packet: persistence and accounting.
public enum SessionEffect: Equatable, Sendable {
    /// Store (or update) one outbound row; without the body when only its phase changed.
    case saveOutbound(OutboundMessage, bodyNeeded: Bool)
    case deleteOutbound(seq: Int64)
    /// The session's own fields changed (subscriptions, will, inbound QoS 2 ids, expiry).
    case saveSession
    /// A QoS 1/2 PUBLISH went out for the first time.
    case sent
    /// The client completed a QoS 1/2 delivery.
    case acknowledged
    case dropped(DropCause)
}

/// Why a message did not reach a session (each is counted in the broker's metrics).
public enum DropCause: Equatable, Sendable {
    /// Its Message Expiry Interval passed before it could be sent.
    case expired
    /// The session's policy no longer lets it receive the topic (a message queued under an
    /// earlier connection's rules).
    case notAuthorized
    /// The session's queue was full: the newest message is dropped.
    case queueFull
    /// Larger than the client's Maximum Packet Size: dropped for it, as if delivered.
    case overClientMaximum
}

/// A will, held by reference (see `SessionMachine.will`). Replaced, never mutated.
final class WillBox: Sendable {
    let will: Will
    init(_ will: Will) { self.will = will }
}
