import FleetProtocol
import Testing
@testable import FleetCoordinator

/// The ledger's rules, one scenario per row: routing (who gets a forward now, who is owed it),
/// replay for a destination that comes back, the origin's acknowledgements, retention.
@Suite struct DeliveryLedgerTests {
    enum Step {
        /// A FORWARD from "o"; `expect` = destinations written now.
        case forward(UInt64, QoS = .atLeastOnce, to: [String], connected: Set<String>, expect: [String], now: UInt64 = 0)
        case ack(String, upTo: UInt64)
        /// The destination connects; `expect` = REPLAY(from) the origin "o" is sent, if any.
        case connect(String, expectReplayFrom: UInt64?)
        /// The acknowledgements owed to "o" now (upTo, selective), nil = none.
        case originAck(UInt64?, [UInt64] = [])
        case held(String, messages: Int, dropped: UInt64)
        case expire(now: UInt64)
        case disconnect(String, durable: Bool)
    }

    struct Row: CustomTestStringConvertible {
        let name: String
        var retention = DeliveryLedger.Retention()
        let steps: [Step]
        var testDescription: String { name }
    }

    static let rows: [Row] = [
        Row(name: "no destination: confirmed at once by the cumulative ack", steps: [
            .forward(5, to: [], connected: [], expect: []),
            .originAck(5), .originAck(nil),
        ]),
        Row(name: "confirmed only when every destination acknowledged", steps: [
            .forward(1, to: ["a", "b"], connected: ["a", "b"], expect: ["a", "b"]),
            .ack("a", upTo: 1), .originAck(nil),  // still owed to b: nothing to tell
            .ack("b", upTo: 1), .originAck(1),
        ]),
        Row(name: "a destination that is away is owed; the others' confirmations go out as selective acks", steps: [
            .forward(1, to: ["away"], connected: [], expect: []),
            .forward(2, to: ["up"], connected: ["up"], expect: ["up"]),
            .forward(3, to: [], connected: ["up"], expect: []),
            .ack("up", upTo: 2),
            .originAck(0, [2, 3]),
            .held("away", messages: 1, dropped: 0),
        ]),
        Row(name: "it comes back: REPLAY from its first owed sequence; the re-sends reach only it", steps: [
            .forward(1, to: ["b"], connected: [], expect: []),
            .forward(2, to: ["a", "b"], connected: ["a"], expect: ["a"]),
            .ack("a", upTo: 2),
            .connect("b", expectReplayFrom: 1),
            .forward(1, to: ["b"], connected: ["a", "b"], expect: ["b"]),
            .forward(2, to: ["a", "b"], connected: ["a", "b"], expect: ["b"]),
            .ack("b", upTo: 2),
            .originAck(2), .held("b", messages: 0, dropped: 0),
        ]),
        Row(name: "new traffic while a replay is pending waits behind it (nothing overtakes)", steps: [
            .forward(1, to: ["b"], connected: [], expect: []),
            .connect("b", expectReplayFrom: 1),
            .forward(2, to: ["b"], connected: ["b"], expect: []),     // sent before the origin saw REPLAY
            .forward(1, to: ["b"], connected: ["b"], expect: ["b"]),  // the replay
            .forward(2, to: ["b"], connected: ["b"], expect: ["b"]),
            .forward(3, to: ["b"], connected: ["b"], expect: ["b"]),  // caught up: straight through
        ]),
        Row(name: "a re-send in flight before the origin saw REPLAY does not overtake what the replay brings", steps: [
            .forward(1, to: ["b"], connected: ["b"], expect: ["b"]),
            .forward(2, to: ["b"], connected: ["b"], expect: ["b"]),
            .connect("b", expectReplayFrom: 1),                        // b's link dropped: 1 and 2 lost
            .forward(2, to: ["b"], connected: ["b"], expect: []),      // an older re-send still in flight
            .forward(1, to: ["b"], connected: ["b"], expect: ["b"]),   // the replay
            .forward(2, to: ["b"], connected: ["b"], expect: ["b"]),
        ]),
        Row(name: "QoS 0 never overtakes a pending replay and is never held", steps: [
            .forward(1, to: ["b"], connected: [], expect: []),
            .connect("b", expectReplayFrom: 1),
            .forward(2, .atMostOnce, to: ["b"], connected: ["b"], expect: []),
            .forward(3, .atMostOnce, to: ["c"], connected: ["c"], expect: ["c"]),
            .forward(4, .atMostOnce, to: ["d"], connected: [], expect: []),
            .held("d", messages: 0, dropped: 0),
        ]),
        Row(name: "a destination without durable interest that leaves is owed nothing more", steps: [
            .forward(1, to: ["a", "b"], connected: ["a", "b"], expect: ["a", "b"]),
            .ack("a", upTo: 1),
            .disconnect("b", durable: false),
            .originAck(1), .held("b", messages: 0, dropped: 0),
        ]),
        Row(name: "with durable interest it stays owed what was in flight", steps: [
            .forward(1, to: ["a", "b"], connected: ["a", "b"], expect: ["a", "b"]),
            .ack("a", upTo: 1),
            .disconnect("b", durable: true),
            .originAck(nil), .held("b", messages: 1, dropped: 0),
            .connect("b", expectReplayFrom: 1),
        ]),
        Row(name: "what was in flight to a destination that left is unsent again: the bound may drop it",
            retention: .init(maxMessages: 1, maxBytes: 1 << 30, maxAgeMs: 1 << 40), steps: [
            .forward(1, to: ["b"], connected: ["b"], expect: ["b"]),
            .disconnect("b", durable: true),
            .forward(2, to: ["b"], connected: [], expect: []),
            .held("b", messages: 1, dropped: 1),
            .originAck(1),
        ]),
        Row(name: "a retained QoS 0 forward is confirmed at once, even behind a held one", steps: [
            .forward(1, to: ["away"], connected: [], expect: []),
            .forward(2, .atMostOnce, to: [], connected: [], expect: []),
            .originAck(0, [2]),
        ]),
        Row(name: "a re-send already taken is not written again on the same connection", steps: [
            .forward(1, to: ["a"], connected: ["a"], expect: ["a"]),
            .forward(1, to: ["a"], connected: ["a"], expect: []),
        ]),
        Row(name: "a destination's reconnect replays what was in flight and unacknowledged", steps: [
            .forward(1, to: ["a"], connected: ["a"], expect: ["a"]),
            .forward(2, to: ["a"], connected: ["a"], expect: ["a"]),
            .ack("a", upTo: 1),
            .connect("a", expectReplayFrom: 2),
        ]),
        Row(name: "after a coordinator restart: a destination's cursor skips what it already has", steps: [
            .ack("a", upTo: 7),                                          // its report after HELLO
            .forward(6, to: ["a"], connected: ["a"], expect: []),      // re-sent by the origin
            .forward(8, to: ["a"], connected: ["a"], expect: ["a"]),
            .originAck(7),
        ]),
        Row(name: "a re-send nobody owes is confirmed again (the origin missed the ack)", steps: [
            .forward(1, to: ["a"], connected: ["a"], expect: ["a"]),
            .ack("a", upTo: 1), .originAck(1),
            .forward(1, to: ["a"], connected: ["a"], expect: []),
            .originAck(nil),  // the cumulative already covers it: nothing new to say
        ]),
        Row(name: "retention by count drops the oldest for the away destination, counted", retention: .init(maxMessages: 2, maxBytes: 1 << 30, maxAgeMs: 1 << 40), steps: [
            .forward(1, to: ["b"], connected: [], expect: []),
            .forward(2, to: ["b"], connected: [], expect: []),
            .forward(3, to: ["b"], connected: [], expect: []),
            .held("b", messages: 2, dropped: 1),
            .originAck(1),
            .connect("b", expectReplayFrom: 2),
        ]),
        Row(name: "retention by age, applied by the sweep", retention: .init(maxMessages: 100, maxBytes: 1 << 30, maxAgeMs: 1_000), steps: [
            .forward(1, to: ["b"], connected: [], expect: [], now: 0),
            .forward(2, to: ["b"], connected: [], expect: [], now: 900),
            .expire(now: 1_500),
            .held("b", messages: 1, dropped: 1),
            .originAck(1),
        ]),
        Row(name: "a drop for one destination does not confirm what another still owes", retention: .init(maxMessages: 1, maxBytes: 1 << 30, maxAgeMs: 1 << 40), steps: [
            .forward(1, to: ["b", "c"], connected: [], expect: []),
            .forward(2, to: ["b"], connected: [], expect: []),
            .held("b", messages: 1, dropped: 1),
            .held("c", messages: 1, dropped: 0),
            .originAck(nil),  // 1 still owed to c, 2 to b
            .ack("c", upTo: 1),
            .originAck(1),
        ]),
    ]

