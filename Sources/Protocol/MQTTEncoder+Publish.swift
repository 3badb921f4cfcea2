extension MQTTEncoder {
    /// The wire size of a PUBLISH without MQTT 5 properties, as `writePlainPublish` lays it out.
    public static func plainPublishSize(topicBytes: Int, payloadBytes: Int, qos: QoS, version: MQTTVersion) -> Int {
        let remaining = 2 + topicBytes + (qos == .atMostOnce ? 0 : 2) + (version == .v5 ? 1 : 0) + payloadBytes
        precondition(topicBytes <= ProtocolLimits.maxStringBytes, "topic of \(topicBytes) bytes too long")
        precondition(remaining <= Int(ProtocolLimits.maxVariableByteInteger), "PUBLISH of \(remaining) bytes too large")
        return 1 + ByteWriter.variableByteIntegerLength(UInt32(remaining)) + remaining
    }

    /// Writes one PUBLISH without MQTT 5 properties (3.1.1, or 5.0 with property length 0) into
    /// `buffer`, which must be exactly `plainPublishSize(...)` bytes: the broker's per-delivery
    /// encoding, straight into a socket's write queue, with no array in between. The general
    /// `encode(_:version:into:)` grows its output byte by byte and needs a `PublishPacket` first.
    public static func writePlainPublish(into buffer: UnsafeMutableRawBufferPointer, topic: String, payload: [UInt8], qos: QoS,
                                         retain: Bool, dup: Bool, packetId: UInt16, version: MQTTVersion) {
        precondition(qos == .atMostOnce || packetId != 0, "PUBLISH with QoS \(qos.rawValue) needs a packet identifier")
        let base = buffer.baseAddress!
        let topicBytes = topic.utf8.count
        var at = 0
        @inline(__always) func put(_ b: UInt8) { base.storeBytes(of: b, toByteOffset: at, as: UInt8.self); at += 1 }
        put(MQTTPacketType.publish.rawValue << 4 | (dup ? 0x08 : 0) | qos.rawValue << 1 | (retain ? 0x01 : 0))
        var length = 2 + topicBytes + (qos == .atMostOnce ? 0 : 2) + (version == .v5 ? 1 : 0) + payload.count
        repeat {
            put(UInt8(length & 0x7F) | (length > 0x7F ? 0x80 : 0))
            length >>= 7
        } while length > 0
        put(UInt8(truncatingIfNeeded: topicBytes >> 8))
        put(UInt8(truncatingIfNeeded: topicBytes))
        let copied = topic.utf8.withContiguousStorageIfAvailable { utf8 in
            (base + at).copyMemory(from: utf8.baseAddress!, byteCount: utf8.count)
        }
        if copied == nil { for b in topic.utf8 { base.storeBytes(of: b, toByteOffset: at, as: UInt8.self); at += 1 } } else { at += topicBytes }
        if qos != .atMostOnce {
            put(UInt8(truncatingIfNeeded: packetId >> 8))
            put(UInt8(truncatingIfNeeded: packetId))
        }
        if version == .v5 { put(0) }  // property length: none
        payload.withUnsafeBytes { bytes in
            if let source = bytes.baseAddress { (base + at).copyMemory(from: source, byteCount: bytes.count) }
        }
        at += payload.count
        precondition(at == buffer.count, "PUBLISH buffer of \(buffer.count) bytes for \(at) bytes")
    }

    /// Appends one PUBLISH built from its parts to `out` (whose capacity is reused). MQTT 5
    /// properties other than none go through the general encoder (they are rare and variable).
    public static func appendPublish(topic: String, payload: [UInt8], qos: QoS, retain: Bool, dup: Bool, packetId: UInt16,
                                     properties: MQTTProperties, version: MQTTVersion, into out: inout [UInt8]) {
        if version == .v5 && !properties.isEmpty {
            let p = PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain, dup: dup,
                                  packetId: qos == .atMostOnce ? nil : packetId, properties: properties)
            var encoded: [UInt8] = []
            encode(.publish(p), version: version, into: &encoded)
            out.append(contentsOf: encoded)
            return
        }
        let size = plainPublishSize(topicBytes: topic.utf8.count, payloadBytes: payload.count, qos: qos, version: version)
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: size))
        out.withUnsafeMutableBytes { all in
            writePlainPublish(into: UnsafeMutableRawBufferPointer(rebasing: all[start...]), topic: topic, payload: payload, qos: qos,
                              retain: retain, dup: dup, packetId: packetId, version: version)
        }
    }
}
