import FleetCore
import FleetProtocol

/// A session at run time: the `SessionState` value plus what only exists while the broker runs
/// (the connection, the queue as a ring, route bookkeeping). Loop-thread only.
final class Session: Hashable {
    let clientId: String
    var expiryInterval: UInt32
    var protocolVersion: MQTTVersion
    var subscriptions: [String: SubscriptionOptions] = [:]
    var will: Will?
    var inboundQoS2: Set<UInt16> = []
    var disconnectedAt: UInt64?
    /// Wall-clock ms at which a delayed will is due (MQTT 5 will delay interval).
    var willDueAt: UInt64?

    /// Strong on purpose (a weak load per delivery showed in profiles); cleared when the
    /// connection closes, which breaks the cycle with `MQTTConnection.session`.
    var connection: MQTTConnection?
    /// Authorization of the latest connection, for deliveries while offline; nil = unrestricted.
    var policy: ConnectionPolicy?

    /// In-flight QoS 1/2 messages (phase published or released), in send order. A ring: acks
    /// usually remove the oldest, which must not shift the whole window.
    var inflight = RingBuffer<OutboundMessage>()
    /// Packet ids of `inflight`, so allocating one is O(1) rather than a scan of the window.
    private(set) var inflightIds: Set<UInt16> = []
    /// Messages waiting for room in the in-flight window or for the client to come back.
    var queue = RingBuffer<OutboundMessage>()
    /// Packet ids of in-flight PUBLISHes not yet re-sent on the current connection (MQTT §4.4),
    /// oldest first. A resumed client may have a smaller Receive Maximum than when they were
    /// sent, so they go out as its window allows (`Broker.resendInflight`), keeping their ids.
    var awaitingResend: [UInt16] = []
    var nextSeq: Int64 = 1
    private var nextPacketId: UInt16 = 1

    /// Route bookkeeping: merges overlapping subscriptions without a hash map per publish.
    var routeGeneration: UInt64 = 0
    var routeSlot: Int = 0

    /// Messages and payload bytes this client published since the last LOAD_REPORT (its top
    /// talkers; reset by CoordinatorLink+Load). 32 bits: a report interval is seconds long.
    var publishedSinceReport: UInt32 = 0
    var publishedBytesSinceReport: UInt32 = 0

    init(clientId: String, expiryInterval: UInt32, protocolVersion: MQTTVersion) {
        self.clientId = clientId; self.expiryInterval = expiryInterval; self.protocolVersion = protocolVersion
    }

    static func == (a: Session, b: Session) -> Bool { a === b }
    func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }

    var isPersistent: Bool { expiryInterval > 0 }

    func isExpired(now: UInt64) -> Bool {
        guard let since = disconnectedAt, expiryInterval != UInt32.max else { return false }
        return now >= since &+ UInt64(expiryInterval) * 1000
    }

    /// How long after the connection ends the will is published: its delay, or the session's
    /// end if that comes first (MQTT 5 §3.1.3.2.2).
    func willDelayMilliseconds(of will: Will) -> UInt64 {
        let delay = UInt64(will.properties.willDelayInterval ?? 0) * 1000
        let expiry = expiryInterval == UInt32.max ? UInt64.max : UInt64(expiryInterval) * 1000
        return min(delay, expiry)
    }

    func takeSeq() -> Int64 { defer { nextSeq += 1 }; return nextSeq }

    /// A packet id not used by any in-flight message (MQTT §2.2.1). The window is far below
    /// 65,535, so the scan ends quickly.
    func allocatePacketId() -> UInt16 {
        while true {
            let id = nextPacketId
            nextPacketId = nextPacketId == UInt16.max ? 1 : nextPacketId + 1
            if !inflightIds.contains(id) { return id }
        }
    }

    func addInflight(_ m: OutboundMessage) {
        inflight.append(m)
        inflightIds.insert(m.packetId)
    }

    @discardableResult
    func removeInflight(at i: Int) -> OutboundMessage {
        let m = inflight.remove(at: i)
        inflightIds.remove(m.packetId)
        if !awaitingResend.isEmpty { awaitingResend.removeAll { $0 == m.packetId } }
        return m
    }

    /// The client acknowledged (PUBREC) a message it had before it reconnected: no need to re-send it.
    func acknowledgedBeforeResend(_ packetId: UInt16) {
        if !awaitingResend.isEmpty { awaitingResend.removeAll { $0 == packetId } }
    }

    /// In-flight messages the current connection has been sent (re-sent ones included): what
    /// counts against the client's Receive Maximum.
    var sentInflightCount: Int { inflight.count - awaitingResend.count }

    func clearInflight() {
        inflight.removeAll()
        inflightIds.removeAll()
        awaitingResend.removeAll()
    }

    func inflightIndex(packetId: UInt16) -> Int? {
        // Acks almost always arrive in send order, so the first element is the usual hit.
        guard inflightIds.contains(packetId) else { return nil }
        return inflight.firstIndex { $0.packetId == packetId }
    }

    /// The session as a value (what persistence stores and a migration would move).
    var state: SessionState {
        var s = SessionState(clientId: clientId, expiryInterval: expiryInterval, protocolVersion: protocolVersion)
        s.subscriptions = subscriptions
        s.will = will
        s.inboundQoS2 = inboundQoS2
        s.disconnectedAt = disconnectedAt
        s.willDueAt = willDueAt
        s.nextSeq = nextSeq
        s.nextPacketId = nextPacketId
        s.outbound = inflight.elements + queue.elements
        return s
    }

    /// Rebuilds a session from its stored value; in-flight messages keep their packet ids so a
    /// resumed client can match PUBACK/PUBREC/PUBCOMP to them.
    convenience init(state s: SessionState) {
        self.init(clientId: s.clientId, expiryInterval: s.expiryInterval, protocolVersion: s.protocolVersion)
        subscriptions = s.subscriptions
        will = s.will
        inboundQoS2 = s.inboundQoS2
        disconnectedAt = s.disconnectedAt
        willDueAt = s.willDueAt
        nextPacketId = s.nextPacketId == 0 ? 1 : s.nextPacketId
        for m in s.outbound.sorted(by: { $0.seq < $1.seq }) {
            if m.phase == .queued { queue.append(m) } else { addInflight(m) }
        }
        nextSeq = max(s.nextSeq, (s.outbound.map(\.seq).max() ?? 0) + 1)
    }
}
