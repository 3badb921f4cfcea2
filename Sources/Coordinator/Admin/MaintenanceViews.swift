import Foundation

/// `GET /v1/maintenance/{id}` (and the answer to every write on a run): the run, its policy and
/// each host with its planned start, times, exit status, output tail and error. Times are wall
/// clock, ms since the Unix epoch.
public struct MaintenanceRunView: Encodable, Sendable {
    public var id: String
    public var operation: String
    /// scheduled, running, paused, done, stopped or cancelled.
    public var state: String
    /// Why the run stopped or was cancelled.
    public var reason: String?
    public var created: UInt64
    public var finished: UInt64?
    public var policy: MaintenancePolicy
    public var hosts: [Host]

    public struct Host: Encodable, Sendable {
        public var gateway: String
        /// pending, querying, scheduled, draining, running, rejoining, verifying, done, failed or skipped.
        public var state: String
        /// When it started, or the earliest the policy lets it start; null when unforeseeable.
        public var planned_start: UInt64?
        /// What a host that has not started waits for (a window, a slot, busy and why, min_active).
        public var waiting_for: String?
        public var started: UInt64?
        public var finished: UInt64?
        public var fencing: UInt64?
        public var exit_status: Int32?
        public var output_tail: String?
        public var error: String?
    }
}

/// `GET /v1/maintenance`: every run, newest first, without hosts' output.
public struct MaintenanceListView: Encodable, Sendable {
    public var runs: [Item]
    public struct Item: Encodable, Sendable {
        public var id: String
        public var operation: String
        public var state: String
        public var hosts: Int
        /// Hosts by state, e.g. {"done": 4, "running": 2}.
        public var by_state: [String: Int]
        public var created: UInt64
        public var finished: UInt64?
    }
}

extension Fabric {
    func maintenanceRunView(_ id: String) -> MaintenanceRunView? {
        guard let scheduler = maintenance.runs[id] else { return nil }
        let run = scheduler.run
        let planned = Dictionary(scheduler.schedule(nowMs: wallClock()).map { ($0.gateway, $0) }, uniquingKeysWith: { a, _ in a })
        return MaintenanceRunView(
            id: run.id, operation: run.operation, state: run.state.rawValue, reason: run.reason, created: run.createdMs,
            finished: run.finishedMs, policy: run.policy,
            hosts: run.hosts.map { h in
                .init(gateway: h.gateway, state: h.state.rawValue, planned_start: planned[h.gateway]?.plannedStartMs,
                      waiting_for: planned[h.gateway]?.waitingFor, started: h.startedMs, finished: h.finishedMs, fencing: h.fencing,
                      exit_status: h.exitStatus, output_tail: h.outputTail, error: h.error)
            })
    }

    func maintenanceList() -> MaintenanceListView {
        MaintenanceListView(runs: maintenance.runs.values.map(\.run).sorted { ($0.createdMs, $0.id) > ($1.createdMs, $1.id) }.map { run in
            var byState: [String: Int] = [:]
            for h in run.hosts { byState[h.state.rawValue, default: 0] += 1 }
            return .init(id: run.id, operation: run.operation, state: run.state.rawValue, hosts: run.hosts.count, by_state: byState,
                         created: run.createdMs, finished: run.finishedMs)
        })
    }

    /// The gateways a selector names: `{"region": r, "labels": {k: v}}`, both optional, all given
    /// must match; sorted by id.
    func gateways(region: String?, labels: [String: String]) -> [String] {
        gateways.values.filter { g in
            (region == nil || g.region == region) && labels.allSatisfy { l in g.labels.contains { $0.key == l.key && $0.value == l.value } }
        }.map(\.id).sorted()
    }

    /// `PUT /v1/maintenance/policies/{name}`.
    func saveMaintenancePolicy(_ name: String, _ policy: MaintenancePolicy) -> Bool {
        do { try store.saveMaintenancePolicy(name, policy) } catch {
            log.error("maintenance policy \(name) could not be stored: \(error)")
            return false
        }
        maintenance.policies[name] = policy
        return true
    }
}