    @Test(arguments: rows)
    func scenario(_ row: Row) {
        var ledger = DeliveryLedger(retention: row.retention)
        for (i, step) in row.steps.enumerated() {
            switch step {
            case .forward(let seq, let qos, let to, let connected, let expect, let now):
                let got = ledger.route(origin: "o", sequence: seq, qos: qos, retain: qos == .atMostOnce && to.isEmpty, bytes: 100, candidates: to,
                                       isConnected: { connected.contains($0) }, now: now)
                #expect(got.sorted() == expect.sorted(), "step \(i): forward \(seq)")
            case .ack(let d, let upTo):
                ledger.acknowledge(destination: d, origin: "o", upTo: upTo)
            case .connect(let d, let from):
                let replays = ledger.destinationConnected(d)
                #expect(replays.first(where: { $0.origin == "o" })?.from == from, "step \(i): connect \(d)")
            case .originAck(let upTo, let selective):
                _ = ledger.takeDirty()
                let acks = ledger.acknowledgements(for: "o")
                #expect(acks.first?.upToSequence == upTo, "step \(i): cumulative")
                #expect(acks.flatMap(\.sequences) == selective, "step \(i): selective")
            case .held(let d, let messages, let dropped):
                #expect(ledger.held[d]?.messages ?? 0 == messages, "step \(i): held for \(d)")
                #expect(ledger.held[d]?.droppedMessages ?? 0 == dropped, "step \(i): dropped for \(d)")
            case .expire(let now):
                ledger.expire(now: now, isConnected: { _ in false })
            case .disconnect(let d, let durable):
                ledger.destinationDisconnected(d, hasDurableInterest: durable)
            }
        }
    }

