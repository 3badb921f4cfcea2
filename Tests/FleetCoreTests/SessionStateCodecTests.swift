import Testing
import FleetProtocol
@testable import FleetCore

@Suite struct SessionStateCodecTests {
    private func richSession() -> SessionState {
        var s = SessionState(clientId: "device-7", expiryInterval: 86_400, protocolVersion: .v5)
        s.subscriptions = [
            "a/+/c": SubscriptionOptions(qos: .atLeastOnce, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionIdentifier: 268_435_455),
            "$share/g/x/#": SubscriptionOptions(qos: .exactlyOnce),
        ]
        var willProps = MQTTProperties()
        willProps.willDelayInterval = 30
        willProps.contentType = "text/plain"
        willProps.userProperties = [UserProperty("k", "v")]
        s.will = Will(topic: "status/device-7", payload: Array("gone".utf8), qos: .atLeastOnce, retain: true, properties: willProps)
        s.nextPacketId = 65_535
        s.nextSeq = 1 << 40
        s.inboundQoS2 = [1, 500, 65_535]
        s.disconnectedAt = 1_790_000_000_000
        s.willDueAt = 1_790_000_030_000
        s.ownerGateway = "gw-3"
        s.epoch = 7
        s.relaySecret = Array(0..<16)
        var props = MQTTProperties()
        props.correlationData = [0, 1, 2]
        props.responseTopic = "reply/here"
        props.payloadFormatIndicator = 1
        let big = Message(topic: "t/big", payload: Array(repeating: 0xAB, count: 70_000), qos: .exactlyOnce, retain: true,
                          properties: props, expiresAt: 1_790_000_100_000, origin: "publisher-1")
        s.outbound = [
            OutboundMessage(seq: 10, packetId: 3, phase: .published, message: big, subscriptionIdentifiers: [1, 2]),
            OutboundMessage(seq: 11, message: Message(topic: "t/q", payload: [], qos: .atLeastOnce, retain: false)),
        ]
        return s
    }

    /// The writer's wall clock in these tests: a little after the session's instants.
    private let writtenAt: UInt64 = 1_790_000_005_000

    @Test func wholeSessionRoundTrips() throws {
        let s = richSession()
        #expect(try SessionState(serialized: s.serialized(asOf: writtenAt)) == s)
    }

    @Test func headerLeavesOutboundOut() throws {
        var s = richSession()
        let header = try SessionState(serialized: s.serializedHeader(asOf: writtenAt))
        s.outbound = []
        #expect(header == s)
    }

    /// A session moved to a gateway whose clock is 1 h behind keeps what is left of its times:
    /// disconnected 5 s before it was written, will due 25 s after (issue #10 §1: durations, not
    /// wall-clock instants).
    @Test func instantsTravelAsDurationsToAnotherClock() throws {
        let s = richSession()
        let elsewhere = writtenAt - 3_600_000
        let moved = try SessionState(serialized: s.serialized(asOf: writtenAt), receivedAt: elsewhere)
        #expect(moved.disconnectedAt == elsewhere - 5_000)
        #expect(moved.willDueAt == elsewhere + 25_000)
        #expect(moved.ownerGateway == "gw-3" && moved.epoch == 7)
        var same = moved
        same.disconnectedAt = s.disconnectedAt
        same.willDueAt = s.willDueAt
        #expect(same == s)
    }

    /// Format 2 is a list of tagged fields: one a later version adds is skipped, not an error.
    @Test func aFieldFromALaterVersionIsSkipped() throws {
        let s = richSession()
        var bytes = s.serialized(asOf: writtenAt)
        let end = bytes.count - 5  // the end field: tag 0, length 0
        bytes.insert(contentsOf: [0xEE, 0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03], at: end)  // tag 238, 3 bytes
        #expect(try SessionState(serialized: bytes) == s)
        // A known field whose length lies is an error, not a misread.
        var lying = s.serializedHeader(asOf: writtenAt)
        lying.insert(contentsOf: [SessionState.Field.epoch.rawValue, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01], at: lying.count - 5)
        #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: lying) }
    }

    @Test func aSessionWithoutItsIdentityIsRefused() {
        // format 2, written at 0, then only an expiry field and the end.
        let bytes: [UInt8] = [2, 0, 0, 0, 0, 0, 0, 0, 0, SessionState.Field.expiryInterval.rawValue, 0, 0, 0, 4, 0, 0, 0, 60, 0, 0, 0, 0, 0]
        #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: bytes) }
    }

