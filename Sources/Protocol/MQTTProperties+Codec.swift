/// Property identifiers (MQTT 5 §2.2.2.2).
enum PropertyID: UInt8, CaseIterable {
    case payloadFormatIndicator = 0x01
    case messageExpiryInterval = 0x02
    case contentType = 0x03
    case responseTopic = 0x08
    case correlationData = 0x09
    case subscriptionIdentifier = 0x0B
    case sessionExpiryInterval = 0x11
    case assignedClientIdentifier = 0x12
    case serverKeepAlive = 0x13
    case authenticationMethod = 0x15
    case authenticationData = 0x16
    case requestProblemInformation = 0x17
    case willDelayInterval = 0x18
    case requestResponseInformation = 0x19
    case responseInformation = 0x1A
    case serverReference = 0x1C
    case reasonString = 0x1F
    case receiveMaximum = 0x21
    case topicAliasMaximum = 0x22
    case topicAlias = 0x23
    case maximumQoS = 0x24
    case retainAvailable = 0x25
    case userProperty = 0x26
    case maximumPacketSize = 0x27
    case wildcardSubscriptionAvailable = 0x28
    case subscriptionIdentifierAvailable = 0x29
    case sharedSubscriptionAvailable = 0x2A

    var bit: UInt64 { 1 << UInt64(rawValue) }
}

/// Where a property block sits; decides which properties are allowed (MQTT 5 §2.2.2.2 table).
enum PropertyContext: CustomStringConvertible {
    case connect, will, connack, publish, pubAck, subscribe, suback, unsubscribe, unsuback, disconnect, auth

    private static func mask(_ ids: PropertyID...) -> UInt64 { ids.reduce(0) { $0 | $1.bit } }
    private static let connectMask = mask(
        .sessionExpiryInterval, .authenticationMethod, .authenticationData, .requestProblemInformation,
        .requestResponseInformation, .receiveMaximum, .topicAliasMaximum, .userProperty, .maximumPacketSize)
    private static let willMask = mask(
        .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData,
        .willDelayInterval, .userProperty)
    private static let connackMask = mask(
        .sessionExpiryInterval, .assignedClientIdentifier, .serverKeepAlive, .authenticationMethod,
        .authenticationData, .responseInformation, .serverReference, .reasonString, .receiveMaximum,
        .topicAliasMaximum, .maximumQoS, .retainAvailable, .userProperty, .maximumPacketSize,
        .wildcardSubscriptionAvailable, .subscriptionIdentifierAvailable, .sharedSubscriptionAvailable)
    private static let publishMask = mask(
        .payloadFormatIndicator, .messageExpiryInterval, .contentType, .responseTopic, .correlationData,
        .subscriptionIdentifier, .topicAlias, .userProperty)
    private static let pubAckMask = mask(.reasonString, .userProperty)
    private static let subscribeMask = mask(.subscriptionIdentifier, .userProperty)
    private static let unsubscribeMask = mask(.userProperty)
    private static let disconnectMask = mask(.sessionExpiryInterval, .serverReference, .reasonString, .userProperty)
    private static let authMask = mask(.authenticationMethod, .authenticationData, .reasonString, .userProperty)

    /// Bit `id` set when property `id` may appear here.
    var allowed: UInt64 {
        switch self {
        case .connect: Self.connectMask
        case .will: Self.willMask
        case .connack: Self.connackMask
        case .publish: Self.publishMask
        case .pubAck, .suback, .unsuback: Self.pubAckMask
        case .subscribe: Self.subscribeMask
        case .unsubscribe: Self.unsubscribeMask
        case .disconnect: Self.disconnectMask
        case .auth: Self.authMask
        }
    }

    /// Only user properties, and subscription identifiers in PUBLISH, may repeat.
    func mayRepeat(_ id: PropertyID) -> Bool {
        id == .userProperty || (id == .subscriptionIdentifier && self == .publish)
    }

    var description: String {
        switch self {
        case .connect: "CONNECT"
        case .will: "Will properties"
        case .connack: "CONNACK"
        case .publish: "PUBLISH"
        case .pubAck: "PUBACK/PUBREC/PUBREL/PUBCOMP"
        case .subscribe: "SUBSCRIBE"
        case .suback: "SUBACK"
        case .unsubscribe: "UNSUBSCRIBE"
        case .unsuback: "UNSUBACK"
        case .disconnect: "DISCONNECT"
        case .auth: "AUTH"
        }
    }
}

