import Foundation
import Testing
@testable import FleetCoordinator

/// A mock clock, a fleet and its agents around one `MaintenanceScheduler`: the runtime's part,
/// played by hand. It carries out the scheduler's actions (a drain takes 5 s, an operation
/// reboots the gateway for 20 s, a health watch reports after `healthy_s`), feeds the events
/// back, and after every call checks the invariants the issue names: never more hosts out than
/// `max_concurrent`, the run written before anything it announces, no host told two fencing
/// numbers, no operation run twice.
final class MaintenanceFleetSim {
    typealias S = MaintenanceScheduler

    /// How each agent behaves.
    struct Behaviour {
        /// Busy answers before the first "available".
        var busyAnswers: [String: Int] = [:]
        var exitStatus: [String: Int32] = [:]
        /// Gateways that go down when told to run and never come back (until `bringBack`).
        var vanish: Set<String> = []
    }

    var nowMs: UInt64
    var fleet: [S.Gateway]
    var scheduler: S
    var behaviour: Behaviour
    /// What the runtime wrote last (the stored form, as a restart would read it).
    var persisted: Data
    var queue: [(at: UInt64, seq: Int, what: Delivery)] = []
    var seq = 0

    enum Delivery {
        case event(S.Event)
        case gateway(String, S.GatewayState)
        /// The agent's operation ended (it keeps the result for a repeated instruction).
        case agentFinished(String, fencing: UInt64, exitStatus: Int32)
    }

    /// Per host, the fencing numbers it was told (distinct) and the operations its agent ran.
    var instructed: [String: Set<UInt64>] = [:]
    var executed: [String: [UInt64]] = [:]
    var results: [String: (UInt64, Int32)] = [:]
    var running: Set<String> = []
    var maxOutSeen = 0
    var minUpSeen = Int.max
    var stops: [String] = []
    var finished: [MaintenanceRun.State] = []
    var startOrder: [String] = []
    var calls = 0
    /// Dies right after writing the run whose actions hold the first instruction, before sending.
    var crashBeforeFirstInstruction = false
    var crashed = false

    init(gateways: [S.Gateway], policy: MaintenancePolicy, nowMs: UInt64 = 1_750_000_000_000, behaviour: Behaviour = .init(),
         run gateIds: [String]? = nil) {
        self.nowMs = nowMs
        self.fleet = gateways
        self.behaviour = behaviour
        let run = MaintenanceRun(id: "run-1", operation: "os-patch", gateways: gateIds ?? gateways.map(\.id), policy: policy, createdMs: nowMs)
        self.scheduler = S(run: run)
        self.persisted = try! run.encoded()
    }

    var run: MaintenanceRun { scheduler.run }
    var maxConcurrent: Int { run.policy.maxConcurrent(ofHosts: run.hosts.count) }

    func state(of id: String) -> S.GatewayState? { fleet.first { $0.id == id }?.state }

    func setGateway(_ id: String, _ state: S.GatewayState) {
        if let i = fleet.firstIndex(where: { $0.id == id }) { fleet[i].state = state }
    }

    func later(_ ms: UInt64, _ what: Delivery) {
        seq += 1
        queue.append((nowMs + ms, seq, what))
    }

    // MARK: Driving

    func handle(_ event: S.Event) { perform(scheduler.handle(event, fleet: fleet, nowMs: nowMs)) }
    func tick() { perform(scheduler.tick(fleet: fleet, nowMs: nowMs)) }

    /// Moves the clock by `ms`, delivering what falls due on the way, then ticks.
    func advance(_ ms: UInt64) {
        let end = nowMs + ms
        while !crashed, let next = queue.filter({ $0.at <= end }).min(by: { ($0.at, $0.seq) < ($1.at, $1.seq) }) {
            queue.removeAll { $0.seq == next.seq }
            nowMs = max(nowMs, next.at)
            switch next.what {
            case .event(let e): handle(e)
            case .gateway(let id, let s): setGateway(id, s)
            case .agentFinished(let g, let fencing, let status):
                running.remove(g)
                results[g] = (fencing, status)
            }
        }
        nowMs = end
        if !crashed { tick() }
    }

    /// Ticks once a second until `done` or `limitS` seconds.
    @discardableResult
    func drive(seconds limitS: Int = 3_600, until done: (MaintenanceFleetSim) -> Bool = { $0.run.finishedMs != nil }) -> Bool {
        for _ in 0..<limitS {
            if done(self) { return true }
            advance(1_000)
        }
        return done(self)
    }

