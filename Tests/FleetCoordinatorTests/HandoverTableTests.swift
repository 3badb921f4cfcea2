import FleetProtocol
import Testing
@testable import FleetCoordinator

/// The coordinator's handover rules (Protocol/agent-coordinator.md §5.18) with a mock clock: each row is a
/// script of inputs and, after each, what must be sent and the migration's state.
@Suite struct HandoverTableTests {
    typealias Step = FleetFrame.MigrationStep

    enum Input {
        case start(at: UInt64)
        case frame(FleetFrame, from: String, at: UInt64)
        case tick(UInt64)
        case down(String, at: UInt64)
        case restart(at: UInt64)
    }

    struct Row: CustomTestStringConvertible {
        let name: String
        /// Each input with the frames it must send, as (gateway, kind[/step]) and the state after.
        let script: [(Input, [String], HandoverTable.State?)]
        var testDescription: String { name }
    }

    static let id: UInt64 = 1
    static func stepFrame(_ s: Step.Step, count: UInt64 = 0) -> FleetFrame { .migrationStep(.init(migrationId: id, step: s, count: count)) }
    static let transfer = FleetFrame.sessionTransfer(.init(migrationId: id, clientId: "dev", session: [1]))
    static let handoff = FleetFrame.handoff(.init(migrationId: id, index: 1, originGatewayId: "", originSequence: 0, topic: "t",
                                                  qos: .atLeastOnce, retain: false, payload: []))

