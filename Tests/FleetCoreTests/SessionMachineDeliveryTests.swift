import FleetProtocol
import Testing
@testable import FleetCore

/// Messages towards the client: the in-flight window (Receive Maximum), the queue and its bound,
/// QoS 1/2 acknowledgements, Maximum Packet Size, expiry, and resume with DUP (MQTT §4.3, §4.4).
@Suite struct SessionMachineDeliveryTests {
    typealias F = SessionFixtures
    let now: UInt64 = 1_000_000

    @Test func aQoS1DeliveryGoesInFlightAndIsPersistedAfterItIsWritten() {
        var s = F.connected()
        let out = RecordingOutput()
        s.offer(F.message(1), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        let first = OutboundMessage(seq: 1, packetId: 1, phase: .published, message: F.message(1))
        #expect(out.take() == [.publish(packetId: 1, seq: 1, dup: false),
                               .effect(.saveOutbound(first, bodyNeeded: true)), .effect(.sent)])
        #expect(s.inflight.count == 1)
        s.receivePubAck(1, now: now, out: out)
        #expect(out.take() == [.effect(.deleteOutbound(seq: 1)), .effect(.acknowledged)])
        #expect(s.inflight.isEmpty)
    }

    @Test func aSessionThatEndsWithItsConnectionPersistsNothing() {
        var s = F.connected(expiry: 0)
        let out = RecordingOutput()
        s.offer(F.message(1), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        s.receivePubAck(1, now: now, out: out)
        #expect(out.take() == [.publish(packetId: 1, seq: 1, dup: false), .effect(.sent), .effect(.acknowledged)])
    }

    /// The client's Receive Maximum bounds what is in flight; an acknowledgement lets the next
    /// queued message go, in order, with a fresh packet id.
    @Test func theWindowHoldsBackMessagesUntilAnAcknowledgement() {
        var s = F.connected(window: 2)
        let out = RecordingOutput()
        for n in 1...3 { s.offer(F.message(n), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out) }
        #expect(out.packets() == [.publish(packetId: 1, seq: 1, dup: false), .publish(packetId: 2, seq: 2, dup: false)])
        #expect(s.queue.count == 1)
        s.receivePubAck(1, now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 3, seq: 3, dup: false)])
        #expect(s.queue.isEmpty && s.inflight.count == 2)
    }

    @Test func aBackedUpSocketQueuesAndTheNextAcknowledgementSendsOn() {
        var s = F.connected(window: 5)
        let out = RecordingOutput()
        out.canWritePublish = false
        s.offer(F.message(1), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        #expect(out.packets() == [])
        #expect(s.queue.count == 1)
        out.canWritePublish = true
        s.pump(now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 1, seq: 1, dup: false)])
    }

    /// Offline, the queue is bounded: past `maxQueued` the newest message is dropped and counted.
    @Test func aFullQueueDropsTheNewestMessage() {
        var s = F.connected()
        let out = RecordingOutput()
        _ = s.connectionEnded(cleanly: true, now: now)
        for n in 1...4 { s.offer(F.message(n), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out) }
        let events = out.take()
        #expect(events.filter { if case .effect(.saveOutbound) = $0 { true } else { false } }.count == 3)
        #expect(events.last == .effect(.dropped(.queueFull)))
        #expect(s.queue.elements.map(\.seq) == [1, 2, 3])
    }

    /// A full queue does not refuse a message the window has room for (the socket was only backed up).
    @Test func aFullQueueStillTakesAMessageTheWindowHasRoomFor() {
        var s = F.connected(window: 10)
        let out = RecordingOutput()
        out.canWritePublish = false
        for n in 1...4 { s.offer(F.message(n), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out) }
        #expect(!out.take().contains(.effect(.dropped(.queueFull))))
        #expect(s.queue.count == 4)
    }

    /// A connected session with one QoS 2 message sent (packet id 1), the output emptied.
    private func oneQoS2InFlight() -> (SessionMachine, RecordingOutput) {
        var s = F.connected()
        let out = RecordingOutput()
        s.offer(F.message(1, qos: .exactlyOnce), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        _ = out.take()
        return (s, out)
    }

    @Test func qos2DeliveryIsReleasedOnPubRecAndCompletedOnPubComp() {
        var (s, out) = oneQoS2InFlight()
        s.receivePubRec(1, isError: false, now: now, out: out)
        let released = OutboundMessage(seq: 1, packetId: 1, phase: .released, message: F.message(1, qos: .exactlyOnce))
        #expect(out.take() == [.effect(.saveOutbound(released, bodyNeeded: false)), .ack(.pubrel, packetId: 1, reason: .success)])
        s.receivePubAck(1, now: now, out: out)  // a PUBACK for a QoS 2 delivery is not its completion
        #expect(out.take() == [] && s.inflight.count == 1)
        s.receivePubComp(1, now: now, out: out)
        #expect(out.take() == [.effect(.deleteOutbound(seq: 1)), .effect(.acknowledged)])
    }

    /// MQTT 5 §4.3.3: a PUBREC with an error reason ends the exchange; no PUBREL follows.
    @Test func aPubRecWithAnErrorEndsTheExchange() {
        var (s, out) = oneQoS2InFlight()
        s.receivePubRec(1, isError: true, now: now, out: out)
        #expect(out.take() == [.effect(.deleteOutbound(seq: 1)), .effect(.acknowledged)])
        #expect(s.inflight.isEmpty)
    }

    @Test(arguments: [(MQTTVersion.v5, ReasonCode.packetIdentifierNotFound), (.v311, .success)])
    func aPubRecForAnUnknownIdStillGetsAPubRel(version: MQTTVersion, reason: ReasonCode) {
        var s = F.connected(version: version)
        let out = RecordingOutput()
        s.receivePubRec(42, isError: false, now: now, out: out)
        #expect(out.take() == [.ack(.pubrel, packetId: 42, reason: reason)])
    }

    @Test func unknownPubAckAndPubCompAreIgnored() {
        var s = F.connected()
        let out = RecordingOutput()
        s.receivePubAck(9, now: now, out: out)
        s.receivePubComp(9, now: now, out: out)
        #expect(out.take() == [])
    }

    /// MQTT 5 §3.1.2.11.4: a message larger than the client accepts is dropped for it, never put in
    /// flight (where it would stay for ever), and its stored row goes.
    @Test func aMessageOverTheClientsMaximumIsDroppedNotKeptInFlight() {
        var s = F.connected()
        let out = RecordingOutput()
        out.maxPayload = 10
        s.offer(F.message(1, payloadBytes: 11), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        #expect(out.take() == [.effect(.dropped(.overClientMaximum)), .effect(.deleteOutbound(seq: 1))])
        #expect(s.inflight.isEmpty)
        s.offer(F.message(2, payloadBytes: 10), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 2, seq: 2, dup: false)])
    }

    @Test func aQueuedMessageThatExpiredIsDroppedWhenItsTurnComes() {
        var s = F.connected(window: 1)
        let out = RecordingOutput()
        s.offer(F.message(1), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        s.offer(F.message(2, expiresAt: now + 500), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        s.offer(F.message(3), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        _ = out.take()
        s.receivePubAck(1, now: now + 500, out: out)
        #expect(out.take() == [.effect(.deleteOutbound(seq: 1)), .effect(.acknowledged),
                               .effect(.dropped(.expired)), .effect(.deleteOutbound(seq: 2)),
                               .publish(packetId: 2, seq: 3, dup: false),
                               .effect(.saveOutbound(OutboundMessage(seq: 3, packetId: 2, phase: .published, message: F.message(3)),
                                                     bodyNeeded: true)),
                               .effect(.sent)])
    }

    @Test(arguments: [(nil as UInt64?, nil as DropCause?), (999_999, .expired), (1_000_000, .expired), (1_000_001, nil)])
    func refusalOfAnExpiredMessage(expiresAt: UInt64?, refusal: DropCause?) {
        let s = F.connected()
        #expect(s.refusal(of: F.message(1, expiresAt: expiresAt), now: now) == refusal)
    }

    @Test func aPolicyThatDeniesReceivingRefusesTheMessage() {
        var s = F.connected()
        let policies = PolicySet(everyone: [PolicyRule(effect: .allow, actions: [.receive], filters: ["t/1"])])
        s.policy = ConnectionPolicy(policies: policies, identity: ClientIdentity(clientId: "device"))
        #expect(s.refusal(of: F.message(1), now: now) == nil)
        #expect(s.refusal(of: F.message(2), now: now) == .notAuthorized)
    }

    @Test func packetIdsSkipThoseInFlightAndWrapPast65535() {
        var s = F.connected(window: 100)
        s.nextPacketId = 65_534
        let out = RecordingOutput()
        for n in 1...3 { s.offer(F.message(n), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out) }
        #expect(out.packets() == [.publish(packetId: 65_534, seq: 1, dup: false), .publish(packetId: 65_535, seq: 2, dup: false),
                                  .publish(packetId: 1, seq: 3, dup: false)])
        s.nextPacketId = 65_535
        s.offer(F.message(4), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 2, seq: 4, dup: false)])  // 65,535 and 1 are in flight
    }

    // MARK: Resume (MQTT §4.4)

    /// A session with three messages in flight (two published, one released) and one queued,
    /// resumed by a client whose Receive Maximum is now 1.
    private func resumed(window: Int, maxPayload: Int = .max) -> (SessionMachine, RecordingOutput) {
        var s = F.connected(window: 10)
        let out = RecordingOutput()
        s.offer(F.message(1), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        s.offer(F.message(2, payloadBytes: 20), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        s.offer(F.message(3, qos: .exactlyOnce), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        s.receivePubRec(3, isError: false, now: now, out: out)
        _ = s.connectionEnded(cleanly: false, now: now)
        s.offer(F.message(4), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        _ = out.take()
        out.maxPayload = maxPayload
        s.attach(ConnectionTerms(sendWindow: window), will: nil, expiryInterval: 3600, version: .v5, policy: nil)
        s.resume(now: now + 10, out: out)
        return (s, out)
    }

    /// Issue #10 §4.4: re-sends respect the client's new Receive Maximum; PUBRELs go at once;
    /// new messages wait behind the re-sends.
    @Test func resumeResendsWithDupWithinTheNewReceiveMaximum() {
        var (s, out) = resumed(window: 2)
        #expect(out.take() == [.effect(.saveSession), .ack(.pubrel, packetId: 3, reason: .success),
                               .publish(packetId: 1, seq: 1, dup: true)])
        s.receivePubAck(1, now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 2, seq: 2, dup: true)])
        s.receivePubAck(2, now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 4, seq: 4, dup: false)])
    }

    /// A released QoS 2 message counts against Receive Maximum until its PUBCOMP (MQTT 5 §4.9).
    @Test func aReleasedMessageHoldsItsPlaceInTheWindow() {
        var (s, out) = resumed(window: 1)
        #expect(out.take() == [.effect(.saveSession), .ack(.pubrel, packetId: 3, reason: .success)])
        s.receivePubComp(3, now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 1, seq: 1, dup: true)])
    }

    /// Issue #10 §4.4: an in-flight message the client's new Maximum Packet Size refuses is dropped,
    /// not kept in flight for ever.
    @Test func resumeDropsAnInFlightMessageTheNewMaximumRefuses() {
        var (s, out) = resumed(window: 10, maxPayload: 10)
        let events = out.take()
        #expect(events.contains(.effect(.dropped(.overClientMaximum))))
        #expect(events.contains(.effect(.deleteOutbound(seq: 2))))
        #expect(s.inflight.elements.map(\.packetId).sorted() == [1, 3, 4])  // 4: the queued one, sent now
        s.receivePubAck(1, now: now, out: out)
        #expect(s.awaitingResend.isEmpty)
    }

    /// A PUBREC for a message the client had before reconnecting: it need not be re-sent.
    @Test func aPubRecBeforeTheResendCancelsIt() {
        var s = F.connected(window: 10)
        let out = RecordingOutput()
        s.offer(F.message(1, qos: .exactlyOnce), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        s.offer(F.message(2, qos: .exactlyOnce), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out)
        _ = s.connectionEnded(cleanly: false, now: now)
        s.attach(ConnectionTerms(sendWindow: 1), will: nil, expiryInterval: 3600, version: .v5, policy: nil)
        s.resume(now: now, out: out)
        _ = out.take()
        #expect(s.awaitingResend == [2])
        s.receivePubRec(2, isError: false, now: now, out: out)
        #expect(s.awaitingResend.isEmpty)
    }
}