    /// A coordinator kill -9 and restart: the scheduler is rebuilt from what was written last.
    func restart() {
        let reloaded = try! MaintenanceRun.decoded(from: persisted)
        let (restored, actions) = S.restored(reloaded, nowMs: nowMs)
        scheduler = restored
        crashed = false
        perform(actions)
    }

    // MARK: The runtime and the agents

    /// Carries out `actions`; with `crashBeforeFirstInstruction` only the write of the first
    /// actions holding an instruction happens (the process died right after it), and the test
    /// restarts.
    func perform(_ actions: [S.Action]) {
        calls += 1
        let crashAfterPersist = crashBeforeFirstInstruction && actions.contains { if case .instruct = $0 { true } else { false } }
        if crashAfterPersist {
            crashBeforeFirstInstruction = false
            crashed = true
        }
        checkInvariants(actions)
        for action in actions {
            if case .persist(let r) = action {
                persisted = try! r.encoded()
                if crashAfterPersist { return }
                continue
            }
            carryOut(action)
        }
    }

    func carryOut(_ action: S.Action) {
        switch action {
        case .persist: break
        case .queryAvailability(let g):
            guard state(of: g) != .down else { return }
            if running.contains(g) {
                later(200, .event(.availability(g, .busy(reason: "running os-patch"))))
            } else if let n = behaviour.busyAnswers[g], n > 0 {
                behaviour.busyAnswers[g] = n - 1
                later(200, .event(.availability(g, .busy(reason: "backup in progress"))))
            } else {
                later(200, .event(.availability(g, .available)))
            }
        case .startDrain(let g, _, _):
            guard state(of: g) == .up else { return }   // a repeat (restart) of a drain under way
            startOrder.append(g)
            setGateway(g, .draining)
            later(5_000, .event(.drainFinished(g)))
        case .instruct(let g, _, _, let fencing):
            instructed[g, default: []].insert(fencing)
            // The agent runs a fencing number once; a repeat gets the result it has.
            if let (f, status) = results[g], f == fencing {
                later(100, .event(.operationFinished(g, fencing: f, exitStatus: status, outputTail: "again")))
                return
            }
            guard !running.contains(g), state(of: g) != .down else { return }
            executed[g, default: []].append(fencing)
            running.insert(g)
            if behaviour.vanish.contains(g) {
                later(1_000, .gateway(g, .down))
                return
            }
            let status = behaviour.exitStatus[g] ?? 0
            if status == 0 {
                later(1_000, .gateway(g, .down))           // reboots
                later(20_000, .gateway(g, .draining))      // back, still drained
            }
            let reportMs: UInt64 = status == 0 ? 21_000 : 3_000
            later(reportMs - 1, .agentFinished(g, fencing: fencing, exitStatus: status))
            later(reportMs, .event(.operationFinished(g, fencing: fencing, exitStatus: status, outputTail: "patched")))
        case .resumeGateway(let g):
            if state(of: g) == .draining { setGateway(g, .up) }
            if run.host(g)?.state == .rejoining { later(1_000, .event(.rejoined(g))) }
        case .verify(let g, let ms):
            later(ms, .event(state(of: g) == .up ? .healthy(g) : .unhealthy(g, reason: "down")))
        case .stopRun(let reason): stops.append(reason)
        case .runFinished(let s): finished.append(s)
        }
    }

    func checkInvariants(_ actions: [S.Action], sourceLocation: SourceLocation = #_sourceLocation) {
        let out = run.outCount
        let started = run.hosts.filter { $0.state.isStarted }.count
        maxOutSeen = max(maxOutSeen, out)
        #expect(out <= maxConcurrent, "\(out) hosts out at \(nowMs)", sourceLocation: sourceLocation)
        #expect(started <= out, "a started host without a lease", sourceLocation: sourceLocation)
        let up = fleet.filter { $0.state == .up }.count
        minUpSeen = min(minUpSeen, up)
        for (g, fencings) in instructed { #expect(fencings.count <= 1, "\(g) told \(fencings.sorted())", sourceLocation: sourceLocation) }
        for (g, runs) in executed { #expect(runs.count <= 1, "\(g) ran \(runs.count) times", sourceLocation: sourceLocation) }
        // Whatever the scheduler changed is written before anything else is done.
        if let first = actions.first, case .persist = first {} else {
            #expect(try! MaintenanceRun.decoded(from: persisted) == run, "the run changed without a .persist first", sourceLocation: sourceLocation)
        }
        if actions.dropFirst().contains(where: { if case .persist = $0 { true } else { false } }) {
            Issue.record("more than one .persist", sourceLocation: sourceLocation)
        }
    }
}
