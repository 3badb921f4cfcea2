/// MQTT protocol levels carried in CONNECT. 3.1 ("MQIsdp", level 3) is answered with
/// "unacceptable protocol version" by the broker, so it has no case here.
public enum MQTTVersion: UInt8, Sendable, Hashable, CustomStringConvertible {
    case v311 = 4
    case v5 = 5

    public var description: String { self == .v5 ? "5.0" : "3.1.1" }
}

/// Quality of service. Ordered so `min`/`max` give the spec's downgrade and overlap rules.
public enum QoS: UInt8, Sendable, Hashable, Comparable, Codable {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (a: QoS, b: QoS) -> Bool { a.rawValue < b.rawValue }
}

/// Control packet types, numbered as in the spec (MQTT 5 §2.1.2).
public enum MQTTPacketType: UInt8, Sendable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth
}

/// A reason code (MQTT 5 §2.4). A struct, not an enum, so codes a peer sends that we do not
/// name still decode. For 3.1.1 CONNACK the raw value carries the 3.1.1 return code (0...5).
public struct ReasonCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public init(_ raw: UInt8) { self.rawValue = raw }

    public static let success = ReasonCode(0x00)  // also normal disconnection, granted QoS 0
    public static let grantedQoS1 = ReasonCode(0x01)
    public static let grantedQoS2 = ReasonCode(0x02)
    public static let disconnectWithWill = ReasonCode(0x04)
    public static let noMatchingSubscribers = ReasonCode(0x10)
    public static let noSubscriptionExisted = ReasonCode(0x11)
    public static let continueAuthentication = ReasonCode(0x18)
    public static let reAuthenticate = ReasonCode(0x19)
    public static let unspecifiedError = ReasonCode(0x80)
    public static let malformedPacket = ReasonCode(0x81)
    public static let protocolError = ReasonCode(0x82)
    public static let implementationSpecificError = ReasonCode(0x83)
    public static let unsupportedProtocolVersion = ReasonCode(0x84)
    public static let clientIdentifierNotValid = ReasonCode(0x85)
    public static let badUserNameOrPassword = ReasonCode(0x86)
    public static let notAuthorized = ReasonCode(0x87)
    public static let serverUnavailable = ReasonCode(0x88)
    public static let serverBusy = ReasonCode(0x89)
    public static let banned = ReasonCode(0x8A)
    public static let serverShuttingDown = ReasonCode(0x8B)
    public static let badAuthenticationMethod = ReasonCode(0x8C)
    public static let keepAliveTimeout = ReasonCode(0x8D)
    public static let sessionTakenOver = ReasonCode(0x8E)
    public static let topicFilterInvalid = ReasonCode(0x8F)
    public static let topicNameInvalid = ReasonCode(0x90)
    public static let packetIdentifierInUse = ReasonCode(0x91)
    public static let packetIdentifierNotFound = ReasonCode(0x92)
    public static let receiveMaximumExceeded = ReasonCode(0x93)
    public static let topicAliasInvalid = ReasonCode(0x94)
    public static let packetTooLarge = ReasonCode(0x95)
    public static let messageRateTooHigh = ReasonCode(0x96)
    public static let quotaExceeded = ReasonCode(0x97)
    public static let administrativeAction = ReasonCode(0x98)
    public static let payloadFormatInvalid = ReasonCode(0x99)
    public static let retainNotSupported = ReasonCode(0x9A)
    public static let qosNotSupported = ReasonCode(0x9B)
    public static let useAnotherServer = ReasonCode(0x9C)
    public static let serverMoved = ReasonCode(0x9D)
    public static let sharedSubscriptionsNotSupported = ReasonCode(0x9E)
    public static let connectionRateExceeded = ReasonCode(0x9F)
    public static let maximumConnectTime = ReasonCode(0xA0)
    public static let subscriptionIdentifiersNotSupported = ReasonCode(0xA1)
    public static let wildcardSubscriptionsNotSupported = ReasonCode(0xA2)

    // MQTT 3.1.1 CONNACK return codes (§3.2.2.3).
    public static let v311UnacceptableProtocolVersion = ReasonCode(0x01)
    public static let v311IdentifierRejected = ReasonCode(0x02)
    public static let v311ServerUnavailable = ReasonCode(0x03)
    public static let v311BadUserNameOrPassword = ReasonCode(0x04)
    public static let v311NotAuthorized = ReasonCode(0x05)
    // MQTT 3.1.1 SUBACK failure (§3.9.3).
    public static let v311SubscribeFailure = ReasonCode(0x80)

    public var isError: Bool { rawValue >= 0x80 }
    public var description: String { "0x" + String(rawValue, radix: 16, uppercase: true) }
}

public struct UserProperty: Hashable, Sendable {
    public var key: String
    public var value: String
    public init(_ key: String, _ value: String) { self.key = key; self.value = value }
}

