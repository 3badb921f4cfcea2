import FleetProtocol

/// A CONNECT refused, with the CONNACK code for each protocol version and the reason (MQTT 5's
/// reason string, and the log).
public struct ConnectRefusal: Error, Equatable, Sendable {
    public var v5Code: ReasonCode
    public var v311Code: ReasonCode
    public var reason: String
    public init(_ v5Code: ReasonCode, _ v311Code: ReasonCode, _ reason: String) {
        self.v5Code = v5Code; self.v311Code = v311Code; self.reason = reason
    }
}

/// A packet that breaks the protocol: the connection ends, MQTT 5 hearing `reason` first.
public struct ProtocolViolation: Error, Equatable, Sendable {
    public var reason: ReasonCode
    public var message: String
    public init(_ reason: ReasonCode, _ message: String) { self.reason = reason; self.message = message }
}

/// The CONNECT rules that come before a session exists: what is refused before authentication,
/// and which client id the connection gets (MQTT §3.1.3.1, MQTT 5 §3.1.2.11).
public enum ConnectRules {
    /// Checks a CONNECT before its credentials are: returns the client id to use and whether we
    /// assigned it (an empty id is given one from `assignClientId`, where the version allows), or
    /// the refusal.
    public static func admit(_ p: ConnectPacket, limits: BrokerLimits, assignClientId: () -> String)
        -> Result<(clientId: String, assigned: Bool), ConnectRefusal> {
        let v5 = p.version == .v5
        if v5, p.properties.authenticationMethod != nil {
            return .failure(ConnectRefusal(.badAuthenticationMethod, .v311NotAuthorized, "enhanced authentication is not supported"))
        }
        var clientId = p.clientId
        var assigned = false
        if clientId.isEmpty {
            if !v5 && !p.cleanStart {
                return .failure(ConnectRefusal(.clientIdentifierNotValid, .v311IdentifierRejected, "an empty client id needs clean session"))
            }
            clientId = assignClientId()
            assigned = true
        }
        guard clientId.utf8.count <= limits.maxClientIdLength else {
            return .failure(ConnectRefusal(.clientIdentifierNotValid, .v311IdentifierRejected,
                                           "client id longer than \(limits.maxClientIdLength) bytes"))
        }
        if let will = p.will, let problem = limits.topicProblem(will.topic) {
            return .failure(ConnectRefusal(.topicNameInvalid, .v311NotAuthorized, "will topic: \(problem)"))
        }
        return .success((clientId, assigned))
    }
}

/// What an accepted CONNECT negotiated: the terms the connection runs under and the CONNACK
/// properties that tell an MQTT 5 client about them.
public struct ConnectNegotiation: Equatable, Sendable {
    /// 0 = no keepalive check.
    public var keepAliveMs: UInt64
    /// In-flight QoS 1/2 messages towards the client: its Receive Maximum, capped by ours.
    public var sendWindow: Int
    /// Largest packet the client accepts (MQTT 5 §3.1.2.11.4); `Int.max` when it set none.
    public var clientMaxPacketSize: Int
    /// Reason strings and user properties on error packets (MQTT 5 §3.1.2.11.7).
    public var requestProblemInformation: Bool
    /// Topic aliases we may use towards the client.
    public var outboundAliasLimit: UInt16
    public var sessionExpiry: UInt32
    public var connackProperties: MQTTProperties

    public init(_ p: ConnectPacket, assignedClientId: String?, limits: BrokerLimits) {
        let v5 = p.version == .v5
        var props = MQTTProperties()
        let expiry = SessionMachine.grantedExpiry(version: p.version, cleanStart: p.cleanStart,
                                                  requested: p.properties.sessionExpiryInterval, maximum: limits.maxSessionExpiry)
        sessionExpiry = expiry.granted
        // Keepalive: the client's, capped by ours; MQTT 5 is told the value it must use (and gets
        // ours for 0, "none"), 3.1.1 cannot be told and is capped silently.
        var keepAlive = p.keepAlive
        if keepAlive > limits.maxKeepAlive || (v5 && keepAlive == 0) {
            keepAlive = limits.maxKeepAlive
            if v5 { props.serverKeepAlive = keepAlive }
        }
        keepAliveMs = UInt64(keepAlive) * 1000
        if v5 {
            sendWindow = min(Int(p.properties.receiveMaximum ?? UInt16.max), limits.maxInflightMessages)
            clientMaxPacketSize = Int(p.properties.maximumPacketSize ?? UInt32.max)
            requestProblemInformation = (p.properties.requestProblemInformation ?? 1) == 1
            outboundAliasLimit = min(p.properties.topicAliasMaximum ?? 0, limits.outboundTopicAliasMaximum)
            props.assignedClientIdentifier = assignedClientId
            if limits.receiveMaximum != UInt16.max { props.receiveMaximum = limits.receiveMaximum }
            props.maximumPacketSize = UInt32(limits.maxPacketSize)
            if limits.topicAliasMaximum > 0 { props.topicAliasMaximum = limits.topicAliasMaximum }
            if expiry.requested != expiry.granted { props.sessionExpiryInterval = expiry.granted }
        } else {
            sendWindow = limits.maxInflightMessages
            clientMaxPacketSize = Int.max
            requestProblemInformation = true
            outboundAliasLimit = 0
        }
        connackProperties = props
    }
}

/// Topic aliases a client set on its PUBLISHes (MQTT 5 §3.3.2.3.4): per connection, never
/// carried over to the next one.
public struct InboundTopicAliases: Sendable {
    private var topics: [UInt16: String] = [:]
    public init() {}

    /// The topic a PUBLISH is on: its own (which also sets `alias`, if given), or the one `alias`
    /// was set to. An alias outside 1...maximum, or used before it was set, breaks the protocol.
    public mutating func resolve(topic: String, alias: UInt16?, maximum: UInt16) -> Result<String, ProtocolViolation> {
        guard let alias else { return .success(topic) }
        guard alias >= 1 && alias <= maximum else {
            return .failure(ProtocolViolation(.topicAliasInvalid, "topic alias \(alias) outside 1...\(maximum)"))
        }
        if topic.isEmpty {
            guard let known = topics[alias] else {
                return .failure(ProtocolViolation(.protocolError, "topic alias \(alias) used before it was set"))
            }
            return .success(known)
        }
        topics[alias] = topic
        return .success(topic)
    }

    /// The aliases set so far, by alias: what a relayed connection's new gateway must know.
    public var entries: [(alias: UInt16, topic: String)] { topics.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

    /// Sets an alias learnt elsewhere (a relay hand-over).
    public mutating func set(_ alias: UInt16, to topic: String) { topics[alias] = topic }
}

extension BrokerLimits {
    /// A topic name or filter over our limits, named; nil if it is fine (syntax is the codec's).
    public func topicProblem(_ topic: String) -> String? {
        let utf8 = topic.utf8
        if utf8.count > maxTopicLength { return "longer than \(maxTopicLength) bytes" }
        var levels = 1
        for b in utf8 where b == UInt8(ascii: "/") {
            levels += 1
            if levels > maxTopicLevels { return "more than \(maxTopicLevels) levels" }
        }
        return nil
    }
}
