// FORWARD and DELIVERY_ACK (Protocol/agent-coordinator.md §5.9, §5.10).

extension FleetFrame.Forward {
    /// Bits of the FORWARD flags byte: 0-1 QoS, 2 retain, 3-7 reserved.
    static let qosMask: UInt8 = 0x03
    static let retainFlag: UInt8 = 0x04

    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let origin = try r.string("origin gateway id", 1...FleetLimits.maxIdentifierBytes)
        let sequence = try r.u64("sequence")
        let m = try decodeMessage(&r, frame: "FORWARD")
        return Self(originGatewayId: origin, sequence: sequence, topic: m.topic, qos: m.qos, retain: m.retain,
                    properties: m.properties, payload: m.payload)
    }

    /// The message fields of a FORWARD from `flags` on (§5.9), which HANDOFF carries too.
    static func decodeMessage(_ r: inout FleetBodyReader, frame: StaticString) throws(FleetFrameError)
        -> (topic: String, qos: QoS, retain: Bool, properties: MQTTProperties, payload: [UInt8]) {
        let flags = try r.u8("flags")
        guard flags & ~(qosMask | retainFlag) == 0 else { throw .malformed("\(frame): reserved flags 0x\(String(flags, radix: 16))") }
        guard let qos = QoS(rawValue: flags & qosMask) else { throw .malformed("\(frame): QoS 3") }
        let topic = try r.string("topic", 1...ProtocolLimits.maxStringBytes)
        guard MQTTTopic.isValidName(topic) else { throw .invalidTopic("\(frame): \"\(topic)\" is not a topic name") }
        let properties: MQTTProperties
        do { properties = try MQTTProperties.decode(from: &r.r, in: .publish) } catch {
            // The shared bound (ProtocolLimits.maxUserProperties) is this frame's limit too.
            if case .limitExceeded(let why) = error { throw .limitExceeded("\(frame): \(why)") }
            throw .invalidProperties(error)
        }
        // Per-connection PUBLISH properties have no meaning across gateways.
        guard properties.topicAlias == nil, properties.subscriptionIdentifiers.isEmpty else {
            throw .malformed("\(frame): topic alias or subscription identifier in the properties")
        }
        guard properties.userProperties.count <= FleetLimits.maxUserProperties else {
            throw .limitExceeded("\(frame): \(properties.userProperties.count) user properties, limit \(FleetLimits.maxUserProperties)")
        }
        return (topic, qos, flags & retainFlag != 0, properties, r.rest())
    }

    /// Why these values cannot travel as a FORWARD (a bound the decoder enforces), nil when they
    /// can. The encoder trusts its input; a sender whose values come from outside (a stored
    /// message, a device) asks this first, so input never reaches the encoder's traps.
    public var limitProblem: String? {
        let originBytes = originGatewayId.utf8.count
        if originBytes < 1 || originBytes > FleetLimits.maxIdentifierBytes {
            return "origin gateway id of \(originBytes) bytes (1...\(FleetLimits.maxIdentifierBytes))"
        }
        return Self.messageLimitProblem(topic: topic, properties: properties)
    }

    /// The bounds of the message fields (FORWARD and HANDOFF).
    static func messageLimitProblem(topic: String, properties: MQTTProperties) -> String? {
        let topicBytes = topic.utf8.count
        if topicBytes < 1 || topicBytes > ProtocolLimits.maxStringBytes { return "topic of \(topicBytes) bytes" }
        if properties.userProperties.count > FleetLimits.maxUserProperties {
            return "\(properties.userProperties.count) user properties, limit \(FleetLimits.maxUserProperties)"
        }
        return nil
    }

    func encode(into w: inout ByteWriter) {
        w.writeString(originGatewayId, limit: FleetLimits.maxIdentifierBytes)
        w.writeU64(sequence)
        Self.encodeMessage(topic: topic, qos: qos, retain: retain, properties: properties, payload: payload, into: &w)
    }

    static func encodeMessage(topic: String, qos: QoS, retain: Bool, properties: MQTTProperties, payload: [UInt8],
                              into w: inout ByteWriter) {
        w.writeU8(qos.rawValue | (retain ? retainFlag : 0))
        w.writeString(topic)
        precondition(properties.userProperties.count <= FleetLimits.maxUserProperties,
                     "too many user properties (callers check limitProblem first)")
        var p = properties
        p.topicAlias = nil
        p.subscriptionIdentifiers = []
        p.encode(into: &w, in: .publish)
        w.writeBytes(payload)
    }
}

extension FleetFrame.DeliveryAck {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let origin = try r.string("origin gateway id", 1...FleetLimits.maxIdentifierBytes)
        let upTo = try r.u64("up-to sequence")
        let n = try r.count("selective sequences", limit: FleetLimits.maxSelectiveAcks, minimumElementBytes: 8)
        var sequences: [UInt64] = []
        sequences.reserveCapacity(n)
        var previous = upTo
        for _ in 0..<n {
            let s = try r.u64("selective sequence")
            guard s > previous else {
                throw .malformed("DELIVERY_ACK: selective sequence \(s) not above \(previous)")
            }
            sequences.append(s)
            previous = s
        }
        try r.expectEnd()
        return Self(originGatewayId: origin, upToSequence: upTo, sequences: sequences)
    }

    func encode(into w: inout ByteWriter) {
        w.writeString(originGatewayId, limit: FleetLimits.maxIdentifierBytes)
        w.writeU64(upToSequence)
        w.writeCount(sequences.count, limit: FleetLimits.maxSelectiveAcks)
        for s in sequences { w.writeU64(s) }
    }
}

extension FleetFrame.Replay {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let from = try r.u64("from sequence")
        guard from > 0 else { throw .malformed("REPLAY: from sequence 0 (sequences start at 1)") }
        try r.expectEnd()
        return Self(fromSequence: from)
    }

    func encode(into w: inout ByteWriter) { w.writeU64(fromSequence) }
}