/// MQTT 5 properties (§2.2.2.2). One struct for every packet kind: the decoder rejects a property
/// that is not allowed on the packet it arrived in (protocol error), and a repeated one except
/// user properties and (in PUBLISH) subscription identifiers. In 3.1.1 every field stays empty.
///
/// Copy-on-write: the fields live in one shared box, and an empty set of properties (every 3.1.1
/// packet and most 5.0 PUBLISHes) has no box at all. A PUBLISH is copied several times between
/// receipt and delivery; with ~27 inline fields, a dozen of them reference-counted, each copy cost
/// a dozen retains and releases (a third of the broker's CPU in docs/PROFILE.md). Now a copy is
/// one retain, or nothing when empty.
public struct MQTTProperties: Hashable, Sendable {
    /// The stored values; `Fields()` is the empty set.
    struct Fields: Hashable, Sendable {
        var payloadFormatIndicator: UInt8?  // 0x01 PUBLISH, Will
        var messageExpiryInterval: UInt32?  // 0x02 PUBLISH, Will
        var contentType: String?  // 0x03 PUBLISH, Will
        var responseTopic: String?  // 0x08 PUBLISH, Will
        var correlationData: [UInt8]?  // 0x09 PUBLISH, Will
        var subscriptionIdentifiers: [UInt32] = []  // 0x0B PUBLISH (many), SUBSCRIBE (one)
        var sessionExpiryInterval: UInt32?  // 0x11 CONNECT, CONNACK, DISCONNECT
        var assignedClientIdentifier: String?  // 0x12 CONNACK
        var serverKeepAlive: UInt16?  // 0x13 CONNACK
        var authenticationMethod: String?  // 0x15 CONNECT, CONNACK, AUTH
        var authenticationData: [UInt8]?  // 0x16 CONNECT, CONNACK, AUTH
        var requestProblemInformation: UInt8?  // 0x17 CONNECT
        var willDelayInterval: UInt32?  // 0x18 Will
        var requestResponseInformation: UInt8?  // 0x19 CONNECT
        var responseInformation: String?  // 0x1A CONNACK
        var serverReference: String?  // 0x1C CONNACK, DISCONNECT
        var reasonString: String?  // 0x1F acks, DISCONNECT, AUTH
        var receiveMaximum: UInt16?  // 0x21 CONNECT, CONNACK
        var topicAliasMaximum: UInt16?  // 0x22 CONNECT, CONNACK
        var topicAlias: UInt16?  // 0x23 PUBLISH
        var maximumQoS: UInt8?  // 0x24 CONNACK
        var retainAvailable: UInt8?  // 0x25 CONNACK
        var userProperties: [UserProperty] = []  // 0x26 everywhere
        var maximumPacketSize: UInt32?  // 0x27 CONNECT, CONNACK
        var wildcardSubscriptionAvailable: UInt8?  // 0x28 CONNACK
        var subscriptionIdentifierAvailable: UInt8?  // 0x29 CONNACK
        var sharedSubscriptionAvailable: UInt8?  // 0x2A CONNACK
    }

    /// Shared, immutable once shared: `edit` copies it before a write unless uniquely referenced.
    final class Box: @unchecked Sendable {
        var fields: Fields
        init(_ fields: Fields) { self.fields = fields }
    }

    private var box: Box?

    public init() {}
    public static let none = MQTTProperties()
    /// True when no property is set (no allocation, no comparison when there never was a box).
    public var isEmpty: Bool { box == nil || box!.fields == Fields() }

    private var fields: Fields { box?.fields ?? Fields() }

    private mutating func edit(_ change: (inout Fields) -> Void) {
        if box == nil {
            box = Box(Fields())
        } else if !isKnownUniquelyReferenced(&box!) {
            box = Box(box!.fields)
        }
        change(&box!.fields)
    }

    public static func == (a: MQTTProperties, b: MQTTProperties) -> Bool {
        if a.box === b.box { return true }
        return a.fields == b.fields
    }

    public func hash(into h: inout Hasher) { h.combine(fields) }

