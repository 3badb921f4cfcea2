import Testing
@testable import FleetProtocol

/// The reassembly every connection runs, fed seeded random splits: each packet comes out whole,
/// once, in order, whatever the chunk boundaries (including inside the length field).
@Suite struct PacketAssemblerTests {
    /// PUBLISH packets whose remaining length needs 1, 2 and 3 varint bytes.
    private func stream(seed: UInt64) -> [[UInt8]] {
        var rng = SplitMix(seed)
        return (0..<60).map { i in
            let sizes = [0, 5, 120, 130, 300, 16_380, 16_400, 40_000]
            let payload = [UInt8](repeating: UInt8(i & 0xFF), count: sizes[Int(rng.next() % UInt64(sizes.count))])
            return MQTTEncoder.encode(.publish(PublishPacket(topic: "t/\(i)", payload: payload)), version: .v311)
        }
    }

    private func run(_ packets: [[UInt8]], chunks: [Int], stopEvery: Int? = nil) -> [[UInt8]] {
        let bytes = packets.flatMap { $0 }
        let decoder = MQTTDecoder(version: .v311, maximumPacketSize: 1 << 20)
        var assembler = PacketAssembler()
        var out: [[UInt8]] = []
        var handled = 0
        func handle(_ p: UnsafeRawBufferPointer) -> Bool {
            out.append(Array(p))
            handled += 1
            return stopEvery.map { handled % $0 != 0 } ?? true
        }
        var offset = 0
        var c = 0
        while offset < bytes.count {
            let n = min(chunks[c % chunks.count], bytes.count - offset)
            c += 1
            bytes[offset..<(offset + n)].withUnsafeBytes { assembler.feed($0, size: decoder.packetSize, handle: handle) }
            offset += n
            if stopEvery != nil {
                for _ in 0..<packets.count where !assembler.pending.isEmpty { assembler.resume(size: decoder.packetSize, handle: handle) }
            }
        }
        return out
    }

    @Test(arguments: [1, 2, 3, 7, 64, 1000, 65_536])
    func fixedChunkSizes(_ size: Int) {
        let packets = stream(seed: UInt64(size))
        let same = run(packets, chunks: [size]) == packets
        #expect(same)
    }

    @Test func seededRandomSplits() {
        for seed in 1...40 as ClosedRange<UInt64> {
            var rng = SplitMix(seed * 7919)
            let packets = stream(seed: seed)
            let chunks = (0..<97).map { _ in 1 + Int(rng.next() % 5000) }
            let same = run(packets, chunks: chunks) == packets
            #expect(same, "seed \(seed)")
        }
    }

    @Test func splitInsideTheLengthField() {
        // 16,400-byte payload: the remaining length takes 3 bytes; cut after each of them.
        let packets = [MQTTEncoder.encode(.publish(PublishPacket(topic: "a", payload: [UInt8](repeating: 1, count: 16_400))), version: .v311)]
        for cut in 1...4 {
            let same = run(packets, chunks: [cut, 100_000]) == packets
            #expect(same, "cut \(cut)")
        }
    }

    @Test func stoppingKeepsTheRestForResume() {
        let packets = stream(seed: 99)
        let result = run(packets, chunks: [3000], stopEvery: 3)
        #expect(result.count == packets.count)
        let same = result == packets
        #expect(same)
    }

    @Test func oversizeIsInvalidFromTheHeaderAlone() {
        let decoder = MQTTDecoder(version: .v311, maximumPacketSize: 1000)
        let header: [UInt8] = [0x30, 0xFF, 0xFF, 0x7F]  // announces ~2 MB
        #expect(header.withUnsafeBytes(decoder.packetSize) == .invalid)
        var assembler = PacketAssembler()
        var seen = 0
        header.withUnsafeBytes { assembler.feed($0, size: decoder.packetSize) { _ in seen += 1; return false } }
        #expect(seen == 1)
        #expect(assembler.pending.isEmpty)
    }

    @Test func fiveByteLengthIsInvalid() {
        let decoder = MQTTDecoder(version: .v311)
        let fiveBytes: [UInt8] = [0x30, 0x80, 0x80, 0x80, 0x80, 0x01]
        let split: [UInt8] = [0x30, 0x80]
        #expect(fiveBytes.withUnsafeBytes(decoder.packetSize) == .invalid)
        #expect(split.withUnsafeBytes(decoder.packetSize) == .needMore)
    }
}

private struct SplitMix {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
