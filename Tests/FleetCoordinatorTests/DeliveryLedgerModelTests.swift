import FleetProtocol
import Testing
@testable import FleetCoordinator

/// The ledger inside a small model of the fabric: an origin with its outbound log and send cursor
/// (as the agent's `OutboundLog`), two destinations that take an origin's forwards in order and
/// acknowledge cumulatively (as the agent's `seen`), FIFO links that lose everything in flight
/// when cut, and a coordinator that can restart with an empty ledger. Whatever the order of cuts,
/// reconnects and restarts, every published message reaches both destinations exactly once and in
/// order, and the origin's log ends empty.
@Suite struct DeliveryLedgerModelTests {
    struct Random {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(n))
        }
    }

    enum ToOrigin { case ack(FleetFrame.DeliveryAck), replay(UInt64) }

    final class Model {
        var ledger = DeliveryLedger()
        // Origin "o".
        var log: [UInt64] = []          // unconfirmed, ascending
        var cursor = 0
        var nextSeq: UInt64 = 1
        var originUp = true
        var toCoordinator: [UInt64] = []   // FORWARDs in flight o -> coordinator
        var toOrigin: [ToOrigin] = []
        // Destinations.
        let names = ["a", "b"]
        var up: Set<String> = ["a", "b"]
        var seen: [String: UInt64] = ["a": 0, "b": 0]
        var delivered: [String: [UInt64]] = ["a": [], "b": []]
        var toDestination: [String: [UInt64]] = ["a": [], "b": []]
        var acksIn: [String: [UInt64]] = ["a": [], "b": []]

        /// What happened, for the failure message.
        var trace: [String] = []

        func publish() { log.append(nextSeq); nextSeq += 1 }

        /// The origin hands its next unsent log entry to the link (the agent's pump).
        func originSends() {
            guard originUp, cursor < log.count else { return }
            toCoordinator.append(log[cursor])
            cursor += 1
        }

        func coordinatorTakesForward() {
            guard !toCoordinator.isEmpty else { return }
            let seq = toCoordinator.removeFirst()
            let targets = ledger.route(origin: "o", sequence: seq, qos: .atLeastOnce, bytes: 10, candidates: names,
                                       isConnected: { self.up.contains($0) }, now: 0)
            for d in targets { toDestination[d]!.append(seq) }
            trace.append("route \(seq) -> \(targets)")
        }

        func destinationTakes(_ d: String) {
            guard !toDestination[d]!.isEmpty else { return }
            let seq = toDestination[d]!.removeFirst()
            if seq > seen[d]! {
                seen[d] = seq
                delivered[d]!.append(seq)
            }
            trace.append("\(d) takes \(seq)")
            acksIn[d]!.append(seen[d]!)
        }

        func coordinatorTakesAck(_ d: String) {
            guard !acksIn[d]!.isEmpty else { return }
            ledger.acknowledge(destination: d, origin: "o", upTo: acksIn[d]!.removeFirst())
        }

        /// The fabric's per-turn flush.
        func flushAcks() {
            guard originUp else { _ = ledger.takeDirty(); return }
            for origin in ledger.takeDirty() { for a in ledger.acknowledgements(for: origin) { toOrigin.append(.ack(a)) } }
        }

        func originTakes() {
            guard !toOrigin.isEmpty else { return }
            switch toOrigin.removeFirst() {
            case .ack(let a):
                trace.append("o confirmed up to \(a.upToSequence) + \(a.sequences)")
                let confirmed = Set(a.sequences)
                let before = log.count
                let kept = log.filter { $0 > a.upToSequence && !confirmed.contains($0) }
                // Entries before the cursor that leave move it back with them.
                let removedBeforeCursor = log[..<cursor].filter { !kept.contains($0) }.count
                log = kept
                cursor -= removedBeforeCursor
                _ = before
            case .replay(let from):
                trace.append("o replays from \(from)")
                let position = log.firstIndex { $0 >= from } ?? log.count
                if position < cursor { cursor = position }
            }
        }

        func cutDestination(_ d: String) {
            if up.contains(d) { trace.append("cut \(d)") }
            up.remove(d)
            ledger.destinationDisconnected(d, hasDurableInterest: true)
            toDestination[d] = []
            acksIn[d] = []
        }

        func connectDestination(_ d: String) {
            guard !up.contains(d) else { return }
            trace.append("connect \(d)")
            up.insert(d)
            acksIn[d]!.append(seen[d]!)  // its cursors after HELLO
            for (origin, from) in ledger.destinationConnected(d) where origin == "o" && originUp { toOrigin.append(.replay(from)) }
        }

        func cutOrigin() {
            trace.append("cut o")
            originUp = false
            toCoordinator = []
            toOrigin = []
            ledger.originDisconnected("o")
        }

        func connectOrigin() {
            guard !originUp else { return }
            trace.append("connect o")
            originUp = true
            cursor = 0  // re-sends everything unconfirmed
            ledger.originConnected("o")
        }

        func restartCoordinator() {
            cutOrigin()
            for d in names { cutDestination(d) }
            trace.append("coordinator restart")
            ledger = DeliveryLedger()
            connectOrigin()
            for d in names { connectDestination(d) }
        }

        var quiet: Bool {
            toCoordinator.isEmpty && toOrigin.isEmpty && cursor >= log.count
                && names.allSatisfy { toDestination[$0]!.isEmpty && acksIn[$0]!.isEmpty }
        }
    }

    @Test(arguments: 0..<500)
    func everyMessageReachesEveryDestinationOnceInOrder(seed: Int) {
        var random = Random(state: UInt64(seed) &* 7919)
        let m = Model()
        for _ in 0..<400 {
            switch random.next(20) {
            case 0...3: m.publish()
            case 4...6: m.originSends()
            case 7...8: m.coordinatorTakesForward()
            case 9: m.destinationTakes("a")
            case 10...11: m.destinationTakes("b")
            case 12: m.coordinatorTakesAck(m.names[random.next(2)])
            case 13: m.originTakes()
            case 14: m.cutDestination("b")
            case 15: m.connectDestination("b")
            case 16: if random.next(3) == 0 { m.cutOrigin() } else { m.connectOrigin() }
            case 17: if random.next(4) == 0 { m.restartCoordinator() }
            case 18: if random.next(3) == 0 { m.cutDestination("a") } else { m.connectDestination("a") }
            default: break
            }
            m.flushAcks()
        }
        // Everything back up; run to quiet (bounded).
        m.connectOrigin()
        for d in m.names { m.connectDestination(d) }
        var rounds = 0
        repeat {
            m.originSends()
            m.coordinatorTakesForward()
            for d in m.names { m.destinationTakes(d); m.coordinatorTakesAck(d) }
            m.flushAcks()
            m.originTakes()
            rounds += 1
        } while !m.quiet && rounds < 100_000
        let published = Array(1..<m.nextSeq)
        #expect(m.delivered["a"] == published, "seed \(seed): a\n\(m.trace.joined(separator: "\n"))")
        #expect(m.delivered["b"] == published, "seed \(seed): b\n\(m.trace.joined(separator: "\n"))")
        #expect(m.log.isEmpty, "seed \(seed): origin log keeps \(m.log.prefix(10))")
        #expect(m.ledger.heldCount == 0, "seed \(seed)")
    }
}
