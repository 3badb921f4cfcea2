import FleetProtocol
import Foundation

/// What the coordinator holds for maintenance runs (issue #13) besides the runs themselves: the
/// open availability queries and the health watches of hosts being verified. Only the runs are
/// persisted; the rest is re-created by `MaintenanceScheduler.restored` and `resend`.
struct MaintenanceState {
    var runs: [String: MaintenanceScheduler] = [:]
    /// Saved with `PUT /v1/maintenance/policies/{name}`; a run may name one.
    var policies: [String: MaintenancePolicy] = [:]
    /// AVAILABILITY_QUERY ids in flight -> the run and gateway that asked.
    var queries: [UInt64: (run: String, gateway: String)] = [:]
    var nextQueryId: UInt64 = 1
    /// Hosts being verified, by run then gateway: since when the gateway has been up (nil while
    /// it is not), and for how long it must stay so.
    var watches: [String: [String: (upSinceMs: UInt64?, forMs: UInt64)]] = [:]
    /// Runs that ended, by outcome, since this coordinator started (metrics).
    var runsFinished: [String: UInt64] = [:]
    var lastTickMs: UInt64 = 0
}

/// Maintenance runs carried out (issue #13; docs/DESIGN-NOTES.md "Maintenance runs"): the
/// decisions are `MaintenanceScheduler`'s; this feeds it the fleet and the agents' answers and
/// performs its actions (AVAILABILITY_QUERY, drain, MAINTENANCE_RUN, resume, the health watch).
/// A run is written to `coordinator.db` before anything its change announces is sent, so a
/// coordinator killed at any step reloads what it promised; agents take every instruction
/// idempotently (fencing). Loop-thread only.
extension Fabric {
    /// At start: every stored run resumes where it was (`restored`); what it must re-send goes to
    /// each gateway when it says HELLO (`maintenanceGatewayUp`).
    func restoreMaintenance() throws {
        maintenance.policies = try store.loadMaintenancePolicies()
        for run in try store.loadMaintenanceRuns() {
            let (scheduler, actions) = MaintenanceScheduler.restored(run, nowMs: wallClock(), timing: config.maintenanceTiming)
            maintenance.runs[run.id] = scheduler
            performMaintenance(actions, run: run.id)
        }
    }

    enum MaintenanceStart: Sendable {
        case created(MaintenanceRun)
        case invalid(String)
        case conflict(String)
    }

    /// `POST /v1/maintenance`: a new run over `gateways`, stored before it is answered.
    func createMaintenanceRun(operation: String, gateways ids: [String], policy: MaintenancePolicy) -> MaintenanceStart {
        for (i, id) in ids.enumerated() where gateways[id] == nil { return .invalid("gateways[\(i)]: no gateway with id '\(id)'") }
        let busy = Set(maintenance.runs.values.filter { $0.run.finishedMs == nil }.flatMap { r in r.run.hosts.map(\.gateway) })
        if let taken = ids.first(where: busy.contains) {
            let other = maintenance.runs.values.first { $0.run.finishedMs == nil && $0.run.host(taken) != nil }?.run.id ?? "?"
            return .conflict("gateway '\(taken)' is in run \(other), which has not finished")
        }
        let number = (maintenance.runs.keys.compactMap { UInt64($0.dropFirst(4)) }.max() ?? 0) + 1
        let run = MaintenanceRun(id: "mnt-\(number)", operation: operation, gateways: ids, policy: policy, createdMs: wallClock())
        do { try store.saveMaintenanceRun(run) } catch { return .invalid("the run could not be stored: \(error)") }
        var scheduler = MaintenanceScheduler(run: run, timing: config.maintenanceTiming)
        let actions = scheduler.tick(fleet: maintenanceFleet(), nowMs: wallClock())
        maintenance.runs[run.id] = scheduler
        performMaintenance(actions, run: run.id)
        log.notice("maintenance \(run.id): \(operation) on \(ids.joined(separator: ", "))")
        return .created(scheduler.run)
    }

