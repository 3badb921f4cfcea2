import FleetProtocol

/// An application message as the broker holds it between receipt and delivery: what every
/// subscriber gets, before per-subscriber choices (QoS downgrade, retain flag, packet id, alias,
/// subscription identifiers) are applied.
public struct Message: Sendable, Hashable {
    /// What every copy shares and nobody changes per delivery, in one reference: a message is
    /// copied per matching subscriber and per queue, and four reference-counted fields made each
    /// copy four retains and four releases (docs/PROFILE.md). Replaced, never mutated.
    @usableFromInline final class Body: Sendable {
        let topic: String
        let payload: [UInt8]
        let properties: MQTTProperties
        @usableFromInline let expiresAt: UInt64?
        let origin: String?
        init(topic: String, payload: [UInt8], properties: MQTTProperties, expiresAt: UInt64?, origin: String?) {
            self.topic = topic; self.payload = payload; self.properties = properties; self.expiresAt = expiresAt; self.origin = origin
        }
    }

    @usableFromInline private(set) var body: Body
    public var qos: QoS
    public var retain: Bool

    public var topic: String {
        get { body.topic }
        set { body = Body(topic: newValue, payload: payload, properties: properties, expiresAt: expiresAt, origin: origin) }
    }
    public var payload: [UInt8] {
        get { body.payload }
        set { body = Body(topic: topic, payload: newValue, properties: properties, expiresAt: expiresAt, origin: origin) }
    }
    /// Only the properties that travel with the message (payload format, content type, response
    /// topic, correlation data, user properties). Expiry is kept absolute in `expiresAt`; topic
    /// alias and subscription identifiers are per hop and never stored here.
    public var properties: MQTTProperties {
        get { body.properties }
        set { body = Body(topic: topic, payload: payload, properties: newValue, expiresAt: expiresAt, origin: origin) }
    }
    /// Wall-clock milliseconds since the epoch after which the message is not delivered; survives
    /// restarts, unlike a monotonic clock.
    public var expiresAt: UInt64? {
        get { body.expiresAt }
        set { body = Body(topic: topic, payload: payload, properties: properties, expiresAt: newValue, origin: origin) }
    }
    /// Client id of the publisher, for the no-local option. nil for broker-made messages.
    public var origin: String? {
        get { body.origin }
        set { body = Body(topic: topic, payload: payload, properties: properties, expiresAt: expiresAt, origin: newValue) }
    }

    public init(topic: String, payload: [UInt8], qos: QoS, retain: Bool, properties: MQTTProperties = .none,
                expiresAt: UInt64? = nil, origin: String? = nil) {
        body = Body(topic: topic, payload: payload, properties: properties, expiresAt: expiresAt, origin: origin)
        self.qos = qos; self.retain = retain
    }

    public static func == (a: Message, b: Message) -> Bool {
        guard a.qos == b.qos, a.retain == b.retain else { return false }
        if a.body === b.body { return true }
        return a.topic == b.topic && a.payload == b.payload && a.properties == b.properties
            && a.expiresAt == b.expiresAt && a.origin == b.origin
    }

    public func hash(into h: inout Hasher) {
        h.combine(topic); h.combine(payload); h.combine(qos); h.combine(retain)
        h.combine(properties); h.combine(expiresAt); h.combine(origin)
    }

    /// Builds the stored form of a received PUBLISH (or will) at wall-clock time `now`.
    public init(publish p: PublishPacket, origin: String?, now: UInt64) {
        var props = MQTTProperties()
        if !p.properties.isEmpty {  // the usual PUBLISH has none: no box
            props.payloadFormatIndicator = p.properties.payloadFormatIndicator
            props.contentType = p.properties.contentType
            props.responseTopic = p.properties.responseTopic
            props.correlationData = p.properties.correlationData
            props.userProperties = p.properties.userProperties
        }
        self.init(topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, properties: props,
                  expiresAt: p.properties.messageExpiryInterval.map { now + UInt64($0) * 1000 }, origin: origin)
    }

    /// The same stored bytes for sure: one shared body (no comparison of contents) and the same
    /// per-delivery flags. Lets a fan-out serialize a message once for all its rows.
    public func storesIdentically(to other: Message) -> Bool {
        body === other.body && qos == other.qos && retain == other.retain
    }

    /// Inlinable: it is asked for every delivery, in the agent's module.
    @inlinable public func isExpired(now: UInt64) -> Bool {
        guard let expiresAt = body.expiresAt else { return false }
        return now >= expiresAt
    }

    /// Remaining expiry in whole seconds, rounded up so a message is never sent with 0 while still
    /// alive (MQTT 5 §3.3.2.3.3: the forwarded value is the received one minus time waited).
    public func remainingExpiry(now: UInt64) -> UInt32? {
        guard let e = expiresAt else { return nil }
        guard e > now else { return 0 }
        return UInt32(min(UInt64(UInt32.max), (e - now + 999) / 1000))
    }
}
