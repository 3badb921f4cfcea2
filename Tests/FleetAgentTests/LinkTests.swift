import Foundation
import Testing
import FleetCore
import FleetProtocol
import FleetRuntime
@testable import FleetAgent

/// The coordinator link against a fake coordinator on real loopback sockets, with real MQTT
/// clients on the broker. Each test ends with no loop handles left (`LinkRig.finish`).
@Suite(.serialized) struct LinkTests {
    @Test func helloCarriesIdentityTokenAndNothingElseIsSentBeforeHelloAck() throws {
        let rig = try LinkRig { $0.autoAck = false }
        #expect(rig.spin { rig.fake.current?.hello != nil })
        let peer = try #require(rig.fake.current)
        let hello = try #require(peer.hello)
        #expect(hello.gatewayId == "gw-a")
        #expect(hello.authToken == Array("s3cret-token".utf8))
        #expect(hello.mqttAddress == "10.0.0.1:1883")
        #expect(hello.region == "eu-west")
        #expect(hello.labels == [FleetFrame.Label("rack", "7"), FleetFrame.Label("site", "lab")])
        #expect(hello.capacityWeight == 3)
        #expect(hello.minVersion == 1 && hello.maxVersion == 1)
        #expect(hello.maximumFrameSize == UInt32(FleetLimits.defaultMaximumFrameSize))
        // Interest changes before HELLO_ACK are not sent: only HELLO is on the wire.
        let sub = try rig.client("sub")
        sub.subscribe("early/+")
        #expect(rig.spin { sub.subacks == 1 })
        #expect(peer.frames.count == 1)
        rig.fake.ack(peer)
        #expect(rig.waitEstablished())
        let snapshot = try #require(peer.snapshots.first)
        #expect(snapshot == FleetFrame.InterestSnapshot(epoch: 1, sequence: 0, isLast: true, filters: ["early/+"]))
        #expect(rig.link.metrics.sessions == 1)
        rig.finish()
    }

    @Test func snapshotThenDeltasAsSubscriptionsChange() throws {
        let rig = try LinkRig(start: false)
        let a = try rig.client("a")
        a.subscribe("a/+")
        a.subscribe("$share/g/s/#", id: 2)
        #expect(rig.spin { a.subacks == 2 })
        rig.link.start(defaultAdvertise: "")
        #expect(rig.waitEstablished())
        let peer = try #require(rig.fake.current)
        #expect(peer.snapshots == [FleetFrame.InterestSnapshot(epoch: 1, sequence: 0, isLast: true, filters: ["a/+", "s/#"])])

        let b = try rig.client("b")
        b.subscribe("b/#")
        b.subscribe("a/+", id: 2)                // a second subscriber: no change of interest
        #expect(rig.spin { peer.deltas.count == 1 && b.subacks == 2 })
        #expect(peer.deltas[0] == FleetFrame.InterestDelta(epoch: 1, sequence: 1, added: ["b/#"], removed: []))
        b.unsubscribe("b/#")
        #expect(rig.spin { peer.deltas.count == 2 })
        #expect(peer.deltas[1] == FleetFrame.InterestDelta(epoch: 1, sequence: 2, added: [], removed: ["b/#"]))
        b.disconnect()                           // a/+ still has a subscriber: nothing to say
        a.disconnect()                           // now a/+ and s/# go
        #expect(rig.spin { peer.deltas.count == 3 })
        #expect(peer.deltas[2].sequence == 3 && Set(peer.deltas[2].removed) == ["a/+", "s/#"] && peer.deltas[2].added.isEmpty)
        rig.finish()
    }

