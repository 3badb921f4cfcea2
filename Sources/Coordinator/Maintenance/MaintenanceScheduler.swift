/// The decisions of one maintenance run (issue #13; DESIGN.md §3 "Maintenance") as a pure type:
/// inputs are the run as persisted, the fleet as the coordinator sees it, events from the runtime
/// and the wall clock; outputs are the changed run and the actions the runtime carries out.
///
/// The rules it keeps (docs/DESIGN-NOTES.md "Maintenance runs"):
/// - **`max_concurrent`.** A host holds a slot (its lease) from the start of its drain until it
///   is known not to be running the operation; never more hosts hold one than the policy allows.
/// - **`min_active` per region.** A host starts only if its region keeps that many gateways up,
///   taking clients and not out, without it.
/// - **Availability.** A host is asked first; a busy one waits and is asked again later; an
///   answer older than a minute is asked again before the host starts.
/// - **Windows and `cutoff_s`.** Nothing starts (nor is asked) outside a window or this close to
///   its end; what is out goes on.
/// - **`max_errors`.** N failed hosts are tolerated; the next failure stops the run: nothing new
///   starts, hosts not yet told to run are skipped (a drain in progress is undone).
/// - **Leases never free a slot on a timer.** See `MaintenanceRun.Lease`.
/// - **Fencing.** Each start takes the run's next fencing number, persisted with the start; the
///   instruction carries it and an agent runs a number at most once, so re-sending is safe and a
///   restarted coordinator re-sends instead of starting anew (`restored`).
///
/// Contract with the runtime: when the first action is `.persist(run)`, write the run before
/// carrying out any action after it. Call `tick` about once a second and `handle` on each event.
public struct MaintenanceScheduler: Sendable {
    public enum GatewayState: String, Sendable, Equatable {
        /// Connected and taking clients.
        case up
        case down
        /// Connected, but its clients are moving away (this run's drain or an operator's).
        case draining
    }

    /// A gateway as the scheduler sees it: every gateway of the fleet, not only the run's, since
    /// `min_active` counts a region's gateways.
    public struct Gateway: Sendable, Equatable {
        public var id: String
        public var region: String
        public var state: GatewayState
        public init(id: String, region: String = "", state: GatewayState = .up) {
            self.id = id
            self.region = region
            self.state = state
        }
    }

    /// A host's answer to the availability query (its `availability` command).
    public enum Availability: Sendable, Equatable {
        case available
        case busy(reason: String)
    }

    public enum Event: Sendable, Equatable {
        /// `drainFirst`: the operation wants the gateway's clients moved away before it runs (the
        /// agent's `drain:` for it); false runs it at once when the host starts.
        case availability(String, Availability, drainFirst: Bool = true)
        /// The host's drain ended: its clients moved.
        case drainFinished(String)
        /// The agent's report of the operation it was told to run with `fencing`.
        case operationFinished(String, fencing: UInt64, exitStatus: Int32, outputTail: String)
        /// The gateway is connected and taking clients again.
        case rejoined(String)
        /// Healthy for `verify.healthy_s` since it rejoined.
        case healthy(String)
        case unhealthy(String, reason: String)
        case pause
        case resume
        case cancel
        /// The operator says the host is not running the operation: its slot is free.
        case release(String)
        /// The host cannot run the operation at all (not configured there), or refused the
        /// instruction without running it: it fails, and frees any slot it held.
        case refused(String, reason: String)
    }

    public enum Action: Sendable, Equatable {
        /// Write this run before carrying out the actions after it.
        case persist(MaintenanceRun)
        case queryAvailability(gateway: String)
        /// Move the gateway's clients away (`POST /v1/gateways/{id}/drain`); idempotent.
        case startDrain(gateway: String, rate: Double, deadlineMs: UInt64)
        /// Tell the agent to run the operation. The agent runs a (run, fencing) pair at most once
        /// and answers a repeat with the result it has, so this may be sent again.
        case instruct(gateway: String, runId: String, operation: String, fencing: UInt64)
        /// The gateway takes clients again (ends the drain); idempotent.
        case resumeGateway(String)
        /// Watch the gateway and report `healthy` after this long, or `unhealthy`.
        case verify(gateway: String, healthyForMs: UInt64)
        /// The run stopped past `max_errors`; the reason names the limit and the last failure.
        case stopRun(reason: String)
        /// Nothing of the run is left to do (for metrics: runs by outcome).
        case runFinished(MaintenanceRun.State)
    }

