import FleetProtocol
import Testing
@testable import FleetCore

/// Messages from the client: QoS 0/1/2 receipt, duplicates, our Receive Maximum, PUBREL (MQTT §4.3).
@Suite struct SessionMachineInboundTests {
    typealias F = SessionFixtures

    @Test(arguments: [(QoS.atMostOnce, nil as MQTTPacketType?), (.atLeastOnce, .puback), (.exactlyOnce, .pubrec)])
    func aPublishIsAcceptedWithTheAcknowledgementOfItsQoS(qos: QoS, reply: MQTTPacketType?) {
        var s = F.connected()
        let decision = s.receivePublish(qos: qos, packetId: 1, receiveMaximum: 2, out: RecordingOutput())
        #expect(decision == .accept(reply: reply))
    }

    /// A QoS 2 PUBLISH re-sent before PUBREL is acknowledged again but not delivered twice; its id
    /// is persisted so this holds across a restart.
    @Test func aResentQoS2PublishIsADuplicate() {
        var s = F.connected()
        let out = RecordingOutput()
        let first = s.receivePublish(qos: .exactlyOnce, packetId: 7, receiveMaximum: 2, out: out)
        #expect(first == .accept(reply: .pubrec) && out.take() == [.effect(.saveSession)])
        let again = s.receivePublish(qos: .exactlyOnce, packetId: 7, receiveMaximum: 2, out: out)
        #expect(again == .duplicate(reply: .pubrec))
        s.receivePubRel(7, out: out)
        #expect(out.take() == [.effect(.saveSession), .ack(.pubcomp, packetId: 7, reason: .success)])
        let afterRelease = s.receivePublish(qos: .exactlyOnce, packetId: 7, receiveMaximum: 2, out: out)
        #expect(afterRelease == .accept(reply: .pubrec))
    }

    /// MQTT 5 §3.3.4: more unreleased QoS 2 messages than our Receive Maximum is a protocol error (0x93).
    @Test func moreQoS2MessagesThanOurReceiveMaximumIsAViolation() {
        var s = F.connected()
        let out = RecordingOutput()
        _ = s.receivePublish(qos: .exactlyOnce, packetId: 1, receiveMaximum: 2, out: out)
        _ = s.receivePublish(qos: .exactlyOnce, packetId: 2, receiveMaximum: 2, out: out)
        let third = s.receivePublish(qos: .exactlyOnce, packetId: 3, receiveMaximum: 2, out: out)
        guard case .violation(let reason, _) = third else {
            Issue.record("a third unreleased QoS 2 message was accepted"); return
        }
        #expect(reason == .receiveMaximumExceeded)
        #expect(s.inboundQoS2 == [1, 2])
    }

    @Test(arguments: [(MQTTVersion.v5, ReasonCode.packetIdentifierNotFound), (.v311, .success)])
    func aPubRelForAnUnknownId(version: MQTTVersion, reason: ReasonCode) {
        var s = F.connected(version: version)
        let out = RecordingOutput()
        s.receivePubRel(5, out: out)
        #expect(out.take() == [.ack(.pubcomp, packetId: 5, reason: reason)])
    }

    @Test func aRefusedQoS2PublishOf311CompletesLikeAnAcceptedOne() {
        var s = F.connected(version: .v311)
        let out = RecordingOutput()
        s.refusedExactlyOnce(9)
        s.receivePubRel(9, out: out)
        #expect(out.take() == [.effect(.saveSession), .ack(.pubcomp, packetId: 9, reason: .success)])
    }

    @Test func aNonPersistentSessionStoresNoInboundIds() {
        var s = F.connected(expiry: 0)
        let out = RecordingOutput()
        _ = s.receivePublish(qos: .exactlyOnce, packetId: 1, receiveMaximum: 2, out: out)
        #expect(out.take() == [])
    }
}
