import Testing
@testable import FleetProtocol

/// Seeded generator of valid fleet frames: every value it makes must survive encode-then-decode.
struct FleetFrameGenerator {
    var rng: SeededRandom
    var mqtt: PacketGenerator

    init(seed: UInt64) {
        rng = SeededRandom(seed: seed)
        mqtt = PacketGenerator(seed: seed ^ 0x5EED, version: .v5)
    }

    private mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &rng) }
    private mutating func u16() -> UInt16 { UInt16.random(in: 0...UInt16.max, using: &rng) }
    private mutating func u32() -> UInt32 { UInt32.random(in: 0...UInt32.max, using: &rng) }
    private mutating func u64() -> UInt64 { rng.next() >> UInt64(int(0...63)) }
    private mutating func bool() -> Bool { Bool.random(using: &rng) }
    private mutating func bytes(_ max: Int) -> [UInt8] { (0..<int(0...max)).map { _ in UInt8.random(in: 0...255, using: &rng) } }
    /// At most 4 pieces of at most 6 bytes: under every string limit (the smallest is 64).
    private mutating func string(_ limit: Int, min: Int = 0) -> String {
        let s = mqtt.string(4)
        precondition(s.utf8.count <= limit)
        return s.utf8.count < min ? "g" + s : s
    }
    private mutating func filters() -> [String] {
        (0..<int(0...5)).map { _ in mqtt.topicFilter(allowShared: false) }
    }

    mutating func frame() -> FleetFrame {
        switch int(0...21) {
        case 0:
            let lo = UInt16(int(1...3))
            return .hello(.init(minVersion: lo, maxVersion: lo + UInt16(int(0...2)), gatewayId: string(128, min: 1),
                                authToken: bytes(40), maximumFrameSize: UInt32(int(16_384...2_000_000)),
                                mqttAddress: string(260), region: string(64),
                                labels: (0..<int(0...4)).map { _ in .init(string(64, min: 1), string(256)) },
                                capacityWeight: u32(), softwareVersion: string(64)))
        case 1:
            return .helloAck(.init(version: UInt16(int(1...9)), sessionEpoch: u64(), heartbeatIntervalMs: UInt32(int(1...60_000)),
                                   maximumFrameSize: UInt32(int(16_384...Int(UInt32.max))), coordinatorId: string(128, min: 1)))
        case 2:
            return .error(.init(code: FleetErrorCode(u16()), relatedKind: bool() ? nil : FleetFrameKind(UInt16(int(1...0xFFFF))),
                                message: string(1024)))
        case 3: return .heartbeat(.init(sequence: u64(), timestampMs: u64()))
        case 4:
            return .loadReport(.init(timestampMs: u64(), connections: u32(), messagesInPerSecond: u32(), messagesOutPerSecond: u32(),
                                     bytesInPerSecond: u64(), bytesOutPerSecond: u64(),
                                     topTalkers: (0..<int(0...4)).map { _ in .init(clientId: string(100), messagesPerSecond: u32(), bytesPerSecond: u64()) },
                                     relayedBytes: bool() ? 0 : u64()))
        case 5: return .interestSnapshot(.init(epoch: u64(), sequence: u64(), isLast: bool(), filters: filters()))
        case 6: return .interestDelta(.init(epoch: u64(), sequence: u64(), added: filters(), removed: filters()))
        case 7:
            return .remoteInterest(bool() ? .snapshot(.init(epoch: u64(), sequence: u64(), isLast: bool(), filters: filters()))
                                          : .delta(.init(epoch: u64(), sequence: u64(), added: filters(), removed: filters())))
        case 8:
            var p = mqtt.properties(.publish)
            p.topicAlias = nil
            p.subscriptionIdentifiers = []
            return .forward(.init(originGatewayId: string(128, min: 1), sequence: u64(), topic: mqtt.topicName(),
                                  qos: QoS(rawValue: UInt8(int(0...2)))!, retain: bool(), properties: p, payload: bytes(64)))
        case 9:
            let upTo = u64() >> 1
            var seqs: [UInt64] = []
            var s = upTo
            for _ in 0..<int(0...5) { s += UInt64(int(1...1000)); seqs.append(s) }
            return .deliveryAck(.init(originGatewayId: string(128, min: 1), upToSequence: upTo, sequences: seqs))
        case 10: return .availabilityQuery(.init(queryId: max(1, u64()), operation: string(128, min: 1)))
        case 11:
            return .availability(.init(queryId: max(1, u64()), answer: .allCases.randomElement(using: &rng)!, reason: string(1024),
                                       connections: u32(), sessions: u32(), messagesInPerSecond: u32(), drainFirst: bool()))
        case 12: return .maintenanceRun(.init(runId: string(128, min: 1), operation: string(128, min: 1), fencing: max(1, u64())))
        case 13:
            return .maintenanceResult(.init(runId: string(128, min: 1), fencing: max(1, u64()), state: .allCases.randomElement(using: &rng)!,
                                            exitStatus: Int32(bitPattern: u32()), outputTail: string(4096), reason: string(1024)))
        case 14:
            return .mappings(.init(replaces: false, isLast: bool(), entries: (0..<int(0...3)).map { _ in
                .init(name: string(128, min: 1), document: string(300)) }))
        case 15:
            let bounds = FleetLimits.callLatencyBoundsMs.count + 1
            return .socketReport(.init(isFirst: bool(), isLast: bool(), sockets: (0..<int(0...3)).map { _ in
                .init(socketId: string(160, min: 1), mapping: string(128, min: 1), clientId: string(256), identity: string(256), openedMs: u64(),
                      bytesIn: u64(), bytesOut: u64(), calls: u64(), errors: u64(), state: .allCases.randomElement(using: &rng)!)
            }, mappings: (0..<int(0...2)).map { _ in
                .init(mapping: string(128, min: 1), errors: u64(), latencySumMs: u64(), buckets: (0..<bounds).map { _ in u64() })
            }))
        case 16:
            return .peerReport(.init(isFirst: bool(), isLast: bool(), links: (0..<int(0...3)).map { _ in
                .init(socketId: string(160, min: 1), peerSocketId: string(160), peerGateway: string(128), waitingFor: string(160),
                      state: .allCases.randomElement(using: &rng)!, bytesToPeer: u64(), bytesFromPeer: u64())
            }))
        case 17:
            return .socketClose(.init(socketId: string(160, min: 1), reason: string(200)))
        case 18:
            return .peerAsk(.init(socketId: string(160, min: 1), peer: string(160), address: string(260)))
        case 19:
            let role = FleetFrame.PeerMatch.Role.allCases.randomElement(using: &rng)!
            return .peerMatch(.init(socketId: string(160, min: 1), peerSocketId: string(160, min: 1), peerGateway: string(128, min: 1), role: role,
                                    address: string(260, min: role == .dial ? 1 : 0), secret: (0..<16).map { _ in UInt8(int(0...255)) }))
        case 20:
            return .peerGone(.init(socketId: string(160, min: 1)))
        default:
            return .unknown(kind: UInt16(int(0x0400...0xFFFF)), flags: FleetFrameFlags.ignorable | (bool() ? FleetFrameFlags.bulk : 0),
                            body: bytes(32))
        }
    }
}

