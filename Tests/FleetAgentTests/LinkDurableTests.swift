import FleetCore
import FleetProtocol
import FleetRuntime
import Testing
@testable import FleetAgent

/// The agent's side of durable cross-gateway delivery (issue #11, Protocol/agent-coordinator.md §5.10-5.13) against
/// a fake coordinator on loopback: durable interest, cursors after HELLO_ACK, REPLAY, and the last
/// retained QoS 0 value published while the link was down.
@Suite(.serialized) struct LinkDurableTests {
    @Test func durableInterestIsTheQoS1FiltersOfPersistentSessions() throws {
        let rig = try LinkRig()
        defer { rig.finish() }
        #expect(rig.waitEstablished())
        let peer = try #require(rig.fake.current)
        let persistent = try rig.client("keeps", clean: false)
        persistent.subscribe("d/qos1", qos: 1)
        persistent.subscribe("d/qos0", qos: 0, id: 2)
        let clean = try rig.client("clean")
        clean.subscribe("c/qos1", qos: 1)
        #expect(rig.spin { persistent.subacks == 2 && clean.subacks == 1 && peer.durableFilters == ["d/qos1"] })
        #expect(rig.spin(maxTicks: 50) { false } == false)  // a few turns: nothing else arrives
        #expect(peer.durableFilters == ["d/qos1"])
        // Downgrading the subscription to QoS 0 makes it non-durable.
        persistent.subscribe("d/qos1", qos: 0, id: 3)
        #expect(rig.spin { peer.durableFilters.isEmpty })
    }

    @Test func aReconnectSendsTheDurableSnapshotAndTheCursors() throws {
        let rig = try LinkRig()
        defer { rig.finish() }
        #expect(rig.waitEstablished())
        let first = try #require(rig.fake.current)
        let persistent = try rig.client("keeps", clean: false)
        persistent.subscribe("d/#", qos: 1)
        #expect(rig.spin { first.durableFilters == ["d/#"] })
        first.send(.forward(FleetFrame.Forward(originGatewayId: "gw-z", sequence: 41, topic: "d/1", qos: .atLeastOnce, payload: [1])))
        #expect(rig.spin { first.acks.contains { $0.originGatewayId == "gw-z" && $0.upToSequence == 41 } })
        first.stream.closeNow()
        #expect(rig.waitEstablished(peers: 2))
        let second = try #require(rig.fake.current)
        #expect(rig.spin { second.durableFilters == ["d/#"] && second.acks.contains { $0.originGatewayId == "gw-z" && $0.upToSequence == 41 } })
    }

    @Test func replayResendsTheLogFromTheSequenceInOrder() throws {
        let rig = try LinkRig(remoteFilters: ["x/#"])
        defer { rig.finish() }
        #expect(rig.waitEstablished())
        #expect(rig.spin { rig.link.remote.filterCount == 1 })
        let peer = try #require(rig.fake.current)
        let pub = try rig.client("pub")
        for i in 1...4 { pub.publish("x/\(i)", [UInt8(i)], qos: 1, id: UInt16(i)) }
        #expect(rig.spin { peer.forwards.count == 4 })
        let sequences = peer.forwards.map(\.sequence)
        peer.send(.replay(FleetFrame.Replay(fromSequence: sequences[2])))
        #expect(rig.spin { peer.forwards.count == 6 })
        #expect(peer.forwards.suffix(2).map(\.sequence) == Array(sequences.suffix(2)))
        #expect(peer.forwards.suffix(2).map(\.topic) == ["x/3", "x/4"])
    }

    @Test func theLastRetainedQoS0ValueFromAnOutageGoesOutWhenTheLinkIsBack() throws {
        let rig = try LinkRig()
        defer { rig.finish() }
        #expect(rig.waitEstablished())
        let first = try #require(rig.fake.current)
        first.stream.closeNow()
        rig.fake.autoAck = false
        #expect(rig.spin { !rig.link.isEstablished })
        let pub = try rig.client("pub")
        for v in 1...5 { pub.publish("state/a", [UInt8(v)], retain: true) }
        pub.publish("state/b", [9], retain: true)
        pub.publish("plain", [7])  // not retained: dropped while down
        #expect(rig.spin { rig.fake.peers.count == 2 && rig.fake.current?.hello != nil })
        let second = try #require(rig.fake.current)
        rig.fake.ack(second)
        #expect(rig.spin { second.forwards.count == 2 })
        #expect(second.forwards.map(\.topic) == ["state/a", "state/b"])
        #expect(second.forwards.map(\.payload) == [[5], [9]])
        #expect(second.forwards.allSatisfy { $0.retain })
    }
}
