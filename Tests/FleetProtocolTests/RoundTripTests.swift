import Testing
@testable import FleetProtocol

@Suite("Round trip of generated packets")
struct RoundTripTests {
    @Test("decode(encode(p)) == p for seeded random valid packets", arguments: [MQTTVersion.v311, .v5])
    func roundTrip(version: MQTTVersion) throws {
        var gen = PacketGenerator(seed: 0xF1EE7 &+ UInt64(version.rawValue), version: version)
        let decoder = MQTTDecoder(version: version)
        for _ in 0..<3_000 {
            let packet = gen.packet()
            let bytes = MQTTEncoder.encode(packet, version: version)
            let decoded = try #require(try decoder.decode(bytes), "\(packet)")
            #expect(decoded.packet == packet)
            #expect(decoded.consumed == bytes.count)
        }
    }

    @Test("a generated stream decodes in random splits", arguments: [MQTTVersion.v311, .v5])
    func streamInSplits(version: MQTTVersion) throws {
        var gen = PacketGenerator(seed: 42 &+ UInt64(version.rawValue), version: version)
        var rng = SeededRandom(seed: 7)
        let packets = (0..<300).map { _ in gen.packet() }
        var stream: [UInt8] = []
        for p in packets { MQTTEncoder.encode(p, version: version, into: &stream) }
        var acc = Accumulator(version: version)
        var at = 0
        while at < stream.count {
            let n = Int.random(in: 1...min(97, stream.count - at), using: &rng)
            try acc.feed(stream[at..<at + n])
            at += n
        }
        #expect(acc.packets == packets)
    }

    @Test("large payloads cross every remaining-length width")
    func remainingLengthWidths() throws {
        // Remaining lengths 127/128, 16383/16384, 2097151/2097152: topic "t" is 3 bytes.
        for remaining in [127, 128, 16_383, 16_384, 2_097_151, 2_097_152] {
            let packet = MQTTPacket.publish(PublishPacket(topic: "t", payload: [UInt8](repeating: 1, count: remaining - 3)))
            let bytes = MQTTEncoder.encode(packet, version: .v311)
            let width = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4
            #expect(bytes.count == 1 + width + remaining)
            #expect(try MQTTDecoder().decode(bytes)?.packet == packet)
        }
    }

    @Test("a long property block moves its length prefix correctly")
    func longProperties() throws {
        var p = MQTTProperties()
        p.userProperties = (0..<40).map { UserProperty("key\($0)", String(repeating: "v", count: $0)) }
        let packet = MQTTPacket.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown, properties: p))
        let bytes = MQTTEncoder.encode(packet, version: .v5)
        #expect(try MQTTDecoder(version: .v5).decode(bytes)?.packet == packet)
    }
}