extension MQTTProperties {
    /// Reads a property length and the properties it covers, validating identifiers, placement,
    /// repetition and value ranges.
    static func decode(from r: inout ByteReader, in context: PropertyContext) throws(MQTTDecodeError) -> MQTTProperties {
        let length = Int(try r.varint("property length"))
        guard length <= r.remaining else {
            throw .malformed("property length \(length) exceeds the \(r.remaining) bytes left in \(context)")
        }
        if length == 0 { return MQTTProperties() }  // the usual PUBLISH: no box allocated
        var pr: ByteReader
        do { pr = try r.readSubReader(length) } catch { throw MQTTDecodeError(error, reading: "properties") }
        var p = MQTTProperties()
        var seen: UInt64 = 0
        while !pr.isAtEnd {
            let raw = try pr.varint("property identifier")
            guard raw <= UInt8.max, let id = PropertyID(rawValue: UInt8(raw)) else {
                throw .malformed("unknown property identifier 0x\(String(raw, radix: 16)) in \(context)")
            }
            // MQTT 5 §2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
            guard context.allowed & id.bit != 0 else { throw .malformed("property \(id) not allowed in \(context)") }
            if !context.mayRepeat(id) {
                guard seen & id.bit == 0 else { throw .protocolError("property \(id) repeated in \(context)") }
                seen |= id.bit
            }
            try p.decodeValue(id, from: &pr)
        }
        if p.authenticationData != nil && p.authenticationMethod == nil && context == .connect {
            throw .protocolError("authentication data without authentication method")  // MQTT 5 §3.1.2.11.10
        }
        return p
    }

    private static func flag(_ v: UInt8, _ id: PropertyID) throws(MQTTDecodeError) -> UInt8 {
        guard v <= 1 else { throw .protocolError("\(id) must be 0 or 1, got \(v)") }
        return v
    }

    private mutating func decodeValue(_ id: PropertyID, from r: inout ByteReader) throws(MQTTDecodeError) {
        switch id {
        case .payloadFormatIndicator:
            payloadFormatIndicator = try Self.flag(r.u8("payload format indicator"), id)
        case .messageExpiryInterval: messageExpiryInterval = try r.u32("message expiry interval")
        case .contentType: contentType = try r.string("content type")
        case .responseTopic:
            let t = try r.string("response topic")
            guard MQTTTopic.isValidName(t) else { throw .protocolError("response topic \"\(t)\" is not a valid topic name") }
            responseTopic = t
        case .correlationData: correlationData = try r.binary("correlation data")
        case .subscriptionIdentifier:
            let v = try r.varint("subscription identifier")
            guard ProtocolLimits.subscriptionIdentifierRange.contains(v) else {
                throw .protocolError("subscription identifier \(v) out of range")
            }
            subscriptionIdentifiers.append(v)
        case .sessionExpiryInterval: sessionExpiryInterval = try r.u32("session expiry interval")
        case .assignedClientIdentifier: assignedClientIdentifier = try r.string("assigned client identifier")
        case .serverKeepAlive: serverKeepAlive = try r.u16("server keep alive")
        case .authenticationMethod: authenticationMethod = try r.string("authentication method")
        case .authenticationData: authenticationData = try r.binary("authentication data")
        case .requestProblemInformation:
            requestProblemInformation = try Self.flag(r.u8("request problem information"), id)
        case .willDelayInterval: willDelayInterval = try r.u32("will delay interval")
        case .requestResponseInformation:
            requestResponseInformation = try Self.flag(r.u8("request response information"), id)
        case .responseInformation: responseInformation = try r.string("response information")
        case .serverReference: serverReference = try r.string("server reference")
        case .reasonString: reasonString = try r.string("reason string")
        case .receiveMaximum:
            let v = try r.u16("receive maximum")
            guard v > 0 else { throw .protocolError("receive maximum 0") }
            receiveMaximum = v
        case .topicAliasMaximum: topicAliasMaximum = try r.u16("topic alias maximum")
        case .topicAlias:
            let v = try r.u16("topic alias")
            guard v > 0 else { throw .protocolError("topic alias 0") }
            topicAlias = v
        case .maximumQoS: maximumQoS = try Self.flag(r.u8("maximum QoS"), id)
        case .retainAvailable: retainAvailable = try Self.flag(r.u8("retain available"), id)
        case .userProperty:
            guard userProperties.count < ProtocolLimits.maxUserProperties else {
                throw .limitExceeded("more than \(ProtocolLimits.maxUserProperties) user properties")
            }
            let k = try r.string("user property name")
            let v = try r.string("user property value")
            userProperties.append(UserProperty(k, v))
        case .maximumPacketSize:
            let v = try r.u32("maximum packet size")
            guard v > 0 else { throw .protocolError("maximum packet size 0") }
            maximumPacketSize = v
        case .wildcardSubscriptionAvailable:
            wildcardSubscriptionAvailable = try Self.flag(r.u8("wildcard subscription available"), id)
        case .subscriptionIdentifierAvailable:
            subscriptionIdentifierAvailable = try Self.flag(r.u8("subscription identifier available"), id)
        case .sharedSubscriptionAvailable:
            sharedSubscriptionAvailable = try Self.flag(r.u8("shared subscription available"), id)
        }
    }

