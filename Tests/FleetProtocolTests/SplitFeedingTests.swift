import Testing
@testable import FleetProtocol

/// The decoder must give the same packets however the bytes are cut (nats `split_test.go`).
@Suite("Split feeding")
struct SplitFeedingTests {
    @Test("every golden vector fed one byte at a time", arguments: Golden.all)
    func oneByteAtATime(_ v: GoldenVector) throws {
        var acc = Accumulator(version: v.version)
        for (i, byte) in v.bytes.enumerated() {
            try acc.feed([byte])
            // Nothing may come out before the last byte.
            #expect(acc.packets.isEmpty == (i < v.bytes.count - 1))
        }
        #expect(acc.packets == [v.packet])
        #expect(acc.buffer.isEmpty)
    }

    @Test("all golden vectors of a version back to back, in seeded random splits",
          arguments: [MQTTVersion.v311, .v5], 0..<50 as Range<UInt64>)
    func randomSplits(version: MQTTVersion, seed: UInt64) throws {
        var rng = SeededRandom(seed: seed &* 7919 &+ UInt64(version.rawValue))
        let vectors = Golden.all.filter { $0.version == version }.shuffled(using: &rng)
        let stream = vectors.flatMap(\.bytes)
        var acc = Accumulator(version: version)
        var at = 0
        while at < stream.count {  // bounded: at grows by >= 1 each turn
            let n = Int.random(in: 1...max(1, min(40, stream.count - at)), using: &rng)
            try acc.feed(stream[at..<at + n])
            at += n
        }
        #expect(acc.packets == vectors.map(\.packet))
        #expect(acc.buffer.isEmpty)
    }

    @Test("a CONNECT switches nothing: its level comes from the packet, not the decoder")
    func connectCarriesItsOwnVersion() throws {
        #expect(try MQTTDecoder(version: .v311).decode(Golden.connect5.bytes)?.packet == Golden.connect5.packet)
        #expect(try MQTTDecoder(version: .v5).decode(Golden.connect311.bytes)?.packet == Golden.connect311.packet)
    }

    @Test("every strict prefix of every golden vector is nil, not an error", arguments: Golden.all)
    func prefixesNeedMore(_ v: GoldenVector) throws {
        let decoder = MQTTDecoder(version: v.version)
        for n in 0..<v.bytes.count {
            #expect(try decoder.decode(Array(v.bytes[..<n])) == nil)
        }
    }
}