    /// Rows written by agents before format 2 still load (docs/STORAGE.md, format 1), written
    /// here by hand from the spec: client "c", MQTT 5, expiry 60, next packet id 2, next seq 3,
    /// disconnected at 1000 (+1), one subscription "a/#" QoS 1 no-local, no will, inbound QoS 2
    /// id 9, no outbound.
    @Test func formatOneStillLoads() throws {
        let bytes: [UInt8] = [1, 0, 1, 0x63, 5, 0, 0, 0, 60, 0, 2, 0, 0, 0, 0, 0, 0, 0, 3,
                              0, 0, 0, 0, 0, 0, 0x03, 0xE9,
                              0, 0, 0, 1, 0, 3, 0x61, 0x2F, 0x23, 0x05, 0, 0, 0, 0,
                              0,
                              0, 1, 0, 9,
                              0, 0, 0, 0]
        let s = try SessionState(serialized: bytes)
        var want = SessionState(clientId: "c", expiryInterval: 60, protocolVersion: .v5)
        want.nextPacketId = 2
        want.nextSeq = 3
        want.disconnectedAt = 1_000
        want.subscriptions = ["a/#": SubscriptionOptions(qos: .atLeastOnce, noLocal: true)]
        want.inboundQoS2 = [9]
        #expect(s == want)
    }

    @Test func messageRoundTripsWithExpiryAndOrigin() throws {
        let m = Message(topic: "a", payload: [1], qos: .atMostOnce, retain: false, expiresAt: 0, origin: nil)
        #expect(try Message(serialized: m.serialized()) == m)
    }

    @Test func releasedMessageCanDropItsBody() throws {
        let full = richSession().outbound[0]
        let slim = try OutboundMessage(serialized: full.serialized(includingBody: false))
        #expect(slim.packetId == full.packetId && slim.phase == full.phase && slim.seq == full.seq)
        #expect(slim.message.payload.isEmpty)
    }

    @Test func everyTruncationIsAnErrorNotACrash() {
        let bytes = richSession().serialized(asOf: writtenAt)
        for cut in stride(from: 0, to: bytes.count - 1, by: max(1, bytes.count / 400)) {
            #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: Array(bytes[..<cut])) }
        }
    }

    /// Every cut of a header, field boundaries included, is an error: a session must never load
    /// shorter than it was written (what the end field is for).
    @Test func everyCutOfAHeaderIsAnError() {
        let bytes = richSession().serializedHeader(asOf: writtenAt)
        for cut in 0..<bytes.count {
            #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: Array(bytes[..<cut])) }
        }
    }

    @Test func unknownFormatAndTrailingBytesAreRefused() {
        var bytes = richSession().serialized(asOf: writtenAt)
        bytes[0] = 3
        #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: bytes) }
        // Nothing may follow the end field.
        #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: richSession().serialized(asOf: writtenAt) + [0]) }
    }

    @Test func topicMatchFollowsTheSpec() {
        #expect(TopicMatch.matches(filter: "sport/#", topic: "sport"))
        #expect(TopicMatch.matches(filter: "sport/+", topic: "sport/"))
        #expect(!TopicMatch.matches(filter: "sport/+", topic: "sport"))
        #expect(TopicMatch.matches(filter: "+/+", topic: "/finance"))
        #expect(!TopicMatch.matches(filter: "#", topic: "$SYS/x"))
        #expect(!TopicMatch.matches(filter: "+/x", topic: "$SYS/x"))
        #expect(TopicMatch.matches(filter: "$SYS/#", topic: "$SYS/x"))
        #expect(!TopicMatch.matches(filter: "a/b", topic: "a/b/c"))
    }

    @Test func remainingExpiryRoundsUpAndStopsAtZero() {
        let m = Message(topic: "a", payload: [], qos: .atMostOnce, retain: false, expiresAt: 10_500)
        #expect(m.remainingExpiry(now: 9_000) == 2)
        #expect(m.remainingExpiry(now: 10_500) == 0)
        #expect(m.isExpired(now: 10_500))
        #expect(!m.isExpired(now: 10_499))
    }
}