    public var payloadFormatIndicator: UInt8? {
        get { box?.fields.payloadFormatIndicator }
        set { if box != nil || newValue != nil { edit { $0.payloadFormatIndicator = newValue } } }
    }
    public var messageExpiryInterval: UInt32? {
        get { box?.fields.messageExpiryInterval }
        set { if box != nil || newValue != nil { edit { $0.messageExpiryInterval = newValue } } }
    }
    public var contentType: String? {
        get { box?.fields.contentType }
        set { if box != nil || newValue != nil { edit { $0.contentType = newValue } } }
    }
    public var responseTopic: String? {
        get { box?.fields.responseTopic }
        set { if box != nil || newValue != nil { edit { $0.responseTopic = newValue } } }
    }
    public var correlationData: [UInt8]? {
        get { box?.fields.correlationData }
        set { if box != nil || newValue != nil { edit { $0.correlationData = newValue } } }
    }
    public var subscriptionIdentifiers: [UInt32] {
        get { box?.fields.subscriptionIdentifiers ?? [] }
        set { if box != nil || !newValue.isEmpty { edit { $0.subscriptionIdentifiers = newValue } } }
    }
    public var sessionExpiryInterval: UInt32? {
        get { box?.fields.sessionExpiryInterval }
        set { if box != nil || newValue != nil { edit { $0.sessionExpiryInterval = newValue } } }
    }
    public var assignedClientIdentifier: String? {
        get { box?.fields.assignedClientIdentifier }
        set { if box != nil || newValue != nil { edit { $0.assignedClientIdentifier = newValue } } }
    }
    public var serverKeepAlive: UInt16? {
        get { box?.fields.serverKeepAlive }
        set { if box != nil || newValue != nil { edit { $0.serverKeepAlive = newValue } } }
    }
    public var authenticationMethod: String? {
        get { box?.fields.authenticationMethod }
        set { if box != nil || newValue != nil { edit { $0.authenticationMethod = newValue } } }
    }
    public var authenticationData: [UInt8]? {
        get { box?.fields.authenticationData }
        set { if box != nil || newValue != nil { edit { $0.authenticationData = newValue } } }
    }
    public var requestProblemInformation: UInt8? {
        get { box?.fields.requestProblemInformation }
        set { if box != nil || newValue != nil { edit { $0.requestProblemInformation = newValue } } }
    }
    public var willDelayInterval: UInt32? {
        get { box?.fields.willDelayInterval }
        set { if box != nil || newValue != nil { edit { $0.willDelayInterval = newValue } } }
    }
    public var requestResponseInformation: UInt8? {
        get { box?.fields.requestResponseInformation }
        set { if box != nil || newValue != nil { edit { $0.requestResponseInformation = newValue } } }
    }
    public var responseInformation: String? {
        get { box?.fields.responseInformation }
        set { if box != nil || newValue != nil { edit { $0.responseInformation = newValue } } }
    }
    public var serverReference: String? {
        get { box?.fields.serverReference }
        set { if box != nil || newValue != nil { edit { $0.serverReference = newValue } } }
    }
    public var reasonString: String? {
        get { box?.fields.reasonString }
        set { if box != nil || newValue != nil { edit { $0.reasonString = newValue } } }
    }
    public var receiveMaximum: UInt16? {
        get { box?.fields.receiveMaximum }
        set { if box != nil || newValue != nil { edit { $0.receiveMaximum = newValue } } }
    }
    public var topicAliasMaximum: UInt16? {
        get { box?.fields.topicAliasMaximum }
        set { if box != nil || newValue != nil { edit { $0.topicAliasMaximum = newValue } } }
    }
    public var topicAlias: UInt16? {
        get { box?.fields.topicAlias }
        set { if box != nil || newValue != nil { edit { $0.topicAlias = newValue } } }
    }
    public var maximumQoS: UInt8? {
        get { box?.fields.maximumQoS }
        set { if box != nil || newValue != nil { edit { $0.maximumQoS = newValue } } }
    }
    public var retainAvailable: UInt8? {
        get { box?.fields.retainAvailable }
        set { if box != nil || newValue != nil { edit { $0.retainAvailable = newValue } } }
    }
    public var userProperties: [UserProperty] {
        get { box?.fields.userProperties ?? [] }
        set { if box != nil || !newValue.isEmpty { edit { $0.userProperties = newValue } } }
    }
    public var maximumPacketSize: UInt32? {
        get { box?.fields.maximumPacketSize }
        set { if box != nil || newValue != nil { edit { $0.maximumPacketSize = newValue } } }
    }
    public var wildcardSubscriptionAvailable: UInt8? {
        get { box?.fields.wildcardSubscriptionAvailable }
        set { if box != nil || newValue != nil { edit { $0.wildcardSubscriptionAvailable = newValue } } }
    }
    public var subscriptionIdentifierAvailable: UInt8? {
        get { box?.fields.subscriptionIdentifierAvailable }
        set { if box != nil || newValue != nil { edit { $0.subscriptionIdentifierAvailable = newValue } } }
    }
    public var sharedSubscriptionAvailable: UInt8? {
        get { box?.fields.sharedSubscriptionAvailable }
        set { if box != nil || newValue != nil { edit { $0.sharedSubscriptionAvailable = newValue } } }
    }
}

public struct Will: Hashable, Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: QoS
    public var retain: Bool
    public var properties: MQTTProperties
    public init(topic: String, payload: [UInt8], qos: QoS, retain: Bool, properties: MQTTProperties = .none) {
        self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain; self.properties = properties
    }
}

