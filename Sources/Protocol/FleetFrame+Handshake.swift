// HELLO, HELLO_ACK and ERROR (Protocol/agent-coordinator.md §5.1-5.3). Their layouts are the same in every
// protocol version: they are read before a version is chosen.

extension FleetFrame.Hello {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        try FleetFrame.readMagic(&r)
        let minVersion = try r.u16("min version")
        let maxVersion = try r.u16("max version")
        guard minVersion >= 1, minVersion <= maxVersion else {
            throw .malformed("HELLO: version range \(minVersion)...\(maxVersion)")
        }
        let gatewayId = try r.string("gateway id", 1...FleetLimits.maxIdentifierBytes)
        let token = try r.binary("auth token", limit: FleetLimits.maxTokenBytes)
        let maxFrame = try r.u32("maximum frame size")
        guard maxFrame >= UInt32(FleetLimits.maximumHelloFrameSize) else {
            throw .malformed("HELLO: maximum frame size \(maxFrame) below \(FleetLimits.maximumHelloFrameSize)")
        }
        let address = try r.string("MQTT address", 0...FleetLimits.maxAddressBytes)
        let region = try r.string("region", 0...FleetLimits.maxShortStringBytes)
        let n = try r.count("labels", limit: FleetLimits.maxLabels, minimumElementBytes: 5)
        var labels: [FleetFrame.Label] = []
        labels.reserveCapacity(n)
        for _ in 0..<n {
            let key = try r.string("label key", 1...FleetLimits.maxShortStringBytes)
            let value = try r.string("label value", 0...FleetLimits.maxLabelValueBytes)
            labels.append(FleetFrame.Label(key, value))
        }
        let weight = try r.u32("capacity weight")
        let software = try r.string("software version", 0...FleetLimits.maxShortStringBytes)
        try r.expectEnd()
        return Self(minVersion: minVersion, maxVersion: maxVersion, gatewayId: gatewayId, authToken: token,
                    maximumFrameSize: maxFrame, mqttAddress: address, region: region, labels: labels,
                    capacityWeight: weight, softwareVersion: software)
    }

    func encode(into w: inout ByteWriter) {
        w.writeBytes(FleetFrame.magic)
        w.writeU16(minVersion)
        w.writeU16(maxVersion)
        w.writeString(gatewayId, limit: FleetLimits.maxIdentifierBytes)
        precondition(authToken.count <= FleetLimits.maxTokenBytes, "auth token too long")
        w.writeBinary(authToken)
        w.writeU32(maximumFrameSize)
        w.writeString(mqttAddress, limit: FleetLimits.maxAddressBytes)
        w.writeString(region, limit: FleetLimits.maxShortStringBytes)
        w.writeCount(labels.count, limit: FleetLimits.maxLabels)
        for l in labels {
            w.writeString(l.key, limit: FleetLimits.maxShortStringBytes)
            w.writeString(l.value, limit: FleetLimits.maxLabelValueBytes)
        }
        w.writeU32(capacityWeight)
        w.writeString(softwareVersion, limit: FleetLimits.maxShortStringBytes)
    }
}

extension FleetFrame.HelloAck {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        try FleetFrame.readMagic(&r)
        let version = try r.u16("version")
        guard version >= 1 else { throw .malformed("HELLO_ACK: version 0") }
        let epoch = try r.u64("session epoch")
        let heartbeat = try r.u32("heartbeat interval")
        guard heartbeat > 0 else { throw .malformed("HELLO_ACK: heartbeat interval 0") }
        let maxFrame = try r.u32("maximum frame size")
        guard maxFrame >= UInt32(FleetLimits.maximumHelloFrameSize) else {
            throw .malformed("HELLO_ACK: maximum frame size \(maxFrame) below \(FleetLimits.maximumHelloFrameSize)")
        }
        let coordinatorId = try r.string("coordinator id", 1...FleetLimits.maxIdentifierBytes)
        try r.expectEnd()
        return Self(version: version, sessionEpoch: epoch, heartbeatIntervalMs: heartbeat,
                    maximumFrameSize: maxFrame, coordinatorId: coordinatorId)
    }

    func encode(into w: inout ByteWriter) {
        w.writeBytes(FleetFrame.magic)
        w.writeU16(version)
        w.writeU64(sessionEpoch)
        w.writeU32(heartbeatIntervalMs)
        w.writeU32(maximumFrameSize)
        w.writeString(coordinatorId, limit: FleetLimits.maxIdentifierBytes)
    }
}

extension FleetFrame.ErrorReport {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let code = FleetErrorCode(try r.u16("code"))
        let related = try r.u16("related kind")
        let message = try r.string("message", 0...FleetLimits.maxErrorMessageBytes)
        try r.expectEnd()
        return Self(code: code, relatedKind: related == 0 ? nil : FleetFrameKind(related), message: message)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU16(code.rawValue)
        w.writeU16(relatedKind?.rawValue ?? 0)
        w.writeString(message, limit: FleetLimits.maxErrorMessageBytes)
    }
}

extension FleetFrame {
    static func readMagic(_ r: inout FleetBodyReader) throws(FleetFrameError) {
        for expected in magic {
            guard try r.u8("magic") == expected else { throw .malformed("\(r.frame): bad magic") }
        }
    }
}