    @Test func forwardsOnlyWhatRemoteInterestWantsAndRetainedAlways() throws {
        let rig = try LinkRig(remoteFilters: ["x/+"])
        #expect(rig.waitEstablished())
        #expect(rig.spin { rig.link.remote.filterCount == 1 })
        let peer = try #require(rig.fake.current)
        let pub = try rig.client("pub")
        pub.publish("y/1", [1])                  // nobody elsewhere wants it
        pub.publish("x/1", [2])
        pub.publish("z/state", [3], retain: true) // retained: always
        #expect(rig.spin { peer.forwards.count == 2 })
        let f = peer.forwards
        #expect(f.map(\.topic) == ["x/1", "z/state"])
        #expect(f[0].originGatewayId == "gw-a" && f[0].qos == .atMostOnce && !f[0].retain && f[0].payload == [2])
        #expect(f[1].retain && f[1].payload == [3])
        #expect(f[1].sequence > f[0].sequence)
        // A REMOTE_INTEREST delta widens the interest.
        peer.send(.remoteInterest(.delta(FleetFrame.InterestDelta(epoch: 1, sequence: 1, added: ["y/#"]))))
        #expect(rig.spin { rig.link.remote.filterCount == 2 })
        pub.publish("y/1", [4])
        #expect(rig.spin { peer.forwards.count == 3 })
        #expect(peer.forwards[2].topic == "y/1" && peer.forwards[2].sequence > f[1].sequence)
        #expect(rig.link.metrics.forwardsSent == 3)
        rig.finish()
    }

    /// Before its first REMOTE_INTEREST snapshot an agent cannot know what other gateways want:
    /// QoS 1 publishes go into the outbound log (durable before the PUBACK) and out once the link
    /// is up; afterwards the view decides. Before, "no view" meant "nobody", and they were lost.
    @Test func beforeTheFirstViewQoS1IsLoggedAndForwardedWhenTheLinkComesUp() throws {
        // The coordinator takes the connection but does not answer HELLO yet (down, or recovering).
        let rig = try LinkRig(remoteFilters: ["x/+"]) { $0.autoAck = false }
        #expect(rig.spin { rig.fake.current?.hello != nil })
        let peer = try #require(rig.fake.current)
        let pub = try rig.client("pub")
        pub.publish("early/1", [1], qos: 1, id: 1)
        pub.publish("x/early", [2], qos: 1, id: 2)
        #expect(rig.spin { pub.pubacks == [1, 2] })
        #expect(try rig.loggedSequences().count == 2)
        #expect(peer.forwards.isEmpty && !rig.link.isEstablished)
        rig.fake.ack(peer)
        #expect(rig.waitEstablished())
        #expect(rig.spin { peer.forwards.count == 2 && rig.link.remote.hasView })
        #expect(peer.forwards.map(\.topic) == ["early/1", "x/early"])
        pub.publish("early/2", [3], qos: 1, id: 3)      // the view says nobody wants it now
        pub.publish("x/late", [4], qos: 1, id: 4)
        #expect(rig.spin { pub.pubacks == [1, 2, 3, 4] && peer.forwards.count == 3 })
        #expect(peer.forwards.map(\.topic) == ["early/1", "x/early", "x/late"])
        rig.finish()
    }

