import Testing
@testable import FleetProtocol

/// The broker's per-message shortcuts must be indistinguishable from the general codec: the same
/// bytes out, the same packet or the same error in, whatever the topic cache remembers.
@Suite("PUBLISH fast path agrees with the general codec")
struct PublishFastPathTests {
    /// Random PUBLISH packets of every shape the general encoder can write without properties.
    static func publishes(seed: UInt64, version: MQTTVersion, count: Int) -> [PublishPacket] {
        var gen = PacketGenerator(seed: seed, version: version)
        var rng = SeededRandom(seed: seed ^ 0x5EED)
        return (0..<count).map { i in
            let qos = [QoS.atMostOnce, .atLeastOnce, .exactlyOnce][i % 3]
            // Payloads around the 1- and 2-byte remaining-length boundary, and a few large ones.
            let size = [0, 1, 60, 120, 127, 128, 200, 16_500][Int.random(in: 0..<8, using: &rng)]
            let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
            return PublishPacket(topic: gen.topicName(), payload: payload, qos: qos, retain: i % 2 == 0, dup: qos != .atMostOnce && i % 5 == 0,
                                 packetId: qos == .atMostOnce ? nil : UInt16.random(in: 1...UInt16.max, using: &rng))
        }
    }

    @Test("writePlainPublish and appendPublish write what encode writes", arguments: [MQTTVersion.v311, .v5])
    func plainEncodingMatches(version: MQTTVersion) {
        for p in Self.publishes(seed: 11, version: version, count: 2_000) {
            let expected = MQTTEncoder.encode(.publish(p), version: version)
            let size = MQTTEncoder.plainPublishSize(topicBytes: p.topic.utf8.count, payloadBytes: p.payload.count, qos: p.qos, version: version)
            var direct = [UInt8](repeating: 0xEE, count: size)
            direct.withUnsafeMutableBytes { buffer in
                MQTTEncoder.writePlainPublish(into: buffer, topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup,
                                              packetId: p.packetId ?? 0, version: version)
            }
            var appended: [UInt8] = [0xAB]  // appends after what is there
            MQTTEncoder.appendPublish(topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, dup: p.dup, packetId: p.packetId ?? 0,
                                      properties: .none, version: version, into: &appended)
            let same = direct == expected && appended == [0xAB] + expected
            #expect(same, "\(p.topic) qos \(p.qos) payload \(p.payload.count)")
            if !same { return }
        }
    }

    @Test("appendPublish with MQTT 5 properties falls back to the general encoder")
    func propertiesFallBack() {
        var props = MQTTProperties()
        props.contentType = "text/plain"
        props.userProperties = [UserProperty("k", "v")]
        let p = PublishPacket(topic: "a/b", payload: [1, 2, 3], qos: .atLeastOnce, packetId: 7, properties: props)
        var out: [UInt8] = []
        MQTTEncoder.appendPublish(topic: p.topic, payload: p.payload, qos: p.qos, retain: false, dup: false, packetId: 7,
                                  properties: props, version: .v5, into: &out)
        #expect(out == MQTTEncoder.encode(.publish(p), version: .v5))
    }

    @Test("decodePublish with a warm topic cache returns what decode returns", arguments: [MQTTVersion.v311, .v5])
    func cachedDecodingMatches(version: MQTTVersion) throws {
        let decoder = MQTTDecoder(version: version)
        var topics = TopicNameCache()
        // Repeats (cache hits), topics of equal length that differ (must miss), and fresh ones.
        var packets = Self.publishes(seed: 23, version: version, count: 600)
        packets += packets.map { var q = $0; q.topic = String(q.topic.reversed()); return q }.filter { MQTTTopic.isValidName($0.topic) }
        for p in packets + packets.reversed() {
            let bytes = MQTTEncoder.encode(.publish(p), version: version)
            let fast = try bytes.withUnsafeBytes { try decoder.decodePublish($0, topics: &topics) }
            #expect(fast == p)
            if fast != p { return }
        }
    }

    @Test("decodePublish raises decode's errors, cache warm or cold", arguments: [MQTTVersion.v311, .v5])
    func errorsMatch(version: MQTTVersion) {
        let decoder = MQTTDecoder(version: version, maximumPacketSize: 300)
        var warm = TopicNameCache()
        var rng = SeededRandom(seed: 0xE4404)
        let valid = Self.publishes(seed: 5, version: version, count: 200).map { MQTTEncoder.encode(.publish($0), version: version) }
        var checked = 0
        for _ in 0..<20_000 {
            var input = valid[Int.random(in: 0..<valid.count, using: &rng)]
            // Warm the cache with the unmutated packet's topic first, then mutate a byte or two.
            _ = try? input.withUnsafeBytes { try decoder.decodePublish($0, topics: &warm) }
            for _ in 0..<Int.random(in: 1...2, using: &rng) {
                input[Int.random(in: 0..<input.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            guard input[0] >> 4 == 3 else { continue }
            // What the assembler would hand over: the whole packet its header announces, or, for a
            // header over the limit or malformed, what arrived.
            let general: Result<PublishPacket?, MQTTDecodeError> = Result { () throws(MQTTDecodeError) in
                guard let (packet, used) = try decoder.decode(input) else { return nil }
                guard used == input.count else { throw MQTTDecodeError.malformed("packet length disagrees with its contents") }
                guard case .publish(let p) = packet else { return nil }
                return p
            }
            var cold = TopicNameCache()
            for cache in [0, 1] {
                let fast: Result<PublishPacket, MQTTDecodeError> = input.withUnsafeBytes { raw in
                    Result { () throws(MQTTDecodeError) in cache == 0 ? try decoder.decodePublish(raw, topics: &cold)
                                                                     : try decoder.decodePublish(raw, topics: &warm) }
                }
                switch (general, fast) {
                case (.success(let a?), .success(let b)): #expect(a == b, "\(input)")
                case (.failure(let a), .failure(let b)): #expect(a.reasonCode == b.reasonCode, "\(input): \(a) vs \(b)")
                case (.success(nil), .failure): break  // incomplete for decode: the assembler never hands it over
                default: Issue.record("\(input): decode \(general), decodePublish \(fast)")
                }
            }
            checked += 1
        }
        #expect(checked > 5_000)
    }
}

@Suite("MQTTProperties copy-on-write")
struct PropertiesCopyOnWriteTests {
    @Test("a copy is independent of the original, and empty equals emptied")
    func valueSemantics() {
        var a = MQTTProperties()
        #expect(a.isEmpty)
        a.reasonString = "r"
        a.userProperties = [UserProperty("k", "v")]
        var b = a
        b.reasonString = "other"
        b.userProperties.append(UserProperty("k2", "v2"))
        #expect(a.reasonString == "r" && a.userProperties.count == 1)
        #expect(b.reasonString == "other" && b.userProperties.count == 2)
        #expect(a != b)
        var c = a
        c.reasonString = nil
        c.userProperties = []
        #expect(c.isEmpty && c == MQTTProperties.none && c.hashValue == MQTTProperties.none.hashValue)
        #expect(!a.isEmpty)
    }
}
