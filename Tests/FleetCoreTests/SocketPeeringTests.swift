import FleetConfig
import Testing
@testable import FleetCore

/// Socket peering's pure parts (issue #15): names, `id=` in the OPEN line, the mapping's peering
/// fields, the endpoint's answer naming a peer, who links with whom, and one side's link state
/// driven by a mock clock.
@Suite struct SocketPeeringTests {
    // MARK: Names and the OPEN line

    @Test(arguments: [
        ("bridge-a", true), ("a", true), ("meter.7_x", true), (String(repeating: "n", count: 128), true),
        (String(repeating: "n", count: 129), false), ("", false), ("gw1-12", false), ("a-0", false),
        ("a-0x", true), ("12", true), ("-1", false), ("a b", false), ("a/b", false), ("a=b", false),
    ])
    func requestableIds(name: String, ok: Bool) {
        #expect(SocketPeerName.isRequestable(name) == ok, "\(name)")
    }

    @Test(arguments: [
        ("gw1-12", true), ("room:7/a", true), (String(repeating: "p", count: 160), true),
        (String(repeating: "p", count: 161), false), ("", false), ("a b", false), ("caf\u{E9}", false), ("a\u{7F}", false),
    ])
    func peerNames(name: String, ok: Bool) {
        #expect(SocketPeerName.isValid(name) == ok, "\(name)")
    }

    @Test(arguments: [
        ("OPEN m id=bridge-a\n", SocketOpenRequest(mapping: "m", requestedId: "bridge-a"), nil),
        ("OPEN m client=c1 password=p id=x\n", SocketOpenRequest(mapping: "m", clientId: "c1", password: "p", requestedId: "x"), nil),
        ("OPEN m id=a id=b\n", nil, SocketErrorCode.badRequest),
        ("OPEN m id=gw-7\n", nil, SocketErrorCode.badRequest),
        ("OPEN m id=a/b\n", nil, SocketErrorCode.badRequest),
        ("OPEN m id=\(String(repeating: "i", count: 129))\n", nil, SocketErrorCode.badRequest),
        ("OPEN m id=\n", nil, SocketErrorCode.badRequest),
    ] as [(String, SocketOpenRequest?, SocketErrorCode?)])
    func openLineWithId(line: String, request: SocketOpenRequest?, refused: SocketErrorCode?) {
        let bytes = Array(line.utf8)
        // Whole and a byte at a time: the same outcome.
        for splits in [[bytes.count], Array(repeating: 1, count: bytes.count)] {
            var h = SocketHandshake()
            var outcome = SocketHandshake.Outcome.needMore
            var offset = 0
            for n in splits where offset < bytes.count {
                outcome = h.feed(Array(bytes[offset..<min(bytes.count, offset + n)]))
                offset += n
            }
            switch outcome {
            case .complete(let r, let rest):
                #expect(r == request && rest.isEmpty)
                #expect(r.line == bytes, "the request writes the same line back")
            case .refused(let refusal):
                #expect(refusal.code == refused && request == nil)
                #expect(!refusal.reason.contains("gw-7"), "reasons never quote a value")
            case .needMore:
                Issue.record("no outcome for \(line)")
            }
        }
    }

    @Test(arguments: [
        ("PEER gw-2-7 000102030405060708090a0b0c0d0e0F\n", "gw-2-7", true),
        ("PEER gw-2-7 000102030405060708090a0b0c0d0e\n", "", false),     // 15 bytes
        ("PEER gw-2-7 000102030405060708090a0b0c0d0e0g\n", "", false),   // not hex
        ("PEER gw-2-7\n", "", false),
        ("PEER gw-2-7 000102030405060708090a0b0c0d0e0f extra\n", "", false),
    ])
    func peerLine(line: String, socketId: String, ok: Bool) {
        var h = SocketHandshake()
        switch h.feed(Array(line.utf8)) {
        case .complete(let r, _):
            #expect(ok && r.peerConnect?.socketId == socketId && r.peerConnect?.secret == Array(0...15))
            #expect(r.peerConnect?.matches(Array(0...15)) == true && r.peerConnect?.matches(Array(1...16)) == false)
            #expect(r.line == Array("PEER gw-2-7 000102030405060708090a0b0c0d0e0f\n".utf8), "written back in lowercase hex")
        case .refused(let refusal):
            #expect(!ok && refusal.code == .badRequest)
        case .needMore:
            Issue.record("no outcome")
        }
    }

    // MARK: The mapping's peering fields

    static let base = #"{"endpoint": {"url": "http://h"}"#
    static let canonicalHead = #"{"endpoint":{"headers":{},"timeout_ms":5000,"url":"http://h"},"events":["open","data","close"],"max_concurrency":64,"on_error":"close","#
    static let canonicalTail = #""receive":{"idle_ms":100,"max_bytes":65536},"reply":"write"}"#