    @Test func qos1ForwardIsDurableBeforePubAckResentAfterReconnectAndRemovedByDeliveryAck() throws {
        let rig = try LinkRig(remoteFilters: ["q/#"])
        #expect(rig.waitEstablished())
        #expect(rig.spin { rig.link.remote.filterCount == 1 })
        let first = try #require(rig.fake.current)
        let pub = try rig.client("pub")
        final class Seen { var atPubAck: [UInt64]? }
        let seen = Seen()
        pub.onPubAck = { _ in seen.atPubAck = try? rig.loggedSequences() }
        pub.publish("q/1", Array("hello".utf8), qos: 1, id: 7)
        #expect(rig.spin { pub.pubacks == [7] && first.forwards.count == 1 })
        let forward = try #require(first.forwards.first)
        #expect(forward.qos == .atLeastOnce && forward.topic == "q/1")
        #expect(seen.atPubAck == [forward.sequence])       // in the log when the PUBACK arrived

        // The coordinator drops the connection without confirming: the link reconnects, resends.
        first.stream.closeNow()
        #expect(rig.waitEstablished(peers: 2))
        let second = try #require(rig.fake.current)
        #expect(rig.spin { second.forwards.count == 1 })
        #expect(second.forwards[0] == forward)
        #expect(second.snapshots.first?.epoch == 1)        // full resynchronisation on the new session
        #expect(rig.link.metrics.forwardsResent == 1)
        #expect(try rig.loggedSequences() == [forward.sequence])

        second.send(.deliveryAck(FleetFrame.DeliveryAck(originGatewayId: "gw-a", upToSequence: forward.sequence)))
        #expect(rig.spin { rig.link.outbound.count == 0 })
        pub.publish("q/2", [9], qos: 1, id: 8)
        #expect(rig.spin { second.forwards.count == 2 })
        #expect(second.forwards[1].sequence > forward.sequence)
        rig.finish(keepFiles: true)
        defer { rig.removeFiles() }

        // Reopened: the confirmed forward is gone, the unconfirmed one is there, and a new link
        // continues with higher sequences.
        let store = try ForwardStore(path: rig.dir + "/fleetgate.db", synchronous: .normal)
        let loaded = try store.load()
        store.close()
        #expect(loaded.log.map(\.seq) == [second.forwards[1].sequence])
        #expect(loaded.log.first?.message.topic == "q/2")
        #expect(loaded.nextSeq > second.forwards[1].sequence)
    }

