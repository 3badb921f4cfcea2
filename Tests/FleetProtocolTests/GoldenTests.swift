import Testing
@testable import FleetProtocol

@Suite("Golden vectors typed from the specs")
struct GoldenTests {
    @Test("decode(golden) == expected", arguments: Golden.all)
    func decodesGolden(_ v: GoldenVector) throws {
        let result = try #require(try MQTTDecoder(version: v.version).decode(v.bytes))
        #expect(result.packet == v.packet)
        #expect(result.consumed == v.bytes.count)
    }

    @Test("encode(expected) == golden", arguments: Golden.all)
    func encodesGolden(_ v: GoldenVector) {
        #expect(MQTTEncoder.encode(v.packet, version: v.version) == v.bytes)
    }

    @Test("every packet type has a golden vector in both versions")
    func coverage() {
        func type(_ p: MQTTPacket) -> UInt8 {
            switch p {
            case .connect: 1
            case .connack: 2
            case .publish: 3
            case .puback: 4
            case .pubrec: 5
            case .pubrel: 6
            case .pubcomp: 7
            case .subscribe: 8
            case .suback: 9
            case .unsubscribe: 10
            case .unsuback: 11
            case .pingreq: 12
            case .pingresp: 13
            case .disconnect: 14
            case .auth: 15
            }
        }
        let v311 = Set(Golden.all.filter { $0.version == .v311 }.map { type($0.packet) })
        let v5 = Set(Golden.all.filter { $0.version == .v5 }.map { type($0.packet) })
        #expect(v311 == Set(1...14))
        #expect(v5 == Set(1...15))
    }

    @Test("encode appends to what is already in the buffer")
    func encodeAppends() {
        var out: [UInt8] = [0xAA]
        MQTTEncoder.encode(.pingreq, version: .v5, into: &out)
        MQTTEncoder.encode(Golden.puback311.packet, version: .v311, into: &out)
        #expect(out == [0xAA, 0xC0, 0x00] + Golden.puback311.bytes)
    }

    @Test("3.1.1 encoding drops properties and ack reason codes")
    func v311DropsFiveOnlyFields() {
        #expect(MQTTEncoder.encode(Golden.pubrel5Long.packet, version: .v311) == Golden.pubrel311.bytes)
        #expect(MQTTEncoder.encode(Golden.disconnect5Long.packet, version: .v311) == Golden.disconnect311.bytes)
        #expect(MQTTEncoder.encode(Golden.unsuback5.packet, version: .v311) == [0xB0, 0x02, 0x00, 0x04])
    }

    @Test("a long remaining length uses a minimal multi-byte varint")
    func longPublish() throws {
        // 3.1.1 PUBLISH QoS 0, topic "t" (3 bytes) + 200 payload bytes: RL 203 = 0xCB 0x01.
        let payload = [UInt8](repeating: 0x5A, count: 200)
        let golden: [UInt8] = [0x30, 0xCB, 0x01, 0x00, 0x01, 0x74] + payload
        let packet = MQTTPacket.publish(PublishPacket(topic: "t", payload: payload))
        #expect(MQTTEncoder.encode(packet, version: .v311) == golden)
        #expect(try MQTTDecoder().decode(golden)?.packet == packet)
    }

    @Test("decoding stops at the packet end; the next packet stays in the buffer")
    func twoPacketsInOneBuffer() throws {
        let bytes = Golden.publish311QoS1.bytes + Golden.puback311.bytes
        let first = try #require(try MQTTDecoder().decode(bytes))
        #expect(first.packet == Golden.publish311QoS1.packet)
        #expect(first.consumed == Golden.publish311QoS1.bytes.count)
    }
}