public struct ConnectPacket: Hashable, Sendable {
    public var version: MQTTVersion
    public var cleanStart: Bool
    public var keepAlive: UInt16
    public var clientId: String
    public var will: Will?
    public var username: String?
    public var password: [UInt8]?
    public var properties: MQTTProperties
    public init(version: MQTTVersion, cleanStart: Bool, keepAlive: UInt16, clientId: String,
                will: Will? = nil, username: String? = nil, password: [UInt8]? = nil, properties: MQTTProperties = .none) {
        self.version = version; self.cleanStart = cleanStart; self.keepAlive = keepAlive; self.clientId = clientId
        self.will = will; self.username = username; self.password = password; self.properties = properties
    }
}

public struct ConnAckPacket: Hashable, Sendable {
    public var sessionPresent: Bool
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties
    public init(sessionPresent: Bool, reasonCode: ReasonCode, properties: MQTTProperties = .none) {
        self.sessionPresent = sessionPresent; self.reasonCode = reasonCode; self.properties = properties
    }
}

public struct PublishPacket: Hashable, Sendable {
    public var topic: String
    public var payload: [UInt8]
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when qos > 0.
    public var packetId: UInt16?
    public var properties: MQTTProperties
    public init(topic: String, payload: [UInt8], qos: QoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
                packetId: UInt16? = nil, properties: MQTTProperties = .none) {
        self.topic = topic; self.payload = payload; self.qos = qos; self.retain = retain; self.dup = dup
        self.packetId = packetId; self.properties = properties
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
public struct PubAckPacket: Hashable, Sendable {
    public var packetId: UInt16
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties
    public init(packetId: UInt16, reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.packetId = packetId; self.reasonCode = reasonCode; self.properties = properties
    }
}

/// One topic filter of a SUBSCRIBE with its options (MQTT 5 §3.8.3.1). 3.1.1 carries only qos.
public struct SubscriptionRequest: Hashable, Sendable {
    public var filter: String
    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    /// 0 send retained at subscribe, 1 only if the subscription is new, 2 never.
    public var retainHandling: UInt8
    public init(filter: String, qos: QoS, noLocal: Bool = false, retainAsPublished: Bool = false, retainHandling: UInt8 = 0) {
        self.filter = filter; self.qos = qos; self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished; self.retainHandling = retainHandling
    }
}

public struct SubscribePacket: Hashable, Sendable {
    public var packetId: UInt16
    public var subscriptions: [SubscriptionRequest]
    public var properties: MQTTProperties
    public init(packetId: UInt16, subscriptions: [SubscriptionRequest], properties: MQTTProperties = .none) {
        self.packetId = packetId; self.subscriptions = subscriptions; self.properties = properties
    }
}

public struct SubAckPacket: Hashable, Sendable {
    public var packetId: UInt16
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties
    public init(packetId: UInt16, reasonCodes: [ReasonCode], properties: MQTTProperties = .none) {
        self.packetId = packetId; self.reasonCodes = reasonCodes; self.properties = properties
    }
}

public struct UnsubscribePacket: Hashable, Sendable {
    public var packetId: UInt16
    public var filters: [String]
    public var properties: MQTTProperties
    public init(packetId: UInt16, filters: [String], properties: MQTTProperties = .none) {
        self.packetId = packetId; self.filters = filters; self.properties = properties
    }
}

public struct UnsubAckPacket: Hashable, Sendable {
    public var packetId: UInt16
    /// Empty in 3.1.1, which has no payload in UNSUBACK.
    public var reasonCodes: [ReasonCode]
    public var properties: MQTTProperties
    public init(packetId: UInt16, reasonCodes: [ReasonCode] = [], properties: MQTTProperties = .none) {
        self.packetId = packetId; self.reasonCodes = reasonCodes; self.properties = properties
    }
}

public struct DisconnectPacket: Hashable, Sendable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties
    public init(reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode; self.properties = properties
    }
}

public struct AuthPacket: Hashable, Sendable {
    public var reasonCode: ReasonCode
    public var properties: MQTTProperties
    public init(reasonCode: ReasonCode = .success, properties: MQTTProperties = .none) {
        self.reasonCode = reasonCode; self.properties = properties
    }
}

public enum MQTTPacket: Hashable, Sendable {
    case connect(ConnectPacket)
    case connack(ConnAckPacket)
    case publish(PublishPacket)
    case puback(PubAckPacket)
    case pubrec(PubAckPacket)
    case pubrel(PubAckPacket)
    case pubcomp(PubAckPacket)
    case subscribe(SubscribePacket)
    case suback(SubAckPacket)
    case unsubscribe(UnsubscribePacket)
    case unsuback(UnsubAckPacket)
    case pingreq
    case pingresp
    case disconnect(DisconnectPacket)
    case auth(AuthPacket)
}
