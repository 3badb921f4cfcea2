import Testing
@testable import FleetProtocol

/// Random bytes and mutated golden vectors: the decoder must return nil, a packet, or throw —
/// never trap — and whatever it decodes must survive a re-encode.
@Suite("Robustness on random input")
struct RobustnessTests {
    static func check(_ input: [UInt8]) throws {
        for version in [MQTTVersion.v311, .v5] {
            let decoder = MQTTDecoder(version: version)
            let result: (packet: MQTTPacket, consumed: Int)?
            do { result = try decoder.decode(input) } catch { continue }
            guard let result else { continue }
            #expect(result.consumed >= 2 && result.consumed <= input.count)
            // CONNECT carries its own level; everything else uses the decoder's.
            var encodeVersion = version
            if case .connect(let c) = result.packet { encodeVersion = c.version }
            let again = try decoder.decode(MQTTEncoder.encode(result.packet, version: encodeVersion))
            #expect(again?.packet == result.packet, "\(input)")
        }
    }

    @Test("10,000 seeded random inputs")
    func randomBytes() throws {
        var rng = SeededRandom(seed: 0xBAD5EED)
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...48, using: &rng)
            var input = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Keep the remaining length plausible half of the time so bodies get parsed.
            if input.count >= 2 && Bool.random(using: &rng) { input[1] = UInt8(input.count - 2) & 0x7F }
            try Self.check(input)
        }
    }

    @Test("10,000 seeded mutations of golden vectors")
    func mutations() throws {
        var rng = SeededRandom(seed: 0x6011D)
        let goldens = Golden.all.map(\.bytes)
        for _ in 0..<10_000 {
            var input = goldens[Int.random(in: 0..<goldens.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let i = Int.random(in: 0..<max(1, input.count), using: &rng)
                switch Int.random(in: 0...4, using: &rng) {
                case 0 where !input.isEmpty: input[i] = UInt8.random(in: 0...255, using: &rng)
                case 1 where !input.isEmpty: input[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
                case 2 where !input.isEmpty: input.remove(at: i)
                case 3: input.insert(UInt8.random(in: 0...255, using: &rng), at: min(i, input.count))
                default: input = Array(input.prefix(i))
                }
            }
            // Re-fix the remaining length half of the time so the mutation reaches the body parser.
            if input.count >= 2 && input.count < 130 && Bool.random(using: &rng) { input[1] = UInt8(input.count - 2) }
            try Self.check(input)
        }
    }
}
