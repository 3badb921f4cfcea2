import Testing
@testable import FleetCore

/// A mapping's receive criteria turned into chunks (issue #14): each rule delivers exactly the
/// right chunks whole, a byte at a time and in seeded random splits; bounds, framing errors and
/// their resynchronisation, the prefix filter, and the idle flush on an injected clock.
@Suite struct ReceiveFramerTests {
    typealias Event = ReceiveFramer.Event

    static func criteria(_ rule: ReceiveCriteria.Rule, maxBytes: Int? = nil, prefix: String = "") -> ReceiveCriteria {
        try! ReceiveCriteria(rule: rule, maxBytes: maxBytes, prefix: Array(prefix.utf8))
    }

    static func chunk(_ s: String) -> Event { .chunk(Array(s.utf8)) }

    /// Feeds `bytes` in pieces of the given sizes (all at `now` 0), then finishes the stream.
    static func run(_ c: ReceiveCriteria, _ bytes: [UInt8], splits: [Int]) -> (events: [Event], filtered: UInt64, maxBuffered: Int) {
        var f = ReceiveFramer(c)
        var events: [Event] = []
        var offset = 0
        var maxBuffered = 0
        for n in splits + [bytes.count] where offset < bytes.count {
            let end = min(bytes.count, offset + n)
            events += f.feed(Array(bytes[offset..<end]), now: 0)
            offset = end
            maxBuffered = max(maxBuffered, f.bufferedBytes)
        }
        events += f.finish()
        return (events, f.filteredChunks, maxBuffered)
    }

    /// Whole, a byte at a time, and 16 seeded random splits: all must give `expected`.
    static func expectEveryWay(_ c: ReceiveCriteria, _ bytes: [UInt8], _ expected: [Event], filtered: UInt64 = 0,
                               sourceLocation: SourceLocation = #_sourceLocation) {
        var ways: [(String, [Int])] = [("whole", [bytes.count]), ("a byte at a time", Array(repeating: 1, count: bytes.count))]
        var rng = SplitMix(seed: 0x5EED ^ UInt64(bytes.count))
        for i in 0..<16 {
            var splits: [Int] = []
            var total = 0
            while total < bytes.count {
                let n = Int.random(in: 1...max(1, min(bytes.count, 9)), using: &rng)
                splits.append(n)
                total += n
            }
            ways.append(("random split \(i)", splits))
        }
        for (name, splits) in ways {
            let r = run(c, bytes, splits: splits)
            #expect(r.events == expected, "\(name): \(splits)", sourceLocation: sourceLocation)
            #expect(r.filtered == filtered, "\(name): filtered", sourceLocation: sourceLocation)
        }
    }

    static func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

    // Delimiter: chunks without the delimiter; empty ones skipped; the remainder at the end.

    @Test(arguments: [
        ("\n", "a\nbb\n\nccc\n", ["a", "bb", "ccc"]),
        ("\n", "a\nbb\n\nccc", ["a", "bb", "ccc"]),  // the unterminated remainder at the end of the stream
        ("\n", "\n\n\n", []),
        ("\r\n", "one\r\ntwo\r\r\nthree\r\n\r\nfour\n\r", ["one", "two\r", "three", "four\n\r"]),
        ("ab", "xaab|abab|aab", ["xa", "|", "|a"]),
        ("END!", "ENDEND!EN!END!ENDEND!", ["END", "EN!", "END"]),
    ])
    func delimiter(delimiter: String, stream: String, chunks: [String]) {
        Self.expectEveryWay(Self.criteria(.delimiter(Self.bytes(delimiter))), Self.bytes(stream), chunks.map(Self.chunk))
    }

    @Test func binaryDelimiter() {
        let d: [UInt8] = [0x00, 0xFF]
        let stream: [UInt8] = [1, 0x00, 0xFF, 0xFF, 0x00, 0x00, 0xFF, 2, 3, 0x00]
        Self.expectEveryWay(Self.criteria(.delimiter(d)), stream, [.chunk([1]), .chunk([0xFF, 0x00]), .chunk([2, 3, 0x00])])
    }

    @Test func maxBytesBoundsADelimitedChunkExactly() {
        let c = Self.criteria(.delimiter(Self.bytes("\r\n")), maxBytes: 4)
        Self.expectEveryWay(c, Self.bytes("abcd\r\nabc\r\n"), [Self.chunk("abcd"), Self.chunk("abc")])
        // Five bytes without a delimiter: one error, the run dropped through the next delimiter.
        Self.expectEveryWay(c, Self.bytes("abcde\r\nok\r\n"), [.error(.delimiterNotFound(maxBytes: 4)), Self.chunk("ok")])
        // The delimiter straddles the point where the run became too long.
        Self.expectEveryWay(c, Self.bytes("abcd\r\r\nok\r\n"), [.error(.delimiterNotFound(maxBytes: 4)), Self.chunk("ok")])
        // A long run is one error, however long.
        let long = Self.bytes(String(repeating: "x", count: 50) + "\r\nyes\r\n" + String(repeating: "y", count: 9) + "\r\n")
        Self.expectEveryWay(c, long, [.error(.delimiterNotFound(maxBytes: 4)), Self.chunk("yes"), .error(.delimiterNotFound(maxBytes: 4))])
    }