    /// pause, resume, cancel, release(gateway): the operator's events.
    func maintenanceEvent(_ event: MaintenanceScheduler.Event, run id: String) -> MaintenanceRun? {
        guard maintenance.runs[id] != nil else { return nil }
        apply(event, toRun: id)
        return maintenance.runs[id]?.run
    }

    /// The gateways as the scheduler counts them: up (connected, active), draining, or down.
    func maintenanceFleet() -> [MaintenanceScheduler.Gateway] {
        gateways.values.sorted { $0.id < $1.id }.map { g in
            let state: MaintenanceScheduler.GatewayState
            if gatewayConnections[g.id] == nil { state = .down } else { state = g.state == .active ? .up : .draining }
            return .init(id: g.id, region: g.region, state: state)
        }
    }

    private func isUp(_ gateway: String) -> Bool { gatewayConnections[gateway] != nil && gateways[gateway]?.state == .active }

    /// From the sweep, once a second: the clock, finished drains, rejoined and healthy hosts.
    func tickMaintenance() {
        let now = wallClock()
        guard now &- maintenance.lastTickMs >= 1_000 || now < maintenance.lastTickMs else { return }
        maintenance.lastTickMs = now
        let fleet = maintenanceFleet()
        for id in maintenance.runs.keys.sorted() {
            guard var scheduler = maintenance.runs[id], scheduler.run.finishedMs == nil else { continue }
            var actions = scheduler.tick(fleet: fleet, nowMs: now)
            for event in observedEvents(scheduler.run, nowMs: now) {
                actions += scheduler.handle(event, fleet: fleet, nowMs: now)
            }
            maintenance.runs[id] = scheduler
            performMaintenance(actions, run: id)
        }
    }

    /// What the fleet shows about a run's hosts: a drain done, a gateway back, a watch passed.
    private func observedEvents(_ run: MaintenanceRun, nowMs: UInt64) -> [MaintenanceScheduler.Event] {
        var events: [MaintenanceScheduler.Event] = []
        for host in run.hosts {
            let gateway = host.gateway
            switch host.state {
            case .draining where drains[gateway]?.isEmptied == true:
                events.append(.drainFinished(gateway))
            case .rejoining where isUp(gateway):
                events.append(.rejoined(gateway))
            case .verifying:
                guard var watch = maintenance.watches[run.id]?[gateway] else {
                    let forMs = UInt64(run.policy.verify.healthySeconds) * 1000
                    maintenance.watches[run.id, default: [:]][gateway] = (isUp(gateway) ? nowMs : nil, forMs)
                    continue
                }
                if isUp(gateway) {
                    let since = watch.upSinceMs ?? nowMs
                    watch.upSinceMs = since
                    maintenance.watches[run.id]?[gateway] = watch
                    if nowMs &- since >= watch.forMs {
                        maintenance.watches[run.id]?[gateway] = nil
                        events.append(.healthy(gateway))
                    }
                } else if watch.upSinceMs != nil {
                    maintenance.watches[run.id]?[gateway] = nil
                    events.append(.unhealthy(gateway, reason: gatewayConnections[gateway] == nil
                        ? "disconnected during verification" : "not taking clients (\(gateways[gateway]?.state.rawValue ?? "?")) during verification"))
                }
            default:
                break
            }
        }
        return events
    }

    /// A gateway said HELLO: each run re-sends what its host's step needs (lost while it was away).
    func maintenanceGatewayUp(_ gateway: String) {
        for id in maintenance.runs.keys.sorted() {
            guard let scheduler = maintenance.runs[id], scheduler.run.finishedMs == nil else { continue }
            performMaintenance(scheduler.resend(to: gateway), run: id)
        }
    }

