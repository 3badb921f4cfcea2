import Testing
import FleetCore
import FleetProtocol
import FleetRuntime
@testable import FleetAgent

/// A connection migration survives a restart of either agent at any step (issue #12: "a crash of
/// either side ... leaves the session live in exactly one place with nothing acknowledged lost").
/// Each agent here is a real loop, store, broker and link on a SQLite file, stopped and started
/// again on the same file; the coordinator is the link tests' fake, re-sending its decision as the
/// real one does when a gateway says HELLO again.
@Suite struct MigrationRestartTests {
    /// Source: exported, then restarted before the commit; the commit (re-sent) still finds the
    /// session and hands on what reached it after the export. Restarted again before `done`, the
    /// hand-offs are sent again from disk.
    @Test func theSourceKeepsItsExportAndItsHandOffsAcrossRestarts() throws {
        let first = try LinkRig()
        #expect(first.waitEstablished())
        let device = try first.client("dev", clean: false)
        device.subscribe("t/#")
        #expect(first.spin { device.subacks == 1 })
        device.disconnect()
        #expect(first.spin { first.broker.session(of: "dev")?.connection == nil })
        let peer = try #require(first.fake.current)
        peer.send(.migrate(.init(migrationId: 5, clientId: "dev", epoch: 1, targetGatewayId: "gw-b", serverReference: "10.0.0.2:1883",
                                 mode: .redirect)))
        #expect(first.spin { peer.frames.contains { if case .sessionTransfer = $0 { true } else { false } } })
        let publisher = try first.client("pub")
        publisher.publish("t/after-export", [1], qos: 1, id: 1)
        #expect(first.spin { publisher.pubacks == [1] })
        first.finish(keepFiles: true)
        defer { first.removeFiles() }

        let second = try LinkRig(dir: first.dir)
        #expect(second.broker.session(of: "dev")?.isMoving == true)
        #expect(second.waitEstablished())
        let peer2 = try #require(second.fake.current)
        peer2.send(.migrationStep(.init(migrationId: 5, step: .commit)))
        #expect(second.spin { peer2.frames.contains { if case .migrationStep(let s) = $0 { s.step == .released } else { false } } })
        #expect(handoffs(peer2).map(\.topic) == ["t/after-export"])
        #expect(second.broker.session(of: "dev") == nil)
        second.finish(keepFiles: true)

        let third = try LinkRig(dir: first.dir)
        #expect(third.waitEstablished())
        let peer3 = try #require(third.fake.current)
        peer3.send(.migrationStep(.init(migrationId: 5, step: .commit)))
        #expect(third.spin { peer3.frames.contains { if case .migrationStep(let s) = $0 { s.step == .released && s.count == 1 } else { false } } })
        #expect(handoffs(peer3).map(\.index) == [1])
        peer3.send(.migrationStep(.init(migrationId: 5, step: .done)))
        #expect(third.spin { third.link.handoffsOut.isEmpty })
        third.finish(keepFiles: true)
        #expect(try storedMigrations(first.dir).isEmpty)
    }

    /// Target: imported and one hand-off applied, then restarted. The source's hand-offs come again
    /// (index 1 again, then 2): the one applied is not applied twice, and the migration is done.
    @Test func theTargetKeepsItsImportAndCountsHandOffsAcrossARestart() throws {
        let first = try LinkRig()
        #expect(first.waitEstablished())
        let peer = try #require(first.fake.current)
        var state = SessionState(clientId: "dev2", expiryInterval: 3600, protocolVersion: .v311)
        state.subscriptions = ["t/#": SubscriptionOptions(qos: .atLeastOnce)]
        state.epoch = 1
        peer.send(.sessionTransfer(.init(migrationId: 7, clientId: "dev2", session: state.serialized(asOf: first.broker.now))))
        #expect(first.spin { peer.frames.contains { if case .migrationStep(let s) = $0 { s.step == .imported } else { false } } })
        peer.send(.handoff(handoff(7, index: 1, topic: "t/a")))
        #expect(first.spin { first.link.migrationsIn[7]?.handoffsApplied == 1 })
        first.finish(keepFiles: true)
        defer { first.removeFiles() }

        let second = try LinkRig(dir: first.dir)
        #expect(second.link.migrationsIn[7]?.handoffsApplied == 1)
        #expect(second.waitEstablished())
        let peer2 = try #require(second.fake.current)
        peer2.send(.handoff(handoff(7, index: 1, topic: "t/a")))
        peer2.send(.handoff(handoff(7, index: 2, topic: "t/b")))
        peer2.send(.migrationStep(.init(migrationId: 7, step: .released, count: 2)))
        #expect(second.spin { peer2.frames.contains { if case .migrationStep(let s) = $0 { s.step == .done } else { false } } })
        let device = try second.client("dev2", clean: false)
        #expect(second.spin { device.publishes.count == 2 })
        #expect(device.publishes.map(\.topic) == ["t/a", "t/b"])
        second.finish(keepFiles: true)
        #expect(try storedMigrations(first.dir).isEmpty)
    }

    private func handoffs(_ peer: LinkFakePeer) -> [FleetFrame.Handoff] {
        peer.frames.compactMap { if case .handoff(let h) = $0 { h } else { nil } }
    }

    private func handoff(_ id: UInt64, index: UInt64, topic: String) -> FleetFrame.Handoff {
        FleetFrame.Handoff(migrationId: id, index: index, originGatewayId: "", originSequence: 0, topic: topic, qos: .atLeastOnce,
                           retain: false, payload: Array(topic.utf8))
    }

    private func storedMigrations(_ dir: String) throws -> [UInt64] {
        let db = try SQLiteDatabase(path: dir + "/fleetgate.db")
        defer { db.close() }
        var ids: [UInt64] = []
        try db.query("SELECT migration_id FROM agent_migrations", []) { ids.append(UInt64($0.int64(0))) }
        return ids
    }
}