    /// Writes the property length and the properties allowed in `context`, in identifier order.
    /// Properties not allowed there are left out rather than sent to be rejected by the peer.
    func encode(into w: inout ByteWriter, in context: PropertyContext) {
        if isEmpty { return w.writeU8(0) }
        let allowed = context.allowed
        w.withVariableByteIntegerLengthPrefix { w in
            func ok(_ id: PropertyID) -> Bool { allowed & id.bit != 0 }
            if let v = payloadFormatIndicator, ok(.payloadFormatIndicator) { w.writeU8(0x01); w.writeU8(v) }
            if let v = messageExpiryInterval, ok(.messageExpiryInterval) { w.writeU8(0x02); w.writeU32(v) }
            if let v = contentType, ok(.contentType) { w.writeU8(0x03); w.writeString(v) }
            if let v = responseTopic, ok(.responseTopic) { w.writeU8(0x08); w.writeString(v) }
            if let v = correlationData, ok(.correlationData) { w.writeU8(0x09); w.writeBinary(v) }
            if ok(.subscriptionIdentifier) {
                for v in subscriptionIdentifiers { w.writeU8(0x0B); w.writeVariableByteInteger(v) }
            }
            if let v = sessionExpiryInterval, ok(.sessionExpiryInterval) { w.writeU8(0x11); w.writeU32(v) }
            if let v = assignedClientIdentifier, ok(.assignedClientIdentifier) { w.writeU8(0x12); w.writeString(v) }
            if let v = serverKeepAlive, ok(.serverKeepAlive) { w.writeU8(0x13); w.writeU16(v) }
            if let v = authenticationMethod, ok(.authenticationMethod) { w.writeU8(0x15); w.writeString(v) }
            if let v = authenticationData, ok(.authenticationData) { w.writeU8(0x16); w.writeBinary(v) }
            if let v = requestProblemInformation, ok(.requestProblemInformation) { w.writeU8(0x17); w.writeU8(v) }
            if let v = willDelayInterval, ok(.willDelayInterval) { w.writeU8(0x18); w.writeU32(v) }
            if let v = requestResponseInformation, ok(.requestResponseInformation) { w.writeU8(0x19); w.writeU8(v) }
            if let v = responseInformation, ok(.responseInformation) { w.writeU8(0x1A); w.writeString(v) }
            if let v = serverReference, ok(.serverReference) { w.writeU8(0x1C); w.writeString(v) }
            if let v = reasonString, ok(.reasonString) { w.writeU8(0x1F); w.writeString(v) }
            if let v = receiveMaximum, ok(.receiveMaximum) { w.writeU8(0x21); w.writeU16(v) }
            if let v = topicAliasMaximum, ok(.topicAliasMaximum) { w.writeU8(0x22); w.writeU16(v) }
            if let v = topicAlias, ok(.topicAlias) { w.writeU8(0x23); w.writeU16(v) }
            if let v = maximumQoS, ok(.maximumQoS) { w.writeU8(0x24); w.writeU8(v) }
            if let v = retainAvailable, ok(.retainAvailable) { w.writeU8(0x25); w.writeU8(v) }
            if ok(.userProperty) {
                for u in userProperties { w.writeU8(0x26); w.writeString(u.key); w.writeString(u.value) }
            }
            if let v = maximumPacketSize, ok(.maximumPacketSize) { w.writeU8(0x27); w.writeU32(v) }
            if let v = wildcardSubscriptionAvailable, ok(.wildcardSubscriptionAvailable) { w.writeU8(0x28); w.writeU8(v) }
            if let v = subscriptionIdentifierAvailable, ok(.subscriptionIdentifierAvailable) { w.writeU8(0x29); w.writeU8(v) }
            if let v = sharedSubscriptionAvailable, ok(.sharedSubscriptionAvailable) { w.writeU8(0x2A); w.writeU8(v) }
        }
    }

    /// True when nothing allowed in `context` is set (decides the short forms of acks).
    func isEmpty(in context: PropertyContext) -> Bool {
        if isEmpty { return true }
        var w = ByteWriter(capacity: 8)
        encode(into: &w, in: context)
        return w.count == 1
    }
}
