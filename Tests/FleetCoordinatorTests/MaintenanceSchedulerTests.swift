import Foundation
import Testing
@testable import FleetCoordinator

/// The maintenance schedule (issue #13) on a mock clock, through `MaintenanceFleetSim`, which
/// checks the invariants after every call: concurrency, the write before the act, one fencing
/// number and one execution per host.
@Suite struct MaintenanceSchedulerTests {
    typealias S = MaintenanceScheduler
    typealias G = MaintenanceScheduler.Gateway

    static func gateways(_ n: Int, region: String = "eu", from first: Int = 1) -> [G] {
        (first..<(first + n)).map { G(id: "gw-\($0)", region: region) }
    }

    static func policy(_ edit: (inout MaintenancePolicy) -> Void = { _ in }) -> MaintenancePolicy {
        var p = MaintenancePolicy()
        p.drain = .init(deadlineSeconds: 60, rate: 500)
        p.verify = .init(healthySeconds: 10)
        edit(&p)
        return p
    }

    // MARK: Concurrency and min_active

    struct Limits: CustomTestStringConvertible, Sendable {
        let name: String
        let gateways: [G]
        let maxConcurrent: MaintenanceAmount
        let minActive: MaintenanceAmount
        /// The most hosts out at once: reached, never passed.
        let expectedMaxOut: Int
        let minUp: Int
        var testDescription: String { name }
    }

    static let limits: [Limits] = [
        Limits(name: "6 hosts, max_concurrent 2, min_active 4: two at a time", gateways: gateways(6),
               maxConcurrent: .count(2), minActive: .count(4), expectedMaxOut: 2, minUp: 4),
        Limits(name: "6 hosts, max_concurrent 2, min_active 5: min_active allows one", gateways: gateways(6),
               maxConcurrent: .count(2), minActive: .count(5), expectedMaxOut: 1, minUp: 5),
        Limits(name: "6 hosts, max_concurrent 50%, min_active 0: three", gateways: gateways(6),
               maxConcurrent: .percent(50), minActive: .count(0), expectedMaxOut: 3, minUp: 3),
        Limits(name: "two regions of 3, min_active 2 per region, max_concurrent 4: one per region", gateways: gateways(3) + gateways(3, region: "us", from: 4),
               maxConcurrent: .count(4), minActive: .count(2), expectedMaxOut: 2, minUp: 4),
        Limits(name: "min_active 67% of 6 rounds up to 5", gateways: gateways(6),
               maxConcurrent: .count(3), minActive: .percent(67), expectedMaxOut: 1, minUp: 5),
    ]

    @Test("every host is maintained once, never more out than the policy allows", arguments: limits)
    func concurrency(_ row: Limits) {
        let sim = MaintenanceFleetSim(gateways: row.gateways, policy: Self.policy {
            $0.maxConcurrent = row.maxConcurrent
            $0.minActive = row.minActive
        })
        #expect(sim.drive(seconds: 3_600))
        #expect(sim.run.state == .done && sim.finished == [.done])
        #expect(sim.run.hosts.allSatisfy { $0.state == .done })
        #expect(sim.maxOutSeen == row.expectedMaxOut)
        #expect(sim.minUpSeen == row.minUp)
        #expect(sim.executed.values.map(\.count) == Array(repeating: 1, count: row.gateways.count))
        // Each start took the next fencing number.
        #expect(Set(sim.run.hosts.compactMap(\.fencing)) == Set(1...UInt64(row.gateways.count)))
    }