    public struct Timing: Sendable, Equatable {
        public var leaseTTLMs = CoordinatorLimits.maintenanceLeaseTTLMs
        public var leaseRenewMs = CoordinatorLimits.maintenanceLeaseRenewMs
        public var queryTimeoutMs = CoordinatorLimits.maintenanceQueryTimeoutMs
        public var busyRetryMs = CoordinatorLimits.maintenanceBusyRetryMs
        public var availabilityFreshMs = CoordinatorLimits.maintenanceAvailabilityFreshMs
        public init() {}
    }

    public internal(set) var run: MaintenanceRun
    public let timing: Timing

    /// A new run, or one carried on within the same coordinator process.
    public init(run: MaintenanceRun, timing: Timing = Timing()) {
        self.run = run
        self.timing = timing
    }

    /// A run reloaded after a coordinator restart. Nothing starts anew here: every host keeps its
    /// step and fencing number, and the step's request is sent again (`resend`), which the
    /// runtime and the agents take idempotently. Leases are extended to a full TTL: the
    /// coordinator could not watch while it was down, so its absence is no evidence that a host
    /// vanished. Gateways not reconnected yet are down to the next `tick`: nothing starts on them
    /// and `min_active` does not count them.
    public static func restored(_ run: MaintenanceRun, nowMs: UInt64, timing: Timing = Timing()) -> (MaintenanceScheduler, [Action]) {
        var scheduler = MaintenanceScheduler(run: run, timing: timing)
        for i in scheduler.run.hosts.indices {
            if var lease = scheduler.run.hosts[i].lease, !lease.expired {
                lease.expiresAtMs = max(lease.expiresAtMs, nowMs + timing.leaseTTLMs)
                scheduler.run.hosts[i].lease = lease
            }
            // A lost query or health watch starts over.
            if [.querying, .verifying].contains(scheduler.run.hosts[i].state) { scheduler.run.hosts[i].stepSinceMs = nowMs }
        }
        let resends = scheduler.run.hosts.flatMap { scheduler.resend(to: $0.gateway) }
        return (scheduler, scheduler.run == run ? resends : [.persist(scheduler.run)] + resends)
    }

    /// The request of a host's current step, again: after a restart, or when its gateway
    /// reconnects (a frame sent while it was away is lost). Idempotent at the other end.
    public func resend(to gateway: String) -> [Action] {
        guard let host = run.host(gateway) else { return [] }
        switch host.state {
        case .querying: return [.queryAvailability(gateway: gateway)]
        case .draining:
            return [.startDrain(gateway: gateway, rate: run.policy.drain.rate, deadlineMs: drainDeadline(host))]
        case .running:
            guard let fencing = host.fencing else { return [] }
            return [.instruct(gateway: gateway, runId: run.id, operation: run.operation, fencing: fencing)]
        case .rejoining: return [.resumeGateway(gateway)]
        case .verifying: return [.verify(gateway: gateway, healthyForMs: UInt64(run.policy.verify.healthySeconds) * 1000)]
        case .pending, .scheduled, .done, .failed, .skipped: return []
        }
    }

    /// The clock moved: leases, timeouts, and hosts to ask or start.
    public mutating func tick(fleet: [Gateway], nowMs: UInt64) -> [Action] {
        let before = run
        var actions: [Action] = []
        advance(fleet: fleet, nowMs: nowMs, into: &actions)
        return run == before ? actions : [.persist(run)] + actions
    }

    /// An event, then everything a tick would do.
    public mutating func handle(_ event: Event, fleet: [Gateway], nowMs: UInt64) -> [Action] {
        let before = run
        var actions: [Action] = []
        apply(event, nowMs: nowMs, into: &actions)
        advance(fleet: fleet, nowMs: nowMs, into: &actions)
        return run == before ? actions : [.persist(run)] + actions
    }

    // MARK: One pass

