import FleetCore
import FleetProtocol

/// The migration policy at work (issue #12): load reports feed the pure `MigrationPlanner`, a
/// sweep every second asks it for decisions, and each one is recorded with its reason and inputs
/// (`GET /v1/migrations`) and logged. The handover that would carry a decision out (session
/// export/import fenced by an epoch, redirect or relay) is not built yet: decisions are recorded
/// as `planned`. Loop-thread only.
extension Fabric {
    /// A LOAD_REPORT's top talkers.
    func observeLoad(_ r: FleetFrame.LoadReport, gateway id: String) {
        migrationPlanner.observe(gateway: id, talkers: r.topTalkers.map {
            MigrationPlanner.Talker($0.clientId, messagesPerSecond: Double($0.messagesPerSecond), bytesPerSecond: Double($0.bytesPerSecond))
        }, nowMs: loop.now)
    }

    /// From the sweep, once a second.
    func planMigrations() {
        let candidates = gateways.values.sorted { $0.id < $1.id }.map { g in
            MigrationPlanner.Gateway(id: g.id, region: g.region, eligible: g.state == .active && gatewayConnections[g.id] != nil,
                                     capacityWeight: Double(g.capacityWeight), messagesInPerSecond: Double(g.load?.messagesInPerSecond ?? 0))
        }
        for d in migrationPlanner.decide(gateways: candidates, inProgress: 0, nowMs: loop.now) {
            let state = Self.migrationState(d)
            if migrationRecords.count == CoordinatorLimits.migrationRecordsKept { _ = migrationRecords.popFirst() }
            migrationRecords.append(d)
            counters.migrationDecisions[d.reason.rawValue, default: 0] += 1
            log.notice("migration \(state): client \(d.clientId) \(d.from) -> \(d.to ?? "(no eligible gateway)") (\(d.reason.rawValue): \(Int(d.messagesPerSecond)) msg/s, \(Int(d.bytesPerSecond)) B/s; source \(Int(d.sourceLoad)) msg/s in); the handover is not built yet")
        }
    }

    /// What became of a decision: `skipped` (no eligible gateway) or `planned` (the handover that
    /// would carry it out is not built yet).
    static func migrationState(_ d: MigrationPlanner.Decision) -> String { d.to == nil ? "skipped" : "planned" }

    /// `PUT /v1/migration/policy`: validated by the caller; persisted, so it outlives a restart.
    func setMigrationPolicy(_ policy: MigrationPolicy) -> Bool {
        do {
            try store.saveSetting("migration_policy", json: policy)
        } catch {
            log.error("cannot store the migration policy: \(error)")
            return false
        }
        migrationPlanner.policy = policy
        log.notice("migration policy replaced (enabled \(policy.enabled))")
        return true
    }
}
