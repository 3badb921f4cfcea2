import FleetCore
import FleetProtocol

/// The migration policy at work (issue #12): load reports feed the pure `MigrationPlanner`, a
/// sweep every second asks it for decisions, and each one is recorded with its reason and inputs
/// (`GET /v1/migrations`) and logged, and carried out by a handover (Fabric+Handover).
/// Loop-thread only.
extension Fabric {
    /// A LOAD_REPORT's top talkers.
    func observeLoad(_ r: FleetFrame.LoadReport, gateway id: String) {
        migrationPlanner.observe(gateway: id, talkers: r.topTalkers.map {
            MigrationPlanner.Talker($0.clientId, messagesPerSecond: Double($0.messagesPerSecond), bytesPerSecond: Double($0.bytesPerSecond))
        }, nowMs: loop.now)
    }

    /// From the sweep, once a second: the planner's decisions become handovers.
    func planMigrations() {
        let candidates = gateways.values.sorted { $0.id < $1.id }.map { g in
            // A gateway devices cannot be redirected to (a wildcard advertised address) takes no one.
            MigrationPlanner.Gateway(id: g.id, region: g.region,
                                     eligible: g.state == .active && gatewayConnections[g.id] != nil && !AdvertisedAddress.isWildcard(g.mqttAddress),
                                     capacityWeight: Double(g.capacityWeight), messagesInPerSecond: Double(g.load?.messagesInPerSecond ?? 0))
        }
        for d in migrationPlanner.decide(gateways: candidates, inProgress: handovers.inProgress, nowMs: loop.now) {
            if migrationRecords.count == CoordinatorLimits.migrationRecordsKept { _ = migrationRecords.popFirst() }
            migrationRecords.append(d)
            counters.migrationDecisions[d.reason.rawValue, default: 0] += 1
            let inputs = "\(d.reason.rawValue): \(Int(d.messagesPerSecond)) msg/s, \(Int(d.bytesPerSecond)) B/s; source \(Int(d.sourceLoad)) msg/s in"
            guard let to = d.to else {
                log.notice("migration skipped: client \(d.clientId) on \(d.from) has no eligible gateway (\(inputs))")
                continue
            }
            switch startMigration(clientId: d.clientId, from: d.from, to: to, reason: d.reason.rawValue) {
            case .started: log.info("migration planned: client \(d.clientId) \(d.from) -> \(to) (\(inputs))")
            case let other: log.notice("migration of \(d.clientId) \(d.from) -> \(to) not started: \(other)")
            }
        }
    }

    /// What became of a decision: `skipped` (no eligible gateway) or `started` (a handover, whose
    /// progress `GET /v1/migrations` lists under `handovers`).
    static func migrationState(_ d: MigrationPlanner.Decision) -> String { d.to == nil ? "skipped" : "started" }

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
