import FleetProtocol
import Testing
@testable import FleetCore

/// CONNECT outcome, takeover and resume, DISCONNECT, the will and its delay, expiry, restart,
/// subscriptions, and the stored form.
@Suite struct SessionMachineLifecycleTests {
    typealias F = SessionFixtures
    let now: UInt64 = 5_000_000

    @Test(arguments: [
        // version, clean start, requested, maximum -> granted, requested
        (MQTTVersion.v5, false, nil as UInt32?, UInt32(86_400), UInt32(0), UInt32(0)),
        (.v5, false, 60, 86_400, 60, 60),
        (.v5, true, 100_000, 86_400, 86_400, 100_000),
        (.v5, false, UInt32.max, 86_400, 86_400, UInt32.max),
        (.v311, false, nil, 86_400, 86_400, UInt32.max),   // clean session 0: as long as we keep any
        (.v311, true, nil, 86_400, 0, 0),
        (.v311, true, 60, 86_400, 0, 0),                  // 3.1.1 has no expiry property
    ])
    func grantedExpiry(version: MQTTVersion, cleanStart: Bool, requested: UInt32?, maximum: UInt32, granted: UInt32, asked: UInt32) {
        let result = SessionMachine.grantedExpiry(version: version, cleanStart: cleanStart, requested: requested, maximum: maximum)
        #expect(result.granted == granted && result.requested == asked)
    }