    @Test("a busy host is deferred and asked again; it is done once it frees up")
    func busyThenFree() {
        var behaviour = MaintenanceFleetSim.Behaviour()
        behaviour.busyAnswers = ["gw-1": 2]
        let sim = MaintenanceFleetSim(gateways: Self.gateways(3), policy: Self.policy { $0.maxConcurrent = .count(1) }, behaviour: behaviour)
        sim.advance(1_000)   // asked
        sim.advance(1_000)   // answered: gw-1 busy, gw-2 available
        #expect(sim.run.host("gw-1")?.state == .pending && sim.run.host("gw-1")?.note == "busy: backup in progress")
        #expect(sim.startOrder == ["gw-2"])   // the next one goes first
        #expect(sim.drive(seconds: 3_600))
        #expect(sim.run.hosts.allSatisfy { $0.state == .done })
        #expect(sim.startOrder.last == "gw-1" && sim.executed["gw-1"]?.count == 1)
    }

    /// A host that cannot run the operation (not configured there) fails at once and, with
    /// `max_errors: 0`, stops the run; one that refuses the instruction frees its slot.
    @Test("a refusal fails the host and counts against max_errors")
    func refusal() {
        var s = S(run: MaintenanceRun(id: "r", operation: "os-patch", gateways: ["gw-1", "gw-2"],
                                      policy: Self.policy { $0.maxConcurrent = .count(1) }, createdMs: 0))
        let fleet = Self.gateways(2)
        _ = s.tick(fleet: fleet, nowMs: 1_000)
        #expect(s.run.host("gw-1")?.state == .querying)
        let actions = s.handle(.refused("gw-1", reason: "operation 'os-patch' is not configured"), fleet: fleet, nowMs: 2_000)
        #expect(s.run.host("gw-1")?.state == .failed && s.run.host("gw-1")?.error == "refused: operation 'os-patch' is not configured")
        #expect(s.run.state == .stopped && s.run.host("gw-2")?.state == .skipped)
        #expect(actions.contains { if case .stopRun = $0 { true } else { false } })
        #expect(s.run.outCount == 0)
    }

    /// An operation configured with `drain: false` runs as soon as its host starts: no drain.
    @Test("a host whose operation does not drain is told to run at once")
    func noDrain() {
        var s = S(run: MaintenanceRun(id: "r", operation: "log-rotate", gateways: ["gw-1"], policy: Self.policy(), createdMs: 0))
        let fleet = Self.gateways(1)
        _ = s.tick(fleet: fleet, nowMs: 1_000)
        let actions = s.handle(.availability("gw-1", .available, drainFirst: false), fleet: fleet, nowMs: 2_000)
        #expect(s.run.host("gw-1")?.state == .running && s.run.host("gw-1")?.fencing == 1)
        #expect(actions.contains(.instruct(gateway: "gw-1", runId: "r", operation: "log-rotate", fencing: 1)))
        #expect(!actions.contains { if case .startDrain = $0 { true } else { false } })
        #expect(s.run.outCount == 1)
    }

    // MARK: Failures

    struct Failures: CustomTestStringConvertible, Sendable {
        let maxErrors: MaintenanceAmount
        let failing: [String: Int32]
        let runState: MaintenanceRun.State
        let failed: [String]
        let skipped: [String]
        let reason: String?
        var testDescription: String { "max_errors \(maxErrors), \(failing.keys.sorted()) fail" }
    }

    static let failures: [Failures] = [
        Failures(maxErrors: .count(0), failing: ["gw-2": 1], runState: .stopped, failed: ["gw-2"], skipped: ["gw-3", "gw-4", "gw-5", "gw-6"],
                 reason: "max_errors 0 tolerates 0 failed hosts, 1 failed; the last: gw-2: exit status 1"),
        Failures(maxErrors: .count(1), failing: ["gw-2": 1, "gw-4": 2], runState: .stopped, failed: ["gw-2", "gw-4"], skipped: ["gw-5", "gw-6"],
                 reason: "max_errors 1 tolerates 1 failed host, 2 failed; the last: gw-4: exit status 2"),
        Failures(maxErrors: .count(2), failing: ["gw-2": 1, "gw-4": 2], runState: .done, failed: ["gw-2", "gw-4"], skipped: [], reason: nil),
        Failures(maxErrors: .percent(20), failing: ["gw-2": 1, "gw-4": 2], runState: .stopped, failed: ["gw-2", "gw-4"], skipped: ["gw-5", "gw-6"],
                 reason: "max_errors 20% tolerates 1 failed host, 2 failed; the last: gw-4: exit status 2"),
    ]