    /// AVAILABILITY or MAINTENANCE_RESULT from an established gateway.
    func maintenanceFrame(_ frame: FleetFrame, from gateway: String) {
        switch frame {
        case .availability(let a):
            guard let asked = maintenance.queries.removeValue(forKey: a.queryId), asked.gateway == gateway,
                  let operation = maintenance.runs[asked.run]?.run.operation else { return }
            let event: MaintenanceScheduler.Event
            switch a.answer {
            case .available: event = .availability(gateway, .available, drainFirst: a.drainFirst)
            case .busy: event = .availability(gateway, .busy(reason: a.reason.isEmpty ? "busy" : a.reason))
            case .unknownOperation: event = .refused(gateway, reason: "operation '\(operation)' is not configured on \(gateway)")
            }
            apply(event, toRun: asked.run)
        case .maintenanceResult(let r):
            guard maintenance.runs[r.runId] != nil else { return }
            switch r.state {
            case .running:
                log.info("maintenance \(r.runId): \(gateway) runs its operation (fencing \(r.fencing))")
            case .finished:
                log.notice("maintenance \(r.runId): \(gateway) finished with exit status \(r.exitStatus)\(r.reason.isEmpty ? "" : " (\(r.reason))")")
                apply(.operationFinished(gateway, fencing: r.fencing, exitStatus: r.exitStatus, outputTail: r.outputTail), toRun: r.runId)
            case .refused:
                guard maintenance.runs[r.runId]?.run.host(gateway)?.fencing == r.fencing else { return }
                apply(.refused(gateway, reason: r.reason), toRun: r.runId)
            }
        default:
            break
        }
    }

    private func apply(_ event: MaintenanceScheduler.Event, toRun id: String) {
        guard var scheduler = maintenance.runs[id] else { return }
        let actions = scheduler.handle(event, fleet: maintenanceFleet(), nowMs: wallClock())
        maintenance.runs[id] = scheduler
        performMaintenance(actions, run: id)
    }

    /// Carries out a run's actions in order. A run that cannot be written stops here: nothing it
    /// would announce goes out unwritten (the next tick tries again).
    func performMaintenance(_ actions: [MaintenanceScheduler.Action], run id: String) {
        for action in actions {
            switch action {
            case .persist(let run):
                do {
                    try store.saveMaintenanceRun(run)
                } catch {
                    log.error("maintenance \(id): the run could not be stored, holding its actions: \(error)")
                    return
                }
            case .queryAvailability(let gateway):
                guard let c = gatewayConnections[gateway], let operation = maintenance.runs[id]?.run.operation else { continue }
                let queryId = maintenance.nextQueryId
                maintenance.nextQueryId += 1
                maintenance.queries[queryId] = (id, gateway)
                c.send(.availabilityQuery(.init(queryId: queryId, operation: operation)))
            case .startDrain(let gateway, let rate, _):
                if case .draining = startDrain(gateway, rate: rate) { continue }
                log.notice("maintenance \(id): \(gateway) is not connected; its drain starts when it is back")
            case .instruct(let gateway, let runId, let operation, let fencing):
                log.notice("maintenance \(runId): \(gateway) is told to run \(operation) (fencing \(fencing))")
                gatewayConnections[gateway]?.send(.maintenanceRun(.init(runId: runId, operation: operation, fencing: fencing)))
            case .resumeGateway(let gateway):
                _ = resumeGateway(gateway)
            case .verify(let gateway, let healthyForMs):
                maintenance.watches[id, default: [:]][gateway] = (isUp(gateway) ? wallClock() : nil, healthyForMs)
            case .stopRun(let reason):
                log.warning("maintenance \(id): stopped: \(reason)")
            case .runFinished(let state):
                maintenance.runsFinished[state.rawValue, default: 0] += 1
                maintenance.watches[id] = nil
                log.notice("maintenance \(id): finished, \(state.rawValue)")
            }
        }
    }

    /// Hosts of unfinished runs by state, for the metrics.
    func maintenanceHostsByState() -> [String: Int] {
        var out: [String: Int] = [:]
        for state in MaintenanceRun.Host.State.allCases { out[state.rawValue] = 0 }
        for s in maintenance.runs.values where s.run.finishedMs == nil {
            for h in s.run.hosts { out[h.state.rawValue, default: 0] += 1 }
        }
        return out
    }
}