    @Test(arguments: [
        // extra fields -> their canonical text (keys sorted: between on_error and receive); defaults
        // are left out, so a mapping without peering keeps its #14 text
        ("", "", 30_000 as UInt64, false),
        (#", "peer_wait_ms": 30000, "peer_and_data": false"#, "", 30_000, false),
        (#", "peer_wait_ms": 1500"#, #""peer_wait_ms":1500,"#, 1_500, false),
        (#", "peer_wait_ms": 600000, "peer_and_data": true"#, #""peer_and_data":true,"peer_wait_ms":600000,"#, 600_000, true),
    ])
    func peeringFields(extra: String, fields: String, waitMs: UInt64, both: Bool) throws {
        let m = try SocketMapping(json: Self.base + extra + "}")
        #expect(m.peerWaitMs == waitMs && m.peerAndData == both)
        #expect(m.canonicalJSON == Self.canonicalHead + fields + Self.canonicalTail)
        #expect(try SocketMapping(json: m.canonicalJSON) == m)
    }

    @Test(arguments: [
        (#", "peer_wait_ms": 0"#, "peer_wait_ms"), (#", "peer_wait_ms": 600001"#, "peer_wait_ms"),
        (#", "peer_wait_ms": 1.5"#, "peer_wait_ms"), (#", "peer_wait_ms": "10""#, "peer_wait_ms"),
        (#", "peer_and_data": 1"#, "peer_and_data"), (#", "peer_and_data": "yes""#, "peer_and_data"),
        (#", "peer_and_data": null"#, "peer_and_data"), (#", "peer_with": 1"#, "peer_with"),
    ])
    func peeringFieldsRefused(extra: String, field: String) {
        do {
            let m = try SocketMapping(json: Self.base + extra + "}")
            Issue.record("accepted: \(m.canonicalJSON)")
        } catch {
            #expect(error.path == field, "\(error)")
        }
    }

    // MARK: The endpoint's answer

    @Test(arguments: [
        // header, body -> peer, body consumed (nil peer and false: no peer; "!" : refused)
        (nil, "", nil, false),
        (nil, "hello", nil, false),
        (nil, #"{"peer": "gw2-5"}"#, "gw2-5", true),
        (nil, " \n{\"peer\":\"room-1\",\"note\":1}", "room-1", true),
        (nil, #"{"greeting": "hi"}"#, nil, false),
        (nil, #"{"peer": 5}"#, "!", false),
        (nil, #"{"peer": "a b"}"#, "!", false),
        (nil, #"{"peer": ""}"#, "!", false),
        (nil, #"{"peer": "x""#, nil, false),   // not JSON: bytes for the device
        ("gw1-3", #"{"peer": "other"}"#, "gw1-3", false),
        (" room ", "", "room", false),
        ("", "", "!", false),
    ] as [(String?, String, String?, Bool)])
    func answers(header: String?, body: String, peer: String?, consumed: Bool) {
        do {
            let a = try SocketPeerAnswer.read(headerValue: header, body: Array(body.utf8))
            #expect(peer != "!", "refused")
            #expect(a == SocketPeerAnswer(peer: peer, bodyConsumed: consumed))
        } catch {
            #expect(peer == "!", "\(error)")
        }
    }

    // MARK: Who links with whom

    enum Step: Sendable { case ask(Int, id: String, peer: String?, PeerDirectory<Int>.Outcome), remove(Int) }

    @Test(arguments: [
        ("rendezvous", [Step.ask(1, id: "g-1", peer: "room", .waiting), .ask(2, id: "g-2", peer: "room", .linked(1))]),
        ("by id, the other not waiting", [.ask(1, id: "g-1", peer: nil, .unpaired), .ask(2, id: "g-2", peer: "g-1", .linked(1))]),
        ("by id, each naming the other", [.ask(1, id: "g-1", peer: "g-2", .waiting), .ask(2, id: "g-2", peer: "g-1", .linked(1))]),
        ("named before it opened (id=)", [.ask(1, id: "g-1", peer: "bridge", .waiting), .ask(2, id: "bridge", peer: nil, .linked(1))]),
        ("a socket waiting for someone else is not taken", [
            .ask(1, id: "g-1", peer: "x", .waiting), .ask(2, id: "g-2", peer: "g-1", .waiting), .ask(3, id: "x", peer: nil, .linked(1)),
        ]),
        ("linked once only", [
            .ask(1, id: "g-1", peer: "room", .waiting), .ask(2, id: "g-2", peer: "room", .linked(1)), .ask(3, id: "g-3", peer: "room", .waiting),
            .ask(4, id: "g-4", peer: "g-1", .waiting),
        ]),
        ("a timed-out waiter is gone", [.ask(1, id: "g-1", peer: "room", .waiting), .remove(1), .ask(2, id: "g-2", peer: "room", .waiting)]),
        ("naming itself waits", [.ask(1, id: "g-1", peer: "g-1", .waiting)]),
    ])
    func directory(_ name: String, steps: [Step]) {
        var d = PeerDirectory<Int>()
        for (i, step) in steps.enumerated() {
            switch step {
            case .ask(let token, let id, let peer, let expected):
                #expect(d.ask(token: token, id: id, peer: peer) == expected, "\(name): step \(i)")
            case .remove(let token):
                d.remove(token)
            }
        }
    }

    @Test func directoryForgetsEverythingRemoved() {
        var d = PeerDirectory<Int>()
        for i in 0..<100 { _ = d.ask(token: i, id: "g-\(i)", peer: i % 2 == 0 ? "room\(i / 4)" : nil) }
        for i in 0..<100 { d.remove(i) }
        #expect(d.waitingCount == 0 && d.linkableCount == 0)
    }

    // MARK: One side of a link, on a mock clock

    @Test func waitingTimesOutAtItsDeadline() {
        var link = PeerLink()
        link.wait(now: 1_000, waitMs: 2_500)
        #expect(link.deadline == 3_500)
        #expect(link.tick(now: 3_499).isEmpty)
        #expect(link.tick(now: 3_500) == [.timedOut])
        #expect(link.state == .closed && link.tick(now: 9_999).isEmpty)
    }

    @Test func bytesWhileWaitingAreHeldThenPauseThenGoFirst() {
        var link = PeerLink(maxHeld: 10, maxQueued: 100)
        link.wait(now: 0, waitMs: 100)
        #expect(link.deviceSent([1, 2, 3, 4]).isEmpty)
        #expect(link.deviceSent([5, 6, 7, 8, 9, 10]) == [.pauseReading])
        #expect(link.deviceSent([11]).isEmpty && link.heldBytes == 11, "what the kernel had already read is kept")
        #expect(link.linked() == [.forward(Array(1...11)), .resumeReading])
        #expect(link.deviceSent([12]) == [.forward([12])])
        #expect(link.bytesToPeer == 12 && link.tick(now: 1_000).isEmpty, "linked: no deadline")
    }

    @Test(arguments: [
        // peer queue sizes after each forward -> the actions they cause
        ([50, 100, 101, 500], [[], [], [PeerLink.Action.pauseReading], []]),
        ([101], [[.pauseReading]]),
    ] as [([Int], [[PeerLink.Action]])])
    func peerBackpressure(queued: [Int], expected: [[PeerLink.Action]]) {
        var link = PeerLink(maxHeld: 10, maxQueued: 100)
        _ = link.linked()
        for (q, e) in zip(queued, expected) {
            _ = link.deviceSent([0])
            #expect(link.peerQueued(q) == e)
        }
        #expect(link.peerDrained() == [.resumeReading] && !link.isReadingPaused)
        #expect(link.peerDrained().isEmpty, "once")
    }

    @Test func heldAndPeerPausesResumeOnlyWhenBothClear() {
        var link = PeerLink(maxHeld: 2, maxQueued: 1)
        link.wait(now: 0, waitMs: 10)
        #expect(link.deviceSent([1, 2]) == [.pauseReading])
        #expect(link.linked() == [.forward([1, 2]), .resumeReading])
        _ = link.deviceSent([3])
        #expect(link.peerQueued(5) == [.pauseReading])
        #expect(link.peerDrained() == [.resumeReading])
    }

    @Test(arguments: [
        ("device EOF while linked ends the peer", true),
        ("peer EOF while linked ends this side", false),
    ])
    func endsPropagate(_ name: String, deviceFirst: Bool) {
        var link = PeerLink()
        _ = link.linked()
        if deviceFirst {
            #expect(link.deviceEnded() == [.endPeer] && link.state == .closing)
            #expect(link.deviceSent([1]).isEmpty, "after EOF nothing more is forwarded")
            #expect(link.peerEnded().isEmpty && link.state == .closed)
        } else {
            #expect(link.peerEnded() == [.endSelf] && link.state == .closing)
            #expect(link.deviceEnded().isEmpty && link.state == .closed)
        }
    }

    @Test func endWhileWaitingForwardsNothing() {
        var link = PeerLink()
        link.wait(now: 0, waitMs: 10)
        _ = link.deviceSent([1, 2, 3])
        #expect(link.deviceEnded().isEmpty && link.state == .closed && link.heldBytes == 0)
        #expect(link.linked().isEmpty, "too late")
    }
}
