import Testing
@testable import FleetProtocol

/// What both ends of the coordinator link do: a `PacketAssembler` sized by
/// `FleetFrameDecoder.frameSize` reassembles frames, each decoded whole.
struct FleetAccumulator {
    var decoder = FleetFrameDecoder()
    var assembler = PacketAssembler()
    var frames: [FleetFrame] = []
    var buffer: [UInt8] { assembler.pending }

    mutating func feed<C: Collection>(_ chunk: C) throws(FleetFrameError) where C.Element == UInt8 {
        let decoder = self.decoder
        var decoded: [FleetFrame] = []
        var failure: FleetFrameError?
        Array(chunk).withUnsafeBytes { bytes in
            assembler.feed(bytes, size: decoder.frameSize) { frameBytes in
                do throws(FleetFrameError) {
                    guard let (frame, consumed) = try decoder.decode(frameBytes), consumed == frameBytes.count else {
                        failure = .malformed("the assembler handed out a frame the decoder did not consume whole")
                        return false
                    }
                    decoded.append(frame)
                    return true
                } catch {
                    failure = error
                    return false
                }
            }
        }
        frames += decoded
        if let failure { throw failure }
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

    @Test("frameSize: the whole frame for every golden vector, more for a short header", arguments: FleetGolden.all)
    func frameSizeOfGoldenVectors(_ v: FleetGoldenVector) {
        let decoder = FleetFrameDecoder()
        for n in 0..<FleetLimits.headerBytes {
            #expect(Array(v.bytes[..<n]).withUnsafeBytes(decoder.frameSize) == .needMore)
        }
        #expect(Array(v.bytes[..<FleetLimits.headerBytes]).withUnsafeBytes(decoder.frameSize) == .complete(v.bytes.count))
    }

    /// What the decoder refuses from the header alone, the size function calls invalid from the
    /// same 7 bytes, so a link raises the error without waiting for a body that may never come.
    @Test("frameSize: a header the decoder refuses is invalid", arguments: [
        [0x00, 0x01, 0x80, 0, 0, 0, 0] as [UInt8],        // reserved flag
        [0x7F, 0x7F, 0x00, 0, 0, 0, 0],                    // unknown kind, not ignorable
        [0x00, 0x01, 0x00, 0x7F, 0xFF, 0xFF, 0xFF],        // over the maximum frame size
    ])
    func frameSizeOfRefusedHeaders(_ header: [UInt8]) {
        let decoder = FleetFrameDecoder(maximumFrameSize: 1024)
        #expect(header.withUnsafeBytes(decoder.frameSize) == .invalid)
        #expect(throws: FleetFrameError.self) { try decoder.decode(header) }
    }
}