    @Test("max_errors N tolerates N failed hosts; the next failure stops the run and says why", arguments: failures)
    func maxErrors(_ row: Failures) {
        var behaviour = MaintenanceFleetSim.Behaviour()
        behaviour.exitStatus = row.failing
        let sim = MaintenanceFleetSim(gateways: Self.gateways(6), policy: Self.policy {
            $0.maxConcurrent = .count(1)
            $0.maxErrors = row.maxErrors
        }, behaviour: behaviour)
        #expect(sim.drive(seconds: 3_600))
        #expect(sim.run.state == row.runState)
        #expect(sim.run.hosts.filter { $0.state == .failed }.map(\.gateway) == row.failed)
        #expect(sim.run.hosts.filter { $0.state == .skipped }.map(\.gateway) == row.skipped)
        #expect(sim.run.reason == row.reason)
        #expect(sim.stops == (row.reason.map { [$0] } ?? []))
        #expect(sim.run.host("gw-2")?.exitStatus == 1 && sim.run.host("gw-2")?.outputTail == "patched")
        // Nothing started after the stop.
        #expect(sim.executed.count == 6 - row.skipped.count)
    }

    @Test("a stop undoes a drain in progress (it ran nothing) and lets running hosts finish")
    func stopWithHostsOut() {
        var behaviour = MaintenanceFleetSim.Behaviour()
        behaviour.exitStatus = ["gw-1": 1]
        let sim = MaintenanceFleetSim(gateways: Self.gateways(6), policy: Self.policy { $0.maxConcurrent = .count(2) }, behaviour: behaviour)
        // gw-1 and gw-2 start together; gw-1 fails 3 s after its 5 s drain, while gw-2 reboots.
        #expect(sim.drive(seconds: 60) { $0.run.state == .stopped })
        #expect(sim.run.host("gw-2")?.state == .running)
        #expect(sim.drive(seconds: 600))
        #expect(sim.run.host("gw-2")?.state == .done)
        #expect(sim.run.hosts.filter { $0.state == .skipped }.count == 4 && sim.executed.count == 2)
        #expect(sim.finished == [.stopped])
    }

    // MARK: Windows

    static func ms(_ iso: String) -> UInt64 { MaintenanceWindowTests.ms(iso) }

    @Test("a window closed now: nothing starts, nobody is asked, and the schedule says when it will")
    func windowClosed() throws {
        let window = try MaintenanceWindow(days: ["sat", "sun"], start: "01:00", end: "05:00", timezone: "Europe/Paris", field: "w")
        let sim = MaintenanceFleetSim(gateways: Self.gateways(6), policy: Self.policy {
            $0.windows = [window]
            $0.maxConcurrent = .count(2)
            $0.cutoffSeconds = 1_800
        }, nowMs: Self.ms("2025-06-13T12:00:00Z"))   // a Friday, 14:00 in Paris
        sim.advance(1_000)
        #expect(sim.run.state == .scheduled && sim.startOrder.isEmpty && sim.calls == 1)
        let plan = sim.scheduler.schedule(nowMs: sim.nowMs)
        let opens = Self.ms("2025-06-13T23:00:00Z")
        #expect(plan.prefix(2).map(\.plannedStartMs) == [opens, opens])
        #expect(plan.prefix(2).map(\.waitingFor) == ["the window", "the window"])
        #expect(plan.dropFirst(2).allSatisfy { $0.plannedStartMs == nil && $0.waitingFor == "a free slot (max_concurrent 2)" })
        // Saturday 00:59 in Paris: still nothing. 01:00: asked and started.
        sim.advance(opens - 60_000 - sim.nowMs)
        #expect(sim.startOrder.isEmpty)
        sim.advance(61_000)   // asked at 01:00:01
        sim.advance(1_000)    // answered and started
        #expect(sim.startOrder == ["gw-1", "gw-2"])
        // All done by the window's end; hosts out when it closes would have finished anyway.
        #expect(sim.drive(seconds: 4 * 3_600))
        #expect(sim.run.hosts.allSatisfy { $0.state == .done })
        // 04:30 Paris is within cutoff_s of 05:00: nothing started after it.
        let cutoff = Self.ms("2025-06-14T02:30:00Z")
        #expect(sim.run.hosts.allSatisfy { ($0.startedMs ?? 0) < cutoff })
    }