    /// Issue #10 §4.1: with the outbound log at its bound, QoS 1 forwards were dropped while the
    /// publisher still got its PUBACK. Now every acknowledged message is logged and forwarded, and
    /// the publisher simply is not read until the coordinator's confirmations free the log.
    @Test func aFullLogStopsReadingThePublisherInsteadOfDroppingAcknowledgedForwards() throws {
        var limits = LinkLimits()
        limits.maxUnacked = 4
        let rig = try LinkRig(remoteFilters: ["q/#"], limits: limits)
        #expect(rig.waitEstablished())
        #expect(rig.spin { rig.link.remote.filterCount == 1 })
        let peer = try #require(rig.fake.current)
        let pub = try rig.client("pub")
        for i in 1...12 {
            pub.publish("q/\(i)", [UInt8(i)], qos: 1, id: UInt16(i))
            _ = rig.spin(maxTicks: 2) { false }  // one publish per read, as a device that waits between them
        }
        #expect(rig.spin { peer.forwards.count >= limits.maxUnacked })
        _ = rig.spin(maxTicks: 10) { false }
        // Held at the bound: not every publish was read, so not every one was acknowledged.
        #expect(pub.pubacks.count < 12)
        #expect(rig.link.outbound.count == pub.pubacks.count)
        #expect(rig.link.metrics.publishersHeldByLog >= 1)
        // Confirmations free the log; reading resumes, and every message arrives exactly once.
        var confirmedUpTo: UInt64 = 0
        #expect(rig.spin {
            if let last = peer.forwards.last?.sequence, last > confirmedUpTo {
                confirmedUpTo = last
                peer.send(.deliveryAck(FleetFrame.DeliveryAck(originGatewayId: "gw-a", upToSequence: last)))
            }
            return pub.pubacks.count == 12 && peer.forwards.count == 12
        })
        #expect(peer.forwards.map(\.topic) == (1...12).map { "q/\($0)" })
        #expect(pub.pubacks == (1...12).map { UInt16($0) })
        rig.finish()
    }

    @Test func incomingForwardIsDeliveredOnceDuplicateDroppedAndAcknowledged() throws {
        let rig = try LinkRig()
        #expect(rig.waitEstablished())
        let peer = try #require(rig.fake.current)
        let sub = try rig.client("sub")
        sub.subscribe("in/#", qos: 1)
        #expect(rig.spin { sub.subacks == 1 && peer.deltas.count == 1 })
        var expiring = MQTTProperties()
        expiring.messageExpiryInterval = 600
        expiring.contentType = "text/plain"
        let f5 = FleetFrame.Forward(originGatewayId: "gw-b", sequence: 5, topic: "in/1", qos: .atLeastOnce, properties: expiring,
                                    payload: Array("one".utf8))
        peer.send(.forward(f5))
        #expect(rig.spin { sub.publishes.count == 1 && peer.acks.count == 1 })
        #expect(sub.publishes[0] == LinkMQTTClient.Publish(topic: "in/1", payload: Array("one".utf8), qos: 1, retain: false))
        #expect(peer.acks[0] == FleetFrame.DeliveryAck(originGatewayId: "gw-b", upToSequence: 5))
        #expect(try rig.seenMark("gw-b") == 5)              // committed before the ack left

        peer.send(.forward(f5))                              // a re-send: dropped, acknowledged again
        #expect(rig.spin { peer.acks.count == 2 })
        #expect(rig.link.metrics.duplicatesDropped == 1)
        var f6 = f5
        f6.sequence = 6
        f6.topic = "in/2"
        peer.send(.forward(f6))
        // Our own origin is never delivered back.
        var own = f5
        own.originGatewayId = "gw-a"
        own.sequence = 100
        peer.send(.forward(own))
        #expect(rig.spin { sub.publishes.count == 2 && peer.acks.count == 3 })
        #expect(sub.publishes.map(\.topic) == ["in/1", "in/2"])
        #expect(peer.acks[2].upToSequence == 6)
        #expect(rig.broker.metrics.messagesForwardedIn == 2)
        rig.finish(keepFiles: true)
        defer { rig.removeFiles() }
        #expect(try rig.seenMark("gw-b") == 6)
    }

    @Test func interestOutOfSyncGetsAFreshSnapshotAndBadRemoteDeltasAreReported() throws {
        let rig = try LinkRig()
        #expect(rig.waitEstablished())
        let peer = try #require(rig.fake.current)
        let sub = try rig.client("sub")
        sub.subscribe("k/1")
        #expect(rig.spin { peer.deltas.count == 1 })
        peer.send(.error(FleetFrame.ErrorReport(code: .interestOutOfSync, relatedKind: .interestDelta, message: "gap")))
        #expect(rig.spin { peer.snapshots.count == 2 })
        #expect(peer.snapshots[1] == FleetFrame.InterestSnapshot(epoch: 2, sequence: 0, isLast: true, filters: ["k/1"]))
        sub.subscribe("k/2", id: 3)
        #expect(rig.spin { peer.deltas.count == 2 })
        #expect(peer.deltas[1] == FleetFrame.InterestDelta(epoch: 2, sequence: 1, added: ["k/2"]))
        // REMOTE_INTEREST delta before any snapshot: ERROR interestOutOfSync, connection kept.
        peer.send(.remoteInterest(.delta(FleetFrame.InterestDelta(epoch: 1, sequence: 0, added: ["r"]))))
        #expect(rig.spin { !peer.errors.isEmpty })
        #expect(peer.errors[0].code == .interestOutOfSync && peer.errors[0].relatedKind == .remoteInterest)
        #expect(rig.link.isEstablished && !peer.closed)
        rig.finish()
    }

    @Test func reconnectBackoffIsBoundedWhileTheCoordinatorIsDown() throws {
        let rig = try LinkRig(backoff: Backoff(minMs: 2, maxMs: 16), start: false)
        rig.fake.server.close()                               // nothing listens on that port now
        rig.link.start(defaultAdvertise: "")
        final class Delays { var seen: Set<UInt64> = [] }
        let delays = Delays()
        let attempts = rig.spin {
            delays.seen.insert(rig.link.metrics.lastReconnectDelayMs)
            return rig.link.metrics.connectAttempts >= 8
        }
        #expect(attempts)
        #expect(delays.seen.allSatisfy { $0 <= 16 })
        #expect(delays.seen.contains(16))                          // jitter 1: the ceiling is reached and held
        #expect(!rig.link.isEstablished)
        // Local traffic is served meanwhile.
        let sub = try rig.client("sub")
        sub.subscribe("l/1")
        let pub = try rig.client("pub")
        pub.publish("l/1", [1], qos: 1, id: 3)
        #expect(rig.spin { sub.publishes.count == 1 && pub.pubacks == [3] })
        rig.finish()
    }

    @Test func controlFramesDoNotWaitBehindBulk() throws {
        var limits = LinkLimits()
        limits.bulkLowWatermark = 16 * 1024
        let rig = try LinkRig(remoteFilters: ["#"], limits: limits)
        #expect(rig.waitEstablished())
        #expect(rig.spin { rig.link.remote.filterCount == 1 })
        let peer = try #require(rig.fake.current)
        peer.stream.stopReading()                            // the coordinator stops reading
        let payload = [UInt8](repeating: 0xAB, count: 8 * 1024)
        // Enough bulk to fill the kernel buffers and the watermark, then some waiting in the queue.
        final class Count { var published = 0 }
        let count = Count()
        let filled = rig.spin {
            for _ in 0..<64 {
                rig.link.localMessagePublished(Message(topic: "bulk/\(count.published)", payload: payload, qos: .atMostOnce, retain: false))
                count.published += 1
            }
            return rig.link.queuedQoS0.count > 0 && count.published > 256
        }
        #expect(filled)
        let published = count.published
        let stream = try #require(rig.link.connection?.stream)
        #expect(stream.pendingWriteBytes < limits.bulkLowWatermark + payload.count + 256)
        // A control frame goes straight to the socket, ahead of the bulk still queued.
        rig.link.interestChanged(filter: "urgent/#", added: true)
        rig.spin { rig.link.interest.pending.isEmpty }
        let queuedWhenDeltaSent = rig.link.queuedQoS0.count
        #expect(queuedWhenDeltaSent > 0)
        peer.stream.startReading()
        #expect(rig.spin { peer.deltas.count == 1 && rig.link.queuedQoS0.count == 0 && peer.forwards.count + Int(rig.link.metrics.forwardsDroppedQoS0) == published })
        let deltaIndex = try #require(peer.frames.firstIndex { if case .interestDelta = $0 { true } else { false } })
        let forwardsAfterDelta = peer.frames[deltaIndex...].filter { if case .forward = $0 { true } else { false } }.count
        #expect(forwardsAfterDelta >= queuedWhenDeltaSent)
        let seqs = peer.forwards.map(\.sequence)
        #expect(seqs == seqs.sorted())                       // one origin's forwards stay in order
        rig.finish()
    }

    @Test func heartbeatsAtTheAckedIntervalAndASilentCoordinatorIsDropped() throws {
        let rig = try LinkRig { $0.heartbeatMs = 20 }     // the fake never sends a heartbeat
        #expect(rig.waitEstablished())
        let first = try #require(rig.fake.current)
        #expect(rig.spin { first.closed && rig.fake.peers.count >= 2 })
        let beats = first.frames.compactMap { if case .heartbeat(let h) = $0 { h.sequence } else { nil } }
        #expect(beats.count >= 2 && beats == Array(1...UInt64(beats.count)))
        #expect(first.errors.last?.code == .heartbeatTimeout)
        #expect(rig.waitEstablished(peers: rig.fake.peers.count))  // and the link came back
        rig.finish()
    }

    @Test func refusedHelloIsLoggedAndRetriedWithBackoff() throws {
        let rig = try LinkRig { fake in
            fake.onHello = { peer in
                peer.send(.error(FleetFrame.ErrorReport(code: .notAuthorized, relatedKind: .hello, message: "bad token")))
                peer.stream.close()
            }
        }
        #expect(rig.spin { rig.fake.peers.count >= 3 && rig.link.metrics.errorsReceived >= 2 })
        #expect(!rig.link.isEstablished && rig.link.metrics.sessions == 0)
        #expect(rig.link.metrics.lastReconnectDelayMs <= 40)
        rig.finish()
    }
}