    private mutating func advance(fleet: [Gateway], nowMs: UInt64, into actions: inout [Action]) {
        let byId = Dictionary(fleet.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        watchLeases(byId, nowMs: nowMs, into: &actions)
        applyTimeouts(nowMs: nowMs, into: &actions)
        if run.state.startsHosts && run.policy.openHours.allowsStart(atMs: nowMs, cutoffSeconds: run.policy.cutoffSeconds) {
            askAvailability(byId, nowMs: nowMs, into: &actions)
            startHosts(fleet, byId, nowMs: nowMs, into: &actions)
        }
        settle(nowMs: nowMs, into: &actions)
    }

    /// A query unanswered for too long is dropped (asked again later); a drain past its deadline
    /// gives way to the operation, as Nomad's drain deadline does.
    private mutating func applyTimeouts(nowMs: UInt64, into actions: inout [Action]) {
        for i in run.hosts.indices {
            let host = run.hosts[i]
            switch host.state {
            case .querying where nowMs >= (host.stepSinceMs ?? 0) + timing.queryTimeoutMs:
                run.hosts[i].state = .pending
                run.hosts[i].notBeforeMs = nowMs + timing.busyRetryMs
                run.hosts[i].note = "no answer to the availability query within \(timing.queryTimeoutMs / 1000) s"
            case .draining where nowMs >= drainDeadline(host):
                run.hosts[i].note = "drain deadline passed with clients left"
                instruct(i, nowMs: nowMs, into: &actions)
            default:
                break
            }
        }
    }

    /// Pending hosts whose gateway is up are asked; the others wait, saying why.
    private mutating func askAvailability(_ byId: [String: Gateway], nowMs: UInt64, into actions: inout [Action]) {
        for i in run.hosts.indices where run.hosts[i].state == .pending && nowMs >= (run.hosts[i].notBeforeMs ?? 0) {
            let gateway = run.hosts[i].gateway
            guard let g = byId[gateway], g.state == .up else {
                run.hosts[i].note = "gateway \(byId[gateway]?.state.rawValue ?? "unknown")"
                continue
            }
            run.hosts[i].state = .querying
            run.hosts[i].stepSinceMs = nowMs
            actions.append(.queryAvailability(gateway: gateway))
        }
    }

    /// Scheduled hosts start in the run's order while a slot is free and their region keeps
    /// `min_active` without them.
    private mutating func startHosts(_ fleet: [Gateway], _ byId: [String: Gateway], nowMs: UInt64, into actions: inout [Action]) {
        var slots = run.policy.maxConcurrent(ofHosts: run.hosts.count) - run.outCount
        for i in run.hosts.indices where slots > 0 && run.hosts[i].state == .scheduled {
            let gateway = run.hosts[i].gateway
            guard let g = byId[gateway], g.state == .up else {
                run.hosts[i].state = .pending
                run.hosts[i].note = "gateway \(byId[gateway]?.state.rawValue ?? "unknown")"
                continue
            }
            if nowMs >= (run.hosts[i].availableAtMs ?? 0) + timing.availabilityFreshMs {
                run.hosts[i].state = .querying
                run.hosts[i].stepSinceMs = nowMs
                actions.append(.queryAvailability(gateway: gateway))
                continue
            }
            let needed = run.policy.minActive(ofRegionGateways: fleet.filter { $0.region == g.region }.count)
            let active = activeCount(region: g.region, fleet)
            guard active - 1 >= needed else {
                run.hosts[i].note = "min_active: region '\(g.region)' must keep \(needed) active, has \(active)"
                continue
            }
            run.lastFencing += 1
            run.hosts[i].fencing = run.lastFencing
            run.hosts[i].lease = MaintenanceRun.Lease(fencing: run.lastFencing, expiresAtMs: nowMs + timing.leaseTTLMs)
            run.hosts[i].state = .draining
            run.hosts[i].startedMs = nowMs
            run.hosts[i].stepSinceMs = nowMs
            run.hosts[i].note = nil
            run.state = .running
            slots -= 1
            if run.hosts[i].drainFirst == false {
                instruct(i, nowMs: nowMs, into: &actions)  // its operation keeps the clients
            } else {
                actions.append(.startDrain(gateway: gateway, rate: run.policy.drain.rate, deadlineMs: drainDeadline(run.hosts[i])))
            }
        }
    }

    /// Gateways of `region` up, taking clients and not out in this run.
    func activeCount(region: String, _ fleet: [Gateway]) -> Int {
        let out = Set(run.hosts.filter(\.isOut).map(\.gateway))
        return fleet.reduce(0) { $0 + ($1.region == region && $1.state == .up && !out.contains($1.id) ? 1 : 0) }
    }

    /// The run is finished once every host is final and none holds a slot.
    private mutating func settle(nowMs: UInt64, into actions: inout [Action]) {
        guard run.finishedMs == nil, run.hosts.allSatisfy({ $0.state.isFinal && !$0.isOut }) else { return }
        if !run.state.isEnded { run.state = .done }
        run.finishedMs = nowMs
        actions.append(.runFinished(run.state))
    }

    // MARK: Steps shared with the events

    func drainDeadline(_ host: MaintenanceRun.Host) -> UInt64 {
        (host.stepSinceMs ?? 0) + UInt64(run.policy.drain.deadlineSeconds) * 1000
    }

    /// draining -> running: the one place an instruction is first sent.
    mutating func instruct(_ i: Int, nowMs: UInt64, into actions: inout [Action]) {
        guard run.hosts[i].state == .draining, let fencing = run.hosts[i].fencing else { return }
        run.hosts[i].state = .running
        run.hosts[i].stepSinceMs = nowMs
        actions.append(.instruct(gateway: run.hosts[i].gateway, runId: run.id, operation: run.operation, fencing: fencing))
    }
}
