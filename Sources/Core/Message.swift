import FleetProtocol

/// An application message as the broker holds it between receipt and delivery: what every
/// subscriber gets, before per-subscriber choices (QoS downgrade, retain flag, packet id, alias,
/// subscription identifiers) are applied.
public struct Message: Sendable, Hashable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: QoS
    public var retain: Bool
    /// Only the properties that travel with the message (payload format, content type, response
    /// topic, correlation data, user properties). Expiry is kept absolute in `expiresAt`; topic
    /// alias and subscription identifiers are per hop and never stored here.
    public var properties: MQTTProperties
    /// Wall-clock milliseconds since the epoch after which the message is not delivered; survives
    /// restarts, unlike a monotonic clock.
    public var expiresAt: UInt64?
    /// Client id of the publisher, for the no-local option. nil for broker-made messages.
    public var origin: String?

    public init(topic: String, payload: [UInt8], qos: QoS, retain: Bool, properties: MQTTProperties = .none,
                expiresAt: UInt64? = nil, origin: String? = nil) {
        self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain
        self.properties = properties; self.expiresAt = expiresAt; self.origin = origin
    }

    /// Builds the stored form of a received PUBLISH (or will) at wall-clock time `now`.
    public init(publish p: PublishPacket, origin: String?, now: UInt64) {
        var props = MQTTProperties()
        props.payloadFormatIndicator = p.properties.payloadFormatIndicator
        props.contentType = p.properties.contentType
        props.responseTopic = p.properties.responseTopic
        props.correlationData = p.properties.correlationData
        props.userProperties = p.properties.userProperties
        self.init(topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, properties: props,
                  expiresAt: p.properties.messageExpiryInterval.map { now + UInt64($0) * 1000 }, origin: origin)
    }

    public func isExpired(now: UInt64) -> Bool { expiresAt.map { now >= $0 } ?? false }

    /// Remaining expiry in whole seconds, rounded up so a message is never sent with 0 while still
    /// alive (MQTT 5 §3.3.2.3.3: the forwarded value is the received one minus time waited).
    public func remainingExpiry(now: UInt64) -> UInt32? {
        guard let e = expiresAt else { return nil }
        guard e > now else { return 0 }
        return UInt32(min(UInt64(UInt32.max), (e - now + 999) / 1000))
    }
}