    @Test("cutoff_s: a host ready within it waits for the next window; the schedule shows which")
    func cutoff() throws {
        let window = try MaintenanceWindow(days: ["sat", "sun"], start: "01:00", end: "05:00", timezone: "Europe/Paris", field: "w")
        let sim = MaintenanceFleetSim(gateways: Self.gateways(2), policy: Self.policy {
            $0.windows = [window]
            $0.cutoffSeconds = 3_600
        }, nowMs: Self.ms("2025-06-14T02:00:00Z"))   // Saturday 04:00 in Paris: exactly the cutoff
        sim.advance(1_000)
        #expect(sim.startOrder.isEmpty && sim.run.state == .scheduled)
        #expect(sim.scheduler.schedule(nowMs: sim.nowMs).first?.plannedStartMs == Self.ms("2025-06-14T23:00:00Z"))
    }

    // MARK: Pause, resume, cancel

    @Test("paused starts nothing new and lets hosts out finish; cancel skips the rest and undoes a drain")
    func pauseAndCancel() {
        let sim = MaintenanceFleetSim(gateways: Self.gateways(4), policy: Self.policy { $0.maxConcurrent = .count(1) })
        sim.advance(1_000)
        sim.advance(1_000)
        #expect(sim.startOrder == ["gw-1"])
        sim.handle(.pause)
        #expect(sim.run.state == .paused)
        sim.drive(seconds: 600) { $0.run.host("gw-1")?.state == .done }
        sim.advance(600_000)
        #expect(sim.startOrder == ["gw-1"] && sim.run.state == .paused)
        sim.handle(.resume)
        // gw-2's "available" is ten minutes old: asked again before it starts.
        #expect(sim.run.state == .running && sim.startOrder == ["gw-1"] && sim.run.host("gw-2")?.state == .querying)
        sim.advance(1_000)
        #expect(sim.startOrder == ["gw-1", "gw-2"] && sim.run.host("gw-2")?.state == .draining)
        sim.handle(.cancel)
        #expect(sim.run.state == .cancelled && sim.run.reason == "cancelled by the operator")
        #expect(sim.run.host("gw-2")?.state == .skipped && sim.state(of: "gw-2") == .up && sim.executed["gw-2"] == nil)
        #expect(sim.run.hosts.map(\.state) == [.done, .skipped, .skipped, .skipped])
        #expect(sim.finished == [.cancelled])
    }

    // MARK: Leases