    @Test func aDelimiterlessStreamIsHeldToItsBound() {
        let c = Self.criteria(.delimiter(Self.bytes("\r\n")), maxBytes: 1_000)
        let r = Self.run(c, Array(repeating: 0x41, count: 100_000), splits: Array(repeating: 4_096, count: 25))
        #expect(r.events == [.error(.delimiterNotFound(maxBytes: 1_000))])
        #expect(r.maxBuffered <= 1_000 + 2)
    }

    // Fixed length.

    @Test(arguments: [
        (3, "abcdefghi", ["abc", "def", "ghi"], nil as Int?),
        (3, "abcdefgh", ["abc", "def"], 2),
        (1, "xyz", ["x", "y", "z"], nil),
    ])
    func length(n: Int, stream: String, chunks: [String], truncated: Int?) {
        let expected = chunks.map(Self.chunk) + (truncated.map { [Event.error(.truncated(pendingBytes: $0))] } ?? [])
        Self.expectEveryWay(Self.criteria(.length(n)), Self.bytes(stream), expected)
    }

    @Test func aLengthOfOneMebibyte() {
        let payload = (0..<(2 * 1_048_576)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let r = Self.run(Self.criteria(.length(1_048_576)), payload, splits: Array(repeating: 65_536, count: 32))
        #expect(r.events == [.chunk(Array(payload[..<1_048_576])), .chunk(Array(payload[1_048_576...]))])
    }

    // Length prefix: chunks are the payloads, without their prefix.

    @Test(arguments: [
        (ReceiveCriteria.LengthPrefix.u8, [2, 0x61, 0x62, 0, 1, 0x63] as [UInt8], [[0x61, 0x62], [0x63]] as [[UInt8]], nil as Int?),
        (.u16be, [0, 3, 7, 8, 9, 0, 0, 0, 1, 10], [[7, 8, 9], [10]], nil),
        (.u32be, [0, 0, 0, 2, 0xA, 0xB, 0, 0, 1, 0] + Array(repeating: 5, count: 256), [[0xA, 0xB], Array(repeating: 5, count: 256)], nil),
        (.u16be, [0, 2, 1, 2, 0], [[1, 2]], 1),  // half a prefix at the end
        (.u32be, [0, 0, 0, 4, 1, 2], [], 2),  // half a payload at the end
    ])
    func lengthPrefix(width: ReceiveCriteria.LengthPrefix, stream: [UInt8], chunks: [[UInt8]], truncated: Int?) {
        let expected = chunks.map(Event.chunk) + (truncated.map { [Event.error(.truncated(pendingBytes: $0))] } ?? [])
        Self.expectEveryWay(Self.criteria(.lengthPrefix(width)), stream, expected)
    }

    @Test func aDeclaredLengthOverMaxBytesIsSkipped() {
        let c = Self.criteria(.lengthPrefix(.u16be), maxBytes: 4)
        Self.expectEveryWay(c, [0, 4, 1, 2, 3, 4, 0, 5, 1, 2, 3, 4, 5, 0, 1, 9],
                            [.chunk([1, 2, 3, 4]), .error(.declaredLengthTooLarge(declared: 5, maxBytes: 4)), .chunk([9])])
    }

    @Test func aHugeDeclaredLengthIsNeverBuffered() {
        let c = Self.criteria(.lengthPrefix(.u32be))
        let r = Self.run(c, [0xFF, 0xFF, 0xFF, 0xFF] + Array(repeating: 1, count: 1_000_000), splits: Array(repeating: 65_536, count: 16))
        #expect(r.events == [.error(.declaredLengthTooLarge(declared: 0xFFFF_FFFF, maxBytes: 65_536))])
        #expect(r.maxBuffered <= 4)
    }

    // max_bytes with idle_ms: full chunks at once, the rest when the clock says so.

    @Test func idleRuleEmitsFullChunksWhateverTheSplit() {
        let c = Self.criteria(.idle(ms: 100), maxBytes: 4)
        Self.expectEveryWay(c, Self.bytes("abcdefghij"), [Self.chunk("abcd"), Self.chunk("efgh"), Self.chunk("ij")])
    }

    @Test func idleFlushOnAMockClock() {
        var f = ReceiveFramer(Self.criteria(.idle(ms: 100), maxBytes: 4))
        #expect(f.deadline == nil)
        #expect(f.feed(Self.bytes("ab"), now: 1_000).isEmpty)
        #expect(f.deadline == 1_100)
        #expect(f.feed(Self.bytes("c"), now: 1_050).isEmpty)
        #expect(f.deadline == 1_150, "idle counts from the last byte")
        #expect(f.flush(now: 1_149).isEmpty)
        #expect(f.flush(now: 1_150) == [Self.chunk("abc")])
        #expect(f.deadline == nil && f.bufferedBytes == 0)
        #expect(f.flush(now: 2_000).isEmpty)
        #expect(f.feed(Self.bytes("defgh"), now: 3_000) == [Self.chunk("defg")])
        #expect(f.deadline == 3_100)
        #expect(f.feed([], now: 3_090).isEmpty)
        #expect(f.deadline == 3_100, "no bytes, no activity")
        // The deadline passed before these bytes came (the timer has not fired yet): "h" is a chunk of its own.
        #expect(f.feed(Self.bytes("ijk"), now: 3_100) == [Self.chunk("h")])
        #expect(f.deadline == 3_200)
        #expect(f.feed(Self.bytes("l"), now: 3_199) == [Self.chunk("ijkl")])
        #expect(f.deadline == nil, "a full chunk leaves nothing to flush")
        #expect(f.feed(Self.bytes("m"), now: 3_300).isEmpty)
        #expect(f.finish() == [Self.chunk("m")])
    }

    @Test func otherRulesHaveNoDeadline() {
        for rule: ReceiveCriteria.Rule in [.delimiter([10]), .length(8), .lengthPrefix(.u8)] {
            var f = ReceiveFramer(Self.criteria(rule))
            _ = f.feed([1, 2], now: 5)
            #expect(f.deadline == nil && f.flush(now: 1_000_000).isEmpty, "\(rule)")
        }
    }

    // The prefix filter.

    @Test func prefixFilterDiscardsAndCounts() {
        let c = Self.criteria(.delimiter(Self.bytes("\n")), prefix: "$G")
        Self.expectEveryWay(c, Self.bytes("$GPGGA,1\nnoise\n$GPRMC\n$\nG$\n$G\n"),
                            [Self.chunk("$GPGGA,1"), Self.chunk("$GPRMC"), Self.chunk("$G")], filtered: 3)
        let lengths = Self.criteria(.lengthPrefix(.u8), prefix: "\u{1}")
        Self.expectEveryWay(lengths, [2, 1, 9, 2, 2, 9, 1, 1], [.chunk([1, 9]), .chunk([1])], filtered: 1)
    }

    // The criteria's own bounds, named by their mapping field.

    @Test(arguments: [
        (ReceiveCriteria.Rule.delimiter([]), nil as Int?, "", "delimiter"),
        (.delimiter(Array(repeating: 1, count: 17)), nil, "", "delimiter"),
        (.length(0), nil, "", "length"),
        (.length(1_048_577), nil, "", "length"),
        (.length(10), 10, "", "max_bytes"),
        (.delimiter([10]), 0, "", "max_bytes"),
        (.lengthPrefix(.u8), 1_048_577, "", "max_bytes"),
        (.idle(ms: 0), nil, "", "idle_ms"),
        (.idle(ms: 60_001), nil, "", "idle_ms"),
        (.delimiter([10]), nil, String(repeating: "p", count: 257), "prefix"),
        (.delimiter([10]), 3, "abcd", "prefix"),
        (.length(3), nil, "abcd", "prefix"),
    ])
    func boundsAreChecked(rule: ReceiveCriteria.Rule, maxBytes: Int?, prefix: String, field: String) {
        #expect(throws: ReceiveCriteria.Problem.self) { try ReceiveCriteria(rule: rule, maxBytes: maxBytes, prefix: Array(prefix.utf8)) }
        do {
            _ = try ReceiveCriteria(rule: rule, maxBytes: maxBytes, prefix: Array(prefix.utf8))
        } catch {
            #expect(error.field == field, "\(error.message)")
        }
    }

    @Test(arguments: [
        (ReceiveCriteria.Rule.delimiter(Array(repeating: 1, count: 16)), nil as Int?, 65_536),
        (.length(1_048_576), nil, 1_048_576),
        (.lengthPrefix(.u32be), 1_048_576, 1_048_576),
        (.idle(ms: 60_000), 1, 1),
        (.delimiter([10]), nil, 65_536),
    ])
    func boundsAtTheirLimitsAreAccepted(rule: ReceiveCriteria.Rule, maxBytes: Int?, effective: Int) throws {
        #expect(try ReceiveCriteria(rule: rule, maxBytes: maxBytes).maxBytes == effective)
    }
}