    @Test func openingASession() {
        let live = F.connected(expiry: 60)
        var offline = F.connected(expiry: 60)
        _ = offline.connectionEnded(cleanly: false, now: now)
        let cases: [(SessionMachine?, Bool, UInt64, SessionOpening)] = [
            (nil, false, now, .new),
            (nil, true, now, .new),
            (live, false, now, .resume),
            (live, true, now, .discardAndStartNew),
            (offline, false, now + 59_999, .resume),
            (offline, true, now + 59_999, .discardAndStartNew),
            (offline, false, now + 60_000, .expireAndStartNew),  // expired since the last sweep
            (offline, true, now + 60_000, .expireAndStartNew),   // its will is still due
        ]
        for (existing, cleanStart, at, expected) in cases {
            #expect(SessionMachine.opening(existing: existing, cleanStart: cleanStart, now: at) == expected,
                    "clean start \(cleanStart) at +\(at - now) ms")
        }
    }

    /// A new connection cancels the delayed will of the previous one (MQTT 5 §3.1.3.2.2).
    @Test func attachingCancelsADelayedWill() {
        var s = F.connected(will: F.will(delaySeconds: 30))
        let dueNow = s.connectionEnded(cleanly: false, now: now)
        #expect(!dueNow && s.willDueAt == now + 30_000)
        s.attach(ConnectionTerms(sendWindow: 10), will: nil, expiryInterval: 3600, version: .v5, policy: nil)
        #expect(s.willDueAt == nil && s.will == nil && s.disconnectedAt == nil)
        #expect(s.due(now: now + 60_000) == (false, false))
    }

    @Test(arguments: [
        // will delay, session expiry, clean end -> due now, due at (offset), will kept
        (nil as UInt32?, UInt32(3600), false, true, nil as UInt64?, true),
        (30, 3600, false, false, 30_000, true),
        (30, 10, false, false, 10_000, true),        // the session ends first: the will goes then
        (30, 0, false, true, nil, true),             // ends with the connection: due now
        (nil, 3600, true, false, nil, false),        // a clean DISCONNECT discards the will
        (30, UInt32.max, false, false, 30_000, true),
    ])
    func theWillWhenTheConnectionEnds(delay: UInt32?, expiry: UInt32, cleanly: Bool, dueNow: Bool, dueIn: UInt64?, kept: Bool) {
        var s = F.connected(expiry: expiry, will: F.will(delaySeconds: delay))
        let willDueNow = s.connectionEnded(cleanly: cleanly, now: now)
        #expect(willDueNow == dueNow)
        #expect(s.willDueAt == dueIn.map { now + $0 })
        #expect((s.will != nil) == kept)
        #expect(s.disconnectedAt == now && !s.isConnected)
    }

    @Test func theSweepSeesTheWillDueAndThenTheSessionExpired() {
        var s = F.connected(expiry: 60, will: F.will(delaySeconds: 10))
        _ = s.connectionEnded(cleanly: false, now: now)
        #expect(s.due(now: now + 9_999) == (false, false))
        #expect(s.due(now: now + 10_000) == (true, false))
        let first = s.takeWill(), second = s.takeWill()
        #expect(first != nil && second == nil)  // published once
        #expect(s.due(now: now + 59_999) == (false, false))
        #expect(s.due(now: now + 60_000) == (false, true))
    }

    @Test func aSessionWithoutExpiryNeverExpires() {
        var s = F.connected(expiry: UInt32.max)
        _ = s.connectionEnded(cleanly: true, now: 0)
        #expect(!s.isExpired(now: UInt64.max / 2))
    }

    /// Issue #10 §4.3: a session that expired while the agent was down has its will published at
    /// the first sweep after the restart, by the same rule as at run time.
    @Test func aSessionThatExpiredWhileDownHasItsWillDueAtTheFirstSweep() {
        var stored = F.connected(expiry: 60, will: F.will(delaySeconds: 30)).state
        stored.disconnectedAt = nil  // it was connected when the agent stopped
        var s = SessionMachine(state: stored)
        s.restored(now: now)
        #expect(s.disconnectedAt == now && s.willDueAt == now + 30_000)
        // Down for two minutes: the will and the end are both due at the first sweep.
        #expect(s.due(now: now + 120_000) == (true, true))
    }

    @Test func restoringKeepsAWillAlreadyScheduled() {
        var m = F.connected(expiry: 600, will: F.will(delaySeconds: 30))
        _ = m.connectionEnded(cleanly: false, now: now)
        var s = SessionMachine(state: m.state)
        s.restored(now: now + 5_000)
        #expect(s.disconnectedAt == now && s.willDueAt == now + 30_000)
    }

    @Test(arguments: [
        // version, session expiry now, DISCONNECT reason, expiry on DISCONNECT -> decision, expiry after
        (MQTTVersion.v5, UInt32(60), ReasonCode.success, nil as UInt32?, DisconnectDecision.close(publishWill: false), UInt32(60)),
        (.v5, 60, .disconnectWithWill, nil, .close(publishWill: true), 60),
        (.v5, 60, .success, 0, .close(publishWill: false), 0),
        (.v5, 60, .success, 200_000, .close(publishWill: false), 86_400),  // capped by our maximum
        (.v5, 0, .success, 60, .violation(.protocolError, "session expiry set on DISCONNECT after connecting with 0"), 0),
        (.v311, 60, .success, nil, .close(publishWill: false), 60),
    ])
    func disconnect(version: MQTTVersion, expiry: UInt32, reason: ReasonCode, newExpiry: UInt32?,
                    decision: DisconnectDecision, expiryAfter: UInt32) {
        var s = F.connected(expiry: expiry, version: version)
        let outcome = s.receiveDisconnect(reason: reason, sessionExpiry: newExpiry, maximumExpiry: 86_400)
        #expect(outcome == decision)
        #expect(s.expiryInterval == expiryAfter)
    }

    @Test func subscriptionsAreBoundedAndReplaced() {
        var s = F.connected()
        let q1 = SubscriptionOptions(qos: .atLeastOnce)
        let outcomes = [s.subscribe("a/#", options: q1, maxSubscriptions: 2), s.subscribe("b/#", options: q1, maxSubscriptions: 2),
                        s.subscribe("c/#", options: q1, maxSubscriptions: 2),
                        s.subscribe("a/#", options: SubscriptionOptions(qos: .exactlyOnce), maxSubscriptions: 2)]
        #expect(outcomes == [.added, .added, .quotaExceeded, .replaced])
        #expect(s.subscriptions["a/#"]?.qos == .exactlyOnce)
        let removed = [s.unsubscribe("a/#"), s.unsubscribe("a/#")]
        #expect(removed == [true, false])
        let rest = s.removeAllSubscriptions()
        #expect(rest == ["b/#"] && s.subscriptions.isEmpty)
    }

    @Test(arguments: [
        // retain handling, shared, outcome -> sends retained
        (UInt8(0), false, SubscribeOutcome.added, true), (0, false, .replaced, true),
        (1, false, .added, true), (1, false, .replaced, false),
        (2, false, .added, false), (0, true, .added, false),
    ])
    func retainedMessagesForASubscription(handling: UInt8, shared: Bool, outcome: SubscribeOutcome, sends: Bool) {
        let options = SubscriptionOptions(qos: .atLeastOnce, retainHandling: handling)
        #expect(SessionMachine.sendsRetained(options, isShared: shared, outcome: outcome) == sends)
    }

    /// What a migration moves: everything, including owner, epoch and the packet ids in flight.
    @Test func theStoredFormRoundTrips() {
        var s = F.connected(window: 1, will: F.will(delaySeconds: 5))
        let out = RecordingOutput()
        _ = s.subscribe("a/+", options: SubscriptionOptions(qos: .exactlyOnce, subscriptionIdentifier: 4), maxSubscriptions: 2)
        for n in 1...3 { s.offer(F.message(n), subscriptionIdentifiers: [4], maxQueued: 3, now: now, out: out) }
        _ = s.receivePublish(qos: .exactlyOnce, packetId: 11, receiveMaximum: 2, out: out)
        s.ownership = SessionOwnership(gateway: "gw-2", epoch: 7)
        _ = s.connectionEnded(cleanly: false, now: now)
        let copy = SessionMachine(state: s.state)
        #expect(copy.state == s.state && copy.state.ownerGateway == "gw-2" && copy.state.epoch == 7)
        #expect(copy.inflight.elements.map(\.packetId) == [1])
        #expect(copy.queue.elements.map(\.seq) == [2, 3])
        var resumed = copy
        resumed.attach(ConnectionTerms(sendWindow: 5), will: nil, expiryInterval: 3600, version: .v5, policy: nil)
        resumed.resume(now: now, out: out)
        #expect(out.packets().suffix(3) == [.publish(packetId: 1, seq: 1, dup: true),
                                             .publish(packetId: 2, seq: 2, dup: false), .publish(packetId: 3, seq: 3, dup: false)])
    }

    /// A relayed hand-over (issue #12 relay mode): the client's connection went on from the source,
    /// so what was in flight there is not sent again (MQTT 5 §4.4: only on a new connection); its
    /// acknowledgement, which now arrives here, completes it and frees the window for the queue.
    /// The relay secret travels with the session.
    @Test func aRelayedHandoverResendsNothingAndTakesTheAcknowledgements() {
        var s = F.connected(window: 1)
        let out = RecordingOutput()
        for n in 1...2 { s.offer(F.message(n), subscriptionIdentifiers: [], maxQueued: 3, now: now, out: out) }
        #expect(out.packets() == [.publish(packetId: 1, seq: 1, dup: false)])
        let secret = [UInt8](repeating: 9, count: 16)
        s.ownership = SessionOwnership(gateway: "gw-2", epoch: 3, relaySecret: secret)
        var moved = SessionMachine(state: s.state)
        moved.restored(now: now)
        #expect(moved.ownership?.relaySecret == secret)
        moved.attach(ConnectionTerms(sendWindow: 1), will: nil, expiryInterval: 3600, version: .v5, policy: nil)
        moved.continueRelayed(now: now, out: out)
        #expect(out.packets().isEmpty)
        moved.receivePubAck(1, now: now, out: out)
        #expect(out.packets() == [.publish(packetId: 2, seq: 2, dup: false)])
    }
}