    @Test("a vanished host's lease expires: it fails, but its slot stays taken until it is seen again")
    func leaseExpiry() {
        var behaviour = MaintenanceFleetSim.Behaviour()
        behaviour.vanish = ["gw-1"]
        let sim = MaintenanceFleetSim(gateways: Self.gateways(4), policy: Self.policy {
            $0.maxConcurrent = .count(1)
            $0.maxErrors = .count(3)
        }, behaviour: behaviour)
        let ttl = sim.scheduler.timing.leaseTTLMs
        sim.advance(1_000)
        #expect(sim.drive(seconds: 60) { $0.run.host("gw-1")?.state == .running && $0.state(of: "gw-1") == .down })
        let startedDown = sim.nowMs
        // Four lease TTLs later: failed at one TTL, and still nobody else started.
        sim.drive(seconds: Int(4 * ttl / 1000)) { _ in false }
        let gw1 = sim.run.host("gw-1")!
        #expect(gw1.state == .failed && gw1.lease?.expired == true && gw1.isOut)
        // Renewed at most once a minute while seen: it expires a TTL (less up to a minute) after
        // the host was last seen, never sooner.
        let renew = CoordinatorLimits.maintenanceLeaseRenewMs
        #expect(gw1.finishedMs.map { $0 + renew + 2_000 >= startedDown + ttl && $0 <= startedDown + ttl + 2_000 } == true)
        #expect(gw1.error?.hasPrefix("lease expired") == true)
        #expect(sim.startOrder == ["gw-1"] && sim.run.outCount == 1)
        // Seen again, still running its operation: asked, answers busy, keeps the slot.
        sim.setGateway("gw-1", .draining)
        sim.advance(2_000)
        #expect(sim.run.host("gw-1")?.isOut == true && sim.startOrder == ["gw-1"])
        // The operation ends: its late report frees the slot; the next host starts.
        sim.handle(.operationFinished("gw-1", fencing: 1, exitStatus: 0, outputTail: "late"))
        #expect(sim.run.host("gw-1")?.isOut == false && sim.run.host("gw-1")?.state == .failed)
        sim.advance(1_000)   // gw-2's answer is old: asked again
        sim.advance(1_000)
        #expect(sim.startOrder == ["gw-1", "gw-2"])
    }

    @Test("an expired lease comes back by an available answer or by the operator, never by the clock alone")
    func leaseRelease() {
        var behaviour = MaintenanceFleetSim.Behaviour()
        behaviour.vanish = ["gw-1", "gw-2"]
        let sim = MaintenanceFleetSim(gateways: Self.gateways(6), policy: Self.policy {
            $0.maxConcurrent = .count(2)
            $0.maxErrors = .count(5)
        }, behaviour: behaviour)
        let ttl = sim.scheduler.timing.leaseTTLMs
        sim.drive(seconds: Int(3 * ttl / 1000)) { _ in false }
        #expect(sim.run.hosts.prefix(2).allSatisfy { $0.state == .failed && $0.isOut })
        #expect(sim.startOrder == ["gw-1", "gw-2"])
        // The operator frees gw-2 (it knows the machine is gone): one slot, one start.
        sim.handle(.release("gw-2"))
        sim.drive(seconds: 10) { $0.startOrder.count == 3 }
        #expect(sim.startOrder == ["gw-1", "gw-2", "gw-3"] && sim.run.outCount == 2)
        // gw-1 comes back idle: asked, answers available, its slot is free.
        sim.running.remove("gw-1")
        sim.setGateway("gw-1", .up)
        sim.drive(seconds: 10) { $0.startOrder.count == 4 }
        #expect(sim.run.host("gw-1")?.isOut == false && sim.startOrder == ["gw-1", "gw-2", "gw-3", "gw-4"])
        #expect(sim.maxOutSeen == 2)
    }

    // MARK: Restart

    @Test("a restart after every single call: each host runs once, the limits hold, the run finishes")
    func restartEverywhere() {
        var behaviour = MaintenanceFleetSim.Behaviour()
        behaviour.busyAnswers = ["gw-3": 1]
        behaviour.exitStatus = ["gw-5": 1]
        let sim = MaintenanceFleetSim(gateways: Self.gateways(6), policy: Self.policy {
            $0.maxConcurrent = .count(2)
            $0.minActive = .count(4)
            $0.maxErrors = .count(1)
        }, behaviour: behaviour)
        var restarts = 0
        for _ in 0..<3_600 where sim.run.finishedMs == nil {
            sim.advance(1_000)
            sim.restart()
            restarts += 1
        }
        #expect(sim.run.state == .done && restarts > 100)
        #expect(sim.run.hosts.map(\.state) == [.done, .done, .done, .done, .failed, .done])
        #expect(sim.executed.values.allSatisfy { $0.count == 1 } && sim.executed.count == 6)
        #expect(sim.maxOutSeen == 2 && sim.minUpSeen == 4)
    }

