import Testing
@testable import FleetProtocol

/// What a coordinator link does: append what arrived, decode until nil, drop what was consumed.
struct FleetAccumulator {
    var decoder = FleetFrameDecoder()
    var buffer: [UInt8] = []
    var frames: [FleetFrame] = []

    mutating func feed<C: Collection>(_ chunk: C) throws(FleetFrameError) where C.Element == UInt8 {
        buffer.append(contentsOf: chunk)
        // Bounded: each successful turn consumes at least the 7-byte header.
        for _ in 0...buffer.count {
            guard let (frame, consumed) = try decoder.decode(buffer) else { return }
            precondition(consumed >= FleetLimits.headerBytes && consumed <= buffer.count)
            frames.append(frame)
            buffer.removeFirst(consumed)
        }
    }
}

/// The decoder must give the same frames however the bytes are cut (nats `split_test.go`).
@Suite("Fleet frames: split feeding")
struct FleetSplitFeedingTests {
    @Test("every golden vector fed one byte at a time", arguments: FleetGolden.all)
    func oneByteAtATime(_ v: FleetGoldenVector) throws {
        var acc = FleetAccumulator()
        for (i, byte) in v.bytes.enumerated() {
            try acc.feed([byte])
            #expect(acc.frames.isEmpty == (i < v.bytes.count - 1))
        }
        #expect(acc.frames == [v.frame])
        #expect(acc.buffer.isEmpty)
    }

    @Test("every strict prefix of every golden vector is nil, not an error", arguments: FleetGolden.all)
    func prefixesNeedMore(_ v: FleetGoldenVector) throws {
        for n in 0..<v.bytes.count {
            #expect(try FleetFrameDecoder().decode(Array(v.bytes[..<n])) == nil)
        }
    }

    @Test("all golden vectors back to back, in seeded random splits", arguments: 0..<50 as Range<UInt64>)
    func randomSplits(seed: UInt64) throws {
        var rng = SeededRandom(seed: seed &* 104_729 &+ 17)
        let vectors = FleetGolden.all.shuffled(using: &rng)
        let stream = vectors.flatMap(\.bytes)
        var acc = FleetAccumulator()
        var at = 0
        while at < stream.count {  // bounded: at grows by >= 1 each turn
            let n = Int.random(in: 1...max(1, min(60, stream.count - at)), using: &rng)
            try acc.feed(stream[at..<at + n])
            at += n
        }
        #expect(acc.frames == vectors.map(\.frame))
        #expect(acc.buffer.isEmpty)
    }
}