    @Test func selectiveAcksAreSplitIntoFramesOf1024() {
        var ledger = DeliveryLedger()
        _ = ledger.route(origin: "o", sequence: 1, qos: .atLeastOnce, bytes: 1, candidates: ["away"], isConnected: { _ in false }, now: 0)
        for seq in UInt64(2)...3000 {
            _ = ledger.route(origin: "o", sequence: seq, qos: .atLeastOnce, bytes: 1, candidates: [], isConnected: { _ in true }, now: 0)
        }
        let acks = ledger.acknowledgements(for: "o")
        #expect(acks.count == 3)
        #expect(acks.allSatisfy { $0.upToSequence == 0 && $0.sequences.count <= 1024 })
        #expect(acks.flatMap(\.sequences) == Array(2...3000))
    }

    @Test func removingADestinationReleasesWhatWasHeldForIt() {
        var ledger = DeliveryLedger()
        _ = ledger.route(origin: "o", sequence: 1, qos: .atLeastOnce, bytes: 1, candidates: ["gone"], isConnected: { _ in false }, now: 0)
        #expect(ledger.acknowledgements(for: "o").first?.upToSequence == nil || ledger.acknowledgements(for: "o").isEmpty)
        ledger.remove("gone")
        #expect(ledger.acknowledgements(for: "o").first?.upToSequence == 1)
        #expect(ledger.held["gone"] == nil)
    }

    @Test func removingAnOriginReleasesWhatItsStreamsHeld() {
        var ledger = DeliveryLedger(retention: .init(maxMessages: 2, maxBytes: 1 << 30, maxAgeMs: 1 << 40))
        for seq in UInt64(1)...2 {
            _ = ledger.route(origin: "gone", sequence: seq, qos: .atLeastOnce, bytes: 1, candidates: ["d"], isConnected: { _ in false }, now: 0)
        }
        #expect(ledger.held["d"]?.messages == 2)
        ledger.remove("gone")
        #expect(ledger.held["d"]?.messages == 0)
        // The bound counts only what is really held: another origin's forwards are not dropped.
        _ = ledger.route(origin: "o", sequence: 1, qos: .atLeastOnce, bytes: 1, candidates: ["d"], isConnected: { _ in false }, now: 0)
        #expect(ledger.held["d"]?.messages == 1 && ledger.held["d"]?.droppedMessages == 0)
    }

    @Test func aWriteThatDidNotHappenIsSentAgainOnTheReplay() {
        var ledger = DeliveryLedger()
        #expect(ledger.route(origin: "o", sequence: 1, qos: .atLeastOnce, bytes: 1, candidates: ["a"], isConnected: { _ in true }, now: 0) == ["a"])
        ledger.notWritten(origin: "o", destination: "a", sequence: 1)
        #expect(ledger.route(origin: "o", sequence: 2, qos: .atLeastOnce, bytes: 1, candidates: ["a"], isConnected: { _ in true }, now: 0) == [])
        #expect(ledger.route(origin: "o", sequence: 1, qos: .atLeastOnce, bytes: 1, candidates: ["a"], isConnected: { _ in true }, now: 0) == ["a"])
        #expect(ledger.route(origin: "o", sequence: 2, qos: .atLeastOnce, bytes: 1, candidates: ["a"], isConnected: { _ in true }, now: 0) == ["a"])
    }
}