    @Test("killed right after writing an instruction, before sending it: the restart sends it again with the same fencing number")
    func crashBetweenWriteAndSend() {
        let sim = MaintenanceFleetSim(gateways: Self.gateways(6), policy: Self.policy {
            $0.maxConcurrent = .count(2)
            $0.minActive = .count(4)
        })
        sim.crashBeforeFirstInstruction = true
        sim.drive(seconds: 600) { $0.crashed }
        let told = sim.run.hosts.filter { $0.state == .running }
        #expect(told.count >= 1 && sim.executed.isEmpty)
        let before = try! MaintenanceRun.decoded(from: sim.persisted)
        sim.restart()
        // Nothing new was started by the restart: same hosts out, same fencing numbers, and the
        // instruction went out once, with the number it was written with.
        #expect(sim.run.lastFencing == before.lastFencing)
        #expect(sim.run.hosts.map(\.fencing) == before.hosts.map(\.fencing))
        for host in told { #expect(sim.instructed[host.gateway] == [host.fencing!]) }
        #expect(sim.drive(seconds: 3_600))
        #expect(sim.run.state == .done && sim.executed.values.allSatisfy { $0.count == 1 } && sim.maxOutSeen == 2)
    }

    // MARK: Events that do not fit

    @Test("late, repeated or foreign events change nothing")
    func staleEvents() {
        let sim = MaintenanceFleetSim(gateways: Self.gateways(2), policy: Self.policy { $0.maxConcurrent = .count(1) })
        sim.drive(seconds: 60) { $0.run.host("gw-1")?.state == .running }
        let before = sim.run
        sim.handle(.operationFinished("gw-1", fencing: 99, exitStatus: 1, outputTail: "someone else's"))
        sim.handle(.operationFinished("gw-2", fencing: 1, exitStatus: 1, outputTail: "not told"))
        sim.handle(.drainFinished("gw-1"))
        sim.handle(.rejoined("gw-1"))
        sim.handle(.healthy("gw-1"))
        sim.handle(.availability("gw-1", .busy(reason: "late")))
        sim.handle(.release("gw-9"))
        #expect(sim.run == before)
    }

    // MARK: Stored form

    @Test("the stored run reads back equal; a newer format is refused")
    func storedForm() throws {
        let sim = MaintenanceFleetSim(gateways: Self.gateways(3), policy: Self.policy { $0.maxConcurrent = .percent(50) })
        sim.drive(seconds: 30) { _ in false }
        let data = try sim.run.encoded()
        #expect(try MaintenanceRun.decoded(from: data) == sim.run)
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        object["version"] = MaintenanceRun.formatVersion + 1
        #expect(throws: MaintenanceRun.StoredFormError.unsupportedVersion(MaintenanceRun.formatVersion + 1)) {
            try MaintenanceRun.decoded(from: try JSONSerialization.data(withJSONObject: object))
        }
    }

    @Test("the schedule estimates later waves from how long finished hosts took")
    func scheduleEstimates() {
        let sim = MaintenanceFleetSim(gateways: Self.gateways(5), policy: Self.policy { $0.maxConcurrent = .count(1) })
        sim.drive(seconds: 600) { $0.run.host("gw-1")?.state == .done }
        let h1 = sim.run.host("gw-1")!
        let took = h1.finishedMs! - h1.startedMs!
        let plan = sim.scheduler.schedule(nowMs: sim.nowMs)
        #expect(plan[0].plannedStartMs == h1.startedMs && plan[0].waitingFor == nil)
        // gw-2 took the free slot; gw-3 follows one host's time from now, gw-4 two.
        #expect(plan[1].state == .draining && plan[1].plannedStartMs == sim.run.host("gw-2")?.startedMs)
        #expect(plan[2].plannedStartMs == sim.nowMs + took && plan[2].waitingFor == "a free slot (max_concurrent 1)")
        #expect(plan[3].plannedStartMs == sim.nowMs + 2 * took)
    }
}