@Suite("Fleet frames: round trip and robustness")
struct FleetRoundTripTests {
    @Test("seeded random frames survive encode then decode", arguments: 0..<20 as Range<UInt64>)
    func roundTrip(seed: UInt64) throws {
        var gen = FleetFrameGenerator(seed: seed &* 0x9E37 &+ 1)
        for _ in 0..<200 {
            let frame = gen.frame()
            let bytes = FleetFrameEncoder.encode(frame)
            let decoded = try #require(try FleetFrameDecoder(maximumFrameSize: .max).decode(bytes))
            #expect(decoded.frame == frame)
            #expect(decoded.consumed == bytes.count)
            #expect(bytes.count == FleetLimits.headerBytes + Int(bytes[3]) << 24 + Int(bytes[4]) << 16 + Int(bytes[5]) << 8 + Int(bytes[6]))
        }
    }

    /// Decoding must return nil, a frame, or throw; never trap; and what it decodes re-encodes to
    /// bytes that decode to the same frame (the fuzz oracle, on a bounded budget).
    static func check(_ input: [UInt8]) throws {
        let decoder = FleetFrameDecoder()
        let result: (frame: FleetFrame, consumed: Int)?
        do { result = try decoder.decode(input) } catch { return }
        guard let result else { return }
        #expect(result.consumed >= FleetLimits.headerBytes && result.consumed <= input.count)
        #expect(try decoder.decode(FleetFrameEncoder.encode(result.frame))?.frame == result.frame, "\(input)")
    }

    @Test("10,000 seeded random inputs")
    func randomBytes() throws {
        var rng = SeededRandom(seed: 0xF1EE7)
        let kinds: [UInt16] = FleetFrameKind.known.map(\.rawValue) + [0x0100, 0xF001]
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...64, using: &rng)
            var input = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Mostly a plausible header, so bodies get parsed.
            if input.count >= 7 && Int.random(in: 0...3, using: &rng) > 0 {
                let k = kinds[Int.random(in: 0..<kinds.count, using: &rng)]
                input[0] = UInt8(k >> 8); input[1] = UInt8(k & 0xFF)
                input[2] &= 0x03
                input[3] = 0; input[4] = 0; input[5] = 0; input[6] = UInt8(input.count - 7)
            }
            try Self.check(input)
        }
    }

    @Test("10,000 seeded mutations of golden vectors")
    func mutations() throws {
        var rng = SeededRandom(seed: 0xF1EE7_6011D)
        let goldens = FleetGolden.all.map(\.bytes)
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
            // Re-fix the body length half of the time so the mutation reaches the body parser.
            if input.count >= 7 && input.count < 263 && Bool.random(using: &rng) {
                input[3] = 0; input[4] = 0; input[5] = 0; input[6] = UInt8(input.count - 7)
            }
            try Self.check(input)
        }
    }
}
