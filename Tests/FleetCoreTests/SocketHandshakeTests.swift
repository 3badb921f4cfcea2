import Testing
@testable import FleetCore

/// The managed-socket handshake line and the agent's answers (issue #14, SocketHandshake's grammar).
/// Every line is read whole, a byte at a time and in seeded random splits, with the same outcome.
@Suite struct SocketHandshakeTests {
    /// What a device's bytes came to, with everything after the line gathered across feeds.
    enum Read: Equatable {
        case needMore
        case complete(SocketOpenRequest, rest: [UInt8])
        case refused(SocketErrorCode)
    }

    static func read(_ bytes: [UInt8], splits: [Int]) -> (Read, reason: String) {
        var h = SocketHandshake()
        var outcome = Read.needMore
        var reason = ""
        var offset = 0
        for n in splits + [bytes.count] where offset < bytes.count {
            let chunk = Array(bytes[offset..<min(bytes.count, offset + n)])
            offset += chunk.count
            switch h.feed(chunk) {
            case .needMore:
                #expect(outcome == .needMore, "needMore after an outcome")
            case .complete(let r, let rest):
                if case .complete(let before, let restBefore) = outcome {
                    #expect(before == r && rest == chunk, "a feed after the line is all data")
                    outcome = .complete(r, rest: restBefore + rest)
                } else {
                    outcome = .complete(r, rest: rest)
                }
            case .refused(let refusal):
                if case .refused(let code) = outcome { #expect(code == refusal.code && reason == refusal.reason) }
                outcome = .refused(refusal.code)
                reason = refusal.reason
            }
        }
        return (outcome, reason)
    }

    /// Whole, one byte at a time, and random splits: all the same.
    static func readEveryWay(_ bytes: [UInt8]) -> (Read, reason: String) {
        let whole = read(bytes, splits: [bytes.count])
        #expect(read(bytes, splits: Array(repeating: 1, count: bytes.count)) == whole, "a byte at a time")
        var rng = SplitMix(seed: UInt64(bytes.count))
        for _ in 0..<8 {
            var splits: [Int] = []
            var total = 0
            while total < bytes.count {
                let n = Int.random(in: 1...max(1, bytes.count / 3 + 1), using: &rng)
                splits.append(n)
                total += n
            }
            #expect(read(bytes, splits: splits) == whole, "splits \(splits)")
        }
        return whole
    }

    static let m128 = String(repeating: "m", count: 128)
    static let v256 = String(repeating: "v", count: 256)

    @Test(arguments: [
        // line -> mapping, client, password, bytes after the line
        ("OPEN meter\n", SocketOpenRequest(mapping: "meter"), ""),
        ("OPEN meter\r\n", SocketOpenRequest(mapping: "meter"), ""),
        ("OPEN meter.v2 client=dev-7 password=s3cr=t\n", SocketOpenRequest(mapping: "meter.v2", clientId: "dev-7", password: "s3cr=t"), ""),
        ("OPEN A-z_0.9 password=p client=c\n", SocketOpenRequest(mapping: "A-z_0.9", clientId: "c", password: "p"), ""),
        ("  OPEN   m   client=c  \r\n", SocketOpenRequest(mapping: "m", clientId: "c"), ""),
        ("OPEN m password=!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}~\n", SocketOpenRequest(mapping: "m", password: "!\"#$%&'()*+,-./:;<>?@[\\]^_`{|}~"), ""),
        ("OPEN m\nHELLO\r\nOPEN x\n", SocketOpenRequest(mapping: "m"), "HELLO\r\nOPEN x\n"),
        ("OPEN \(m128) client=\(v256) password=\(v256)\n", SocketOpenRequest(mapping: m128, clientId: v256, password: v256), ""),
    ])
    func accepted(line: String, request: SocketOpenRequest, rest: String) {
        let (read, reason) = Self.readEveryWay(Array(line.utf8))
        #expect(read == .complete(request, rest: Array(rest.utf8)), "\(reason)")
    }

    @Test func bytesAfterTheLineAreNeverLost() {
        let bytes: [UInt8] = Array("OPEN m\n".utf8) + [0, 0xFF, 0x0A, 0x0D, 0x80] + Array(repeating: 7, count: 2_000)
        #expect(Self.readEveryWay(bytes).0 == .complete(SocketOpenRequest(mapping: "m"), rest: Array(bytes.dropFirst(7))))
    }

    @Test(arguments: [
        // line -> code, a word of the reason
        ("open m\n", SocketErrorCode.badRequest, "OPEN"),
        ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", .badRequest, "OPEN"),
        ("OPENm\n", .badRequest, "OPEN"),
        ("OPEN\n", .badRequest, "no mapping"),
        ("OPEN   \r\n", .badRequest, "no mapping"),
        ("\n", .badRequest, "OPEN"),
        ("OPEN bad/name\n", .badRequest, "mapping names"),
        ("OPEN client=x\n", .badRequest, "mapping names"),
        ("OPEN \(String(repeating: "m", count: 129))\n", .badRequest, "mapping names"),
        ("OPEN m extra\n", .badRequest, "key=value"),
        ("OPEN m client=\n", .badRequest, "values"),
        ("OPEN m =x\n", .badRequest, "unknown key"),
        ("OPEN m password=\(String(repeating: "v", count: 257))\n", .badRequest, "values"),
        ("OPEN m client=a client=b\n", .badRequest, "client given twice"),
        ("OPEN m password=a client=c password=b\n", .badRequest, "password given twice"),
        ("OPEN m user=x\n", .badRequest, "unknown key user"),
        ("OPEN m Client=x\n", .badRequest, "unknown key"),
        ("OPEN m\tclient=x\n", .badRequest, "0x9"),
        ("OPEN m\u{0}", .badRequest, "0x0"),  // refused before any line end
        ("OPEN m\rclient=x\n", .badRequest, "CR"),
        ("OPEN m\r\r\n", .badRequest, "CR"),
        ("OPEN m\u{E9}\n", .badRequest, "0xc3"),
        ("OPEN " + String(repeating: "m", count: 1_019), .tooLong, "1024"),
        ("OPEN " + String(repeating: "m", count: 1_018) + "\r\n", .tooLong, "1024"),  // 1,025 with its CR LF
    ])
    func refused(line: String, code: SocketErrorCode, reasonWord: String) {
        let (read, reason) = Self.readEveryWay(Array(line.utf8))
        #expect(read == .refused(code), "\(reason)")
        #expect(reason.contains(reasonWord), "\(reason)")
    }

    @Test func theLineHoldsAtMostOneKiBItsEndIncluded() {
        let mapping = String(repeating: "m", count: 128)
        let pad = String(repeating: " ", count: 1_024 - 5 - 128 - 2)  // trailing spaces are allowed
        let crlf = Array("OPEN \(mapping)\(pad)\r\n".utf8)
        #expect(crlf.count == 1_024)
        #expect(Self.readEveryWay(crlf).0 == .complete(SocketOpenRequest(mapping: mapping), rest: []))
        let lf = Array("OPEN \(mapping)\(pad) \n".utf8)
        #expect(lf.count == 1_024)
        #expect(Self.readEveryWay(lf).0 == .complete(SocketOpenRequest(mapping: mapping), rest: []))
        #expect(Self.readEveryWay(Array(lf.dropLast())).0 == .needMore, "1,023 bytes without a line end: still waiting")
        #expect(Self.readEveryWay(Array(lf.dropLast()) + [0x20]).0 == .refused(.tooLong))
    }

    @Test func itHoldsNothingAfterAnOutcome() {
        var h = SocketHandshake()
        #expect(h.feed(Array("OPEN m".utf8)) == .needMore)
        #expect(h.bufferedBytes == 6)
        #expect(h.feed([0x0A, 1]) == .complete(SocketOpenRequest(mapping: "m"), rest: [1]))
        #expect(h.bufferedBytes == 0)
        #expect(h.feed([]) == .complete(SocketOpenRequest(mapping: "m"), rest: []))
        var bad = SocketHandshake()
        let refusal = bad.feed([0])
        #expect(bad.feed(Array("OPEN m\n".utf8)) == refusal && bad.bufferedBytes == 0)
    }

    @Test(arguments: [
        SocketOpenRequest(mapping: "m"), SocketOpenRequest(mapping: "a.b-c_9", clientId: "dev=1"),
        SocketOpenRequest(mapping: "m", password: "p=q"), SocketOpenRequest(mapping: "m", clientId: "c", password: "~"),
    ])
    func aRequestWrittenAsALineReadsBack(request: SocketOpenRequest) {
        #expect(Self.readEveryWay(request.line).0 == .complete(request, rest: []))
    }

    @Test(arguments: [
        // name -> valid
        ("a", true), ("A-Z.a_z-0.9", true), (String(repeating: "x", count: 128), true), ("", false),
        (String(repeating: "x", count: 129), false), ("a b", false), ("a/b", false), ("a+", false), ("\u{E9}", false),
    ])
    func mappingNames(name: String, valid: Bool) {
        #expect(SocketHandshake.isMappingName(name) == valid)
    }

    // The answers: golden lines written by hand.

    @Test(arguments: [
        ("gw-1-42", "OK gw-1-42\n"),
        ("gw 1\n", "OK gw_1_\n"),
        ("", "OK _\n"),
        (String(repeating: "9", count: 170), "OK " + String(repeating: "9", count: 160) + "\n"),
    ])
    func okLine(socketId: String, line: String) {
        #expect(SocketAnswer.ok(socketId: socketId) == Array(line.utf8))
    }

    @Test(arguments: [
        (SocketErrorCode.unknownMapping, "no mapping meter", "ERR unknown-mapping no mapping meter\n"),
        (.badRequest, "caf\u{E9}\r\n\u{0}", "ERR bad-request caf????\n"),
        (.timeout, "", "ERR timeout\n"),
        (.tooLong, String(repeating: "r", count: 200), "ERR too-long " + String(repeating: "r", count: 200) + "\n"),
        (.notAuthorized, String(repeating: "r", count: 201), "ERR not-authorized " + String(repeating: "r", count: 197) + "...\n"),
        (.unavailable, String(repeating: "\u{1F600}", count: 300), "ERR unavailable " + String(repeating: "?", count: 197) + "...\n"),
    ])
    func errLine(code: SocketErrorCode, reason: String, line: String) {
        #expect(SocketAnswer.error(code, reason) == Array(line.utf8))
    }

    @Test func everyCodeIsOneLowercaseWord() {
        for code in SocketErrorCode.allCases {
            #expect(code.rawValue.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || $0 == UInt8(ascii: "-") })
        }
    }
}

/// A seeded generator, so random splits repeat.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