    static let rows: [Row] = [
        Row(name: "the happy path: export, import, commit, hand-off relayed both ways, released, done", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.frame(transfer, from: "a", at: 5), ["b:SESSION_TRANSFER"], .importing),
            (.frame(stepFrame(.imported), from: "b", at: 9), ["a:commit"], .committed),
            (.frame(handoff, from: "a", at: 10), ["b:HANDOFF"], .committed),
            (.frame(stepFrame(.handoffAck, count: 1), from: "b", at: 11), ["a:handoffAck"], .committed),
            (.frame(stepFrame(.released, count: 1), from: "a", at: 12), ["b:released"], .released),
            (.frame(stepFrame(.done), from: "b", at: 13), ["a:done"], .done),
        ]),
        Row(name: "frames from the wrong gateway or out of order change nothing", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.frame(transfer, from: "b", at: 1), [], .exporting),            // transfer from the target
            (.frame(stepFrame(.imported), from: "b", at: 2), [], .exporting), // imported before transfer
            (.frame(handoff, from: "a", at: 3), [], .exporting),             // hand-off before commit
            (.frame(transfer, from: "a", at: 4), ["b:SESSION_TRANSFER"], .importing),
            (.frame(transfer, from: "a", at: 5), [], .importing),            // a repeat
            (.frame(stepFrame(.imported), from: "a", at: 6), [], .importing), // imported from the source
            (.frame(stepFrame(.done), from: "b", at: 7), [], .importing),
        ]),
        Row(name: "a refusal by either side aborts both before commit", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.frame(transfer, from: "a", at: 1), ["b:SESSION_TRANSFER"], .importing),
            (.frame(stepFrame(.refused), from: "b", at: 2), ["a:abort", "b:abort"], .aborted),
            (.frame(stepFrame(.imported), from: "b", at: 3), [], .aborted),   // too late: stays aborted
        ]),
        Row(name: "a step that misses its deadline aborts; one on time does not", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.tick(9_999), [], .exporting),
            (.frame(transfer, from: "a", at: 5_000), ["b:SESSION_TRANSFER"], .importing),
            (.tick(14_999), [], .importing),
            (.tick(15_000), ["a:abort", "b:abort"], .aborted),
        ]),
        Row(name: "after commit nothing aborts: not the clock, not a gateway going down, not a refusal", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.frame(transfer, from: "a", at: 1), ["b:SESSION_TRANSFER"], .importing),
            (.frame(stepFrame(.imported), from: "b", at: 2), ["a:commit"], .committed),
            (.tick(1_000_000), [], .committed),
            (.down("a", at: 1_000_001), [], .committed),
            (.frame(stepFrame(.refused), from: "a", at: 1_000_002), [], .committed),
        ]),
        Row(name: "the target going down while importing aborts", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.frame(transfer, from: "a", at: 1), ["b:SESSION_TRANSFER"], .importing),
            (.down("b", at: 2), ["a:abort", "b:abort"], .aborted),
        ]),
        Row(name: "a coordinator restart aborts what had not committed", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.frame(transfer, from: "a", at: 1), ["b:SESSION_TRANSFER"], .importing),
            (.restart(at: 50), [], .aborted),
        ]),
        Row(name: "a coordinator restart keeps a committed migration going", script: [
            (.start(at: 0), ["a:MIGRATE"], .exporting),
            (.frame(transfer, from: "a", at: 1), ["b:SESSION_TRANSFER"], .importing),
            (.frame(stepFrame(.imported), from: "b", at: 2), ["a:commit"], .committed),
            (.restart(at: 50), [], .committed),
            (.frame(stepFrame(.released, count: 0), from: "a", at: 60), ["b:released"], .released),
            (.frame(stepFrame(.done), from: "b", at: 61), ["a:done"], .done),
        ]),
    ]

    static func label(_ action: HandoverTable.Action) -> String? {
        guard case .send(let gateway, let frame) = action else { return nil }
        if case .migrationStep(let s) = frame { return "\(gateway):\(s.step)" }
        return "\(gateway):\(frame.kind)"
    }

    @Test(arguments: rows)
    func script(_ row: Row) {
        var table = HandoverTable(stepTimeoutMs: 10_000)
        var persisted: [UInt64: HandoverTable.Handover] = [:]
        for (i, (input, expected, state)) in row.script.enumerated() {
            let actions: [HandoverTable.Action]
            switch input {
            case .start(let t):
                guard case .success(let a) = table.start(clientId: "dev", from: "a", to: "b", serverReference: "b:1883",
                                                         reason: "operator", nowMs: t) else {
                    Issue.record("start refused")
                    return
                }
                actions = a
            case .frame(let f, let gateway, let t): actions = table.received(f, from: gateway, nowMs: t)
            case .tick(let t): actions = table.tick(nowMs: t)
            case .down(let g, let t): actions = table.gatewayDown(g, nowMs: t)
            case .restart(let t):
                table = HandoverTable(stepTimeoutMs: 10_000)
                actions = table.restored(Array(persisted.values), nowMs: t)
            }
            for case .persist(let h) in actions { persisted[h.id] = h }
            #expect(actions.compactMap(Self.label) == expected, "step \(i)")
            #expect(table.handovers[Self.id]?.state == state, "step \(i)")
            // What is persisted is what the table holds: a restart sees the same state.
            #expect(persisted[Self.id]?.state == state, "step \(i): persisted")
        }
    }

    @Test("one migration per client at a time, never to its own gateway; epochs only grow")
    func startRules() {
        var table = HandoverTable()
        #expect(table.start(clientId: "dev", from: "a", to: "a", serverReference: "", reason: "operator", nowMs: 0) == .failure(.sameGateway))
        guard case .success(let first) = table.start(clientId: "dev", from: "a", to: "b", serverReference: "", reason: "operator", nowMs: 0),
              case .persist(let h1) = first[0] else { Issue.record("first start"); return }
        #expect(table.start(clientId: "dev", from: "a", to: "c", serverReference: "", reason: "operator", nowMs: 1) == .failure(.alreadyMoving(h1.id)))
        _ = table.abort(h1.id, because: "test", nowMs: 2)
        guard case .success(let second) = table.start(clientId: "dev", from: "a", to: "c", serverReference: "", reason: "operator", nowMs: 3),
              case .persist(let h2) = second[0] else { Issue.record("second start"); return }
        #expect(h2.epoch > h1.epoch && h2.id > h1.id)
        // After a restart the next epoch is still above every one given.
        var restarted = HandoverTable()
        _ = restarted.restored([h1, h2], nowMs: 4)
        guard case .success(let third) = restarted.start(clientId: "dev", from: "c", to: "a", serverReference: "", reason: "operator", nowMs: 5),
              case .persist(let h3) = third[0] else { Issue.record("third start"); return }
        #expect(h3.epoch > h2.epoch && h3.id > h2.id)
    }

    @Test("a reconnecting gateway hears the decisions it may have missed")
    func gatewayUpResendsDecisions() {
        var table = HandoverTable()
        guard case .success = table.start(clientId: "x", from: "a", to: "b", serverReference: "", reason: "operator", nowMs: 0),
              case .success = table.start(clientId: "y", from: "a", to: "b", serverReference: "", reason: "operator", nowMs: 0) else {
            Issue.record("start"); return
        }
        _ = table.received(.sessionTransfer(.init(migrationId: 1, clientId: "x", session: [])), from: "a", nowMs: 1)
        _ = table.received(.migrationStep(.init(migrationId: 1, step: .imported)), from: "b", nowMs: 2)
        _ = table.gatewayDown("a", nowMs: 3)  // y is aborted; x is committed and stays so
        #expect(table.gatewayUp("a", nowMs: 4).compactMap(Self.label) == ["a:commit", "a:abort"])
        #expect(table.gatewayUp("b", nowMs: 4).compactMap(Self.label) == ["b:abort"])
        #expect(table.gatewayUp("b", recentAbortsWithinMs: 0, nowMs: 10).compactMap(Self.label) == [])
        // Released but not done: whichever side comes back, the source is asked to hand on again.
        _ = table.received(.migrationStep(.init(migrationId: 1, step: .released, count: 2)), from: "a", nowMs: 11)
        #expect(table.gatewayUp("b", recentAbortsWithinMs: 0, nowMs: 12).compactMap(Self.label) == ["a:commit"])
        #expect(table.gatewayUp("a", recentAbortsWithinMs: 0, nowMs: 12).compactMap(Self.label) == ["a:commit"])
    }
}
