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

    @Test func wholeSessionRoundTrips() throws {
        let s = richSession()
        #expect(try SessionState(serialized: s.serialized()) == s)
    }

    @Test func headerLeavesOutboundOut() throws {
        var s = richSession()
        let header = try SessionState(serialized: s.serializedHeader())
        s.outbound = []
        #expect(header == s)
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
        let bytes = richSession().serialized()
        for cut in stride(from: 0, to: bytes.count - 1, by: max(1, bytes.count / 400)) {
            #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: Array(bytes[..<cut])) }
        }
    }

    @Test func unknownFormatAndTrailingBytesAreRefused() {
        var bytes = richSession().serialized()
        bytes[0] = 2
        #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: bytes) }
        #expect(throws: SessionCodecError.self) { _ = try SessionState(serialized: richSession().serialized() + [0]) }
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
