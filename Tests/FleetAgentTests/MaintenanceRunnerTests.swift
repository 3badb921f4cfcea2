import Foundation
import Glibc
import Logging
import Testing
import FleetProtocol
import FleetRuntime
@testable import FleetAgent

// The maintenance runner (issue #13, Protocol/agent-coordinator.md §5.21-§5.24) on a real EventLoop, with real
// processes (/bin/sh scripts written at test time) and a real SQLite file.

/// A runner on its own loop; every frame it sends is kept. The loop runs on the test's thread.
final class RunnerRig {
    let dir: String
    let loop: EventLoop
    var runner: MaintenanceRunner!
    var frames: [FleetFrame] = []

    init(dir: String? = nil, config: (String) -> MaintenanceConfig?) throws {
        self.dir = try dir ?? LinkHarness.temporaryDirectory()
        loop = try EventLoop()
        try open(config(self.dir))
    }

    /// A new runner on the same store file (what a restarted agent does).
    func open(_ config: MaintenanceConfig?) throws {
        runner = try MaintenanceRunner(config: config, storePath: dir + "/maintenance.db", loop: loop, log: Logger(label: "test.maintenance"))
        runner.send = { [unowned self] in frames.append($0) }
    }

    /// Writes a /bin/sh script; returns the argv that runs it (see ChildProcessTests: a fresh file
    /// is run through sh, never exec'd, to stay clear of ETXTBSY from other tests' forks).
    func script(_ name: String, _ body: String) throws -> [String] {
        let path = dir + "/" + name
        try ("#!/bin/sh\ncd '\(dir)'\n" + body + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return ["/bin/sh", path]
    }

    var results: [FleetFrame.MaintenanceResult] { frames.compactMap { if case .maintenanceResult(let r) = $0 { r } else { nil } } }
    var answers: [FleetFrame.Availability] { frames.compactMap { if case .availability(let a) = $0 { a } else { nil } } }

    /// Lines in a file the scripts append to (how many times a command ran).
    func lines(_ name: String) -> [String] {
        ((try? String(contentsOfFile: dir + "/" + name, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    func touch(_ name: String) { FileManager.default.createFile(atPath: dir + "/" + name, contents: nil) }

    /// Spins with SIGCHLD unblocked on this thread (libuv hears of exits through it; Swift
    /// Testing's threads block signals).
    @discardableResult
    func spin(maxTicks: Int = 1_000, until done: () -> Bool) -> Bool {
        var unblock = sigset_t(), saved = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGCHLD)
        pthread_sigmask(SIG_UNBLOCK, &unblock, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return LinkHarness.spin(loop, maxTicks: maxTicks, until: done)
    }

    func run(_ runId: String, _ operation: String = "os-patch", fencing: UInt64 = 1) {
        runner.received(FleetFrame.MaintenanceRun(runId: runId, operation: operation, fencing: fencing))
    }

    func query(_ id: UInt64, _ operation: String = "os-patch") {
        runner.received(FleetFrame.AvailabilityQuery(queryId: id, operation: operation))
    }

    /// Closes the runner; the loop must end with no handle left. `keepFiles`: a restart follows.
    func finish(keepFiles: Bool = false) {
        runner.close()
        #expect(loop.shutdown() == 0)
        if !keepFiles { try? FileManager.default.removeItem(atPath: dir) }
    }
}

@Suite struct MaintenanceRunnerTests {
    // MARK: AVAILABILITY

    @Test func availabilityCommandDecidesAvailableOrBusyWithItsOutput() throws {
        let rig = try RunnerRig { dir in
            MaintenanceConfig(availability: ["/bin/sh", dir + "/can-maintain.sh"],
                              operations: ["os-patch": .init(command: ["/bin/true"], timeoutSeconds: 60)])
        }
        _ = try rig.script("can-maintain.sh", """
            echo asked >> asked
            if [ -f busy ]; then printf '\\n  backup in progress until 03:00  \\n\\n'; exit 1; fi
            exit 0
            """)
        rig.query(1)
        #expect(rig.spin { rig.answers.count == 1 })
        #expect(rig.answers[0] == .init(queryId: 1, answer: .available))

        rig.touch("busy")
        rig.query(2)
        #expect(rig.spin { rig.answers.count == 2 })
        #expect(rig.answers[1].answer == .busy)
        #expect(rig.answers[1].reason == "backup in progress until 03:00", "the output, trimmed")

        // Not configured: answered at once, without asking the command.
        rig.query(3, "firmware")
        #expect(rig.answers.count == 3)
        #expect(rig.answers[2].answer == .unknownOperation)
        #expect(rig.answers[2].reason.contains("'firmware'"))
        #expect(rig.lines("asked").count == 2)
        rig.finish()
    }

    /// The answer says whether the operation drains the gateway first (its `drain:`).
    @Test func theAnswerCarriesTheOperationsDrainSetting() throws {
        let rig = try RunnerRig { _ in
            MaintenanceConfig(availability: nil, operations: ["os-patch": .init(command: ["/bin/true"], timeoutSeconds: 60),
                                                              "log-rotate": .init(command: ["/bin/true"], timeoutSeconds: 60, drain: false)])
        }
        rig.query(1, "os-patch")
        rig.query(2, "log-rotate")
        #expect(rig.spin { rig.answers.count == 2 })
        #expect(rig.answers.map(\.drainFirst) == [true, false])
        rig.finish()
    }

    @Test func aSilentFailingAvailabilityCommandIsBusyWithItsExitStatus() throws {
        let rig = try RunnerRig { dir in
            MaintenanceConfig(availability: ["/bin/sh", dir + "/no.sh"], operations: ["os-patch": .init(command: ["/bin/true"], timeoutSeconds: 60)])
        }
        _ = try rig.script("no.sh", "exit 2")
        rig.query(7)
        #expect(rig.spin { rig.answers.count == 1 })
        #expect(rig.answers[0].answer == .busy)
        #expect(rig.answers[0].reason == "availability command: exited with status 2")
        rig.finish()
    }

    @Test func noAvailabilityCommandMeansAvailable() throws {
        let rig = try RunnerRig { _ in MaintenanceConfig(operations: ["os-patch": .init(command: ["/bin/true"], timeoutSeconds: 60)]) }
        rig.query(1)
        #expect(rig.answers == [.init(queryId: 1, answer: .available)], "answered at once")
        rig.finish()
    }

    @Test func noMaintenanceSectionMeansEveryOperationIsUnknown() throws {
        let rig = try RunnerRig { _ in nil }
        rig.query(1)
        rig.run("run-1")
        #expect(rig.answers.map(\.answer) == [.unknownOperation])
        #expect(rig.results.map(\.state) == [.refused])
        rig.finish()
    }

    @Test func queriesWhileTheCommandRunsAreAnsweredTogether() throws {
        let rig = try RunnerRig { dir in
            MaintenanceConfig(availability: ["/bin/sh", dir + "/slow.sh"], operations: ["os-patch": .init(command: ["/bin/true"], timeoutSeconds: 60)])
        }
        _ = try rig.script("slow.sh", "echo asked >> asked\nsleep 0.3\nexit 0")
        rig.query(1)
        rig.query(2)
        rig.spin(maxTicks: 5) { false }  // 50 ms: the command is running
        rig.query(3)
        #expect(rig.answers.isEmpty)
        #expect(rig.spin { rig.answers.count == 3 })
        #expect(rig.answers.map(\.queryId) == [1, 2, 3])
        #expect(rig.answers.allSatisfy { $0.answer == .available })
        #expect(rig.lines("asked").count == 1, "one command for the three queries")
        rig.finish()
    }

    // MARK: MAINTENANCE_RUN

    /// os-patch waits for a `release` file, counts its runs in `runs`, prints, exits 3.
    private func patchRig(timeout: UInt32 = 60) throws -> RunnerRig {
        let rig = try RunnerRig { dir in
            MaintenanceConfig(operations: ["os-patch": .init(command: ["/bin/sh", dir + "/patch.sh", "--reboot"], timeoutSeconds: timeout)])
        }
        _ = try rig.script("patch.sh", """
            echo "run $1" >> runs
            echo "patching"
            while [ ! -f release ]; do sleep 0.02; done
            echo "3 packages upgraded" >&2
            exit 3
            """)
        return rig
    }

    @Test func busyWhileAnOperationRunsAndTheSamePairRunsOnce() throws {
        let rig = try patchRig()
        rig.run("run-1", fencing: 4)
        #expect(rig.results == [.init(runId: "run-1", fencing: 4, state: .running)])
        #expect(rig.spin { rig.lines("runs").count == 1 })

        // While it runs: availability is busy naming it; the same pair is still running; another
        // pair (even of the same run) and another run are refused.
        rig.query(9)
        #expect(rig.answers.last?.answer == .busy)
        #expect(rig.answers.last?.reason.contains("'os-patch'") == true)
        #expect(rig.answers.last?.reason.contains("run-1") == true)
        rig.run("run-1", fencing: 4)
        rig.run("run-1", fencing: 5)
        rig.run("run-2", fencing: 1)
        #expect(rig.results.count == 4)
        #expect(rig.results[1] == .init(runId: "run-1", fencing: 4, state: .running))
        #expect(rig.results[2].state == .refused && rig.results[2].fencing == 5)
        #expect(rig.results[3].state == .refused && rig.results[3].runId == "run-2")
        #expect(rig.results[3].reason.contains("'os-patch'") && rig.results[3].reason.contains("run-1"))

        rig.touch("release")
        #expect(rig.spin { rig.results.count == 5 })
        let finished = rig.results[4]
        #expect(finished.runId == "run-1" && finished.fencing == 4)
        #expect(finished.state == .finished)
        #expect(finished.exitStatus == 3)
        #expect(finished.reason == "exited with status 3")
        #expect(Set(finished.outputTail.split(separator: "\n")) == ["patching", "3 packages upgraded"])

        // A repeat after the end gets the same result; nothing runs again.
        rig.run("run-1", fencing: 4)
        #expect(rig.results.count == 6)
        #expect(rig.results[5] == finished)
        rig.query(10)
        #expect(rig.answers.last?.answer == .available, "free again")
        rig.spin(maxTicks: 10) { false }
        #expect(rig.lines("runs") == ["run --reboot"], "the pair ran once")
        #expect(rig.runner.running == nil)
        rig.finish()
    }

    @Test func anUnknownOperationIsRefused() throws {
        let rig = try patchRig()
        rig.run("run-1", "firmware")
        #expect(rig.results.count == 1)
        #expect(rig.results[0].state == .refused)
        #expect(rig.results[0].reason == "operation 'firmware' is not configured on this gateway")
        // Refusals are not recorded: the pair may still run once the operation exists. Nothing ran.
        #expect(rig.lines("runs").isEmpty)
        rig.finish()
    }

    @Test func aTimeoutKillsTheOperationAndSaysSo() throws {
        let rig = try patchRig(timeout: 1)
        rig.run("run-1")
        #expect(rig.spin { rig.results.count == 2 })
        #expect(rig.results[1].state == .finished)
        #expect(rig.results[1].exitStatus == -1)
        #expect(rig.results[1].reason == "timed out after 1 s")
        #expect(rig.results[1].outputTail == "patching")
        rig.finish()
    }

    @Test func aMissingProgramIsAFinishedResultNotACrash() throws {
        let rig = try RunnerRig { _ in
            MaintenanceConfig(operations: ["os-patch": .init(command: ["/nonexistent/patch-host"], timeoutSeconds: 60)])
        }
        rig.run("run-1")
        #expect(rig.spin { rig.results.count == 2 })
        #expect(rig.results.map(\.state) == [.running, .finished])
        #expect(rig.results[1].exitStatus == 127)
        #expect(rig.results[1].reason.hasPrefix("cannot start /nonexistent/patch-host"))
        rig.finish()
    }

    // MARK: Restarts

    @Test func aPairCutShortByAnAgentRestartIsFinishedWithMinusTwoAndNeverRunsAgain() throws {
        let first = try patchRig()
        first.run("run-1", fencing: 2)
        #expect(first.spin { first.lines("runs").count == 1 })
        let pid = try #require(first.runner.runningPid)
        // kill -9 of the agent: nothing is closed or written; the command is cut short too
        // (the host rebooted, or the agent's cgroup was killed).
        kill(-pid, SIGKILL)
        _ = first.loop.shutdown()

        // A new agent process on the same data_dir.
        let second = try RunnerRig(dir: first.dir) { dir in
            MaintenanceConfig(operations: ["os-patch": .init(command: ["/bin/sh", dir + "/patch.sh", "--reboot"], timeoutSeconds: 60)])
        }
        second.run("run-1", fencing: 2)
        #expect(second.results.count == 1)
        let r = try #require(second.results.first)
        #expect(r.state == .finished)
        #expect(r.exitStatus == -2)
        #expect(r.reason == "the agent restarted while the operation ran; its outcome is unknown")
        // And again after another restart: still the recorded answer.
        second.runner.close()
        try second.open(second.runner.config)
        second.run("run-1", fencing: 2)
        #expect(second.results.count == 2)
        #expect(second.results[1] == r)
        #expect(second.lines("runs").count == 1, "never ran again")

        // A new pair (the coordinator's next start of this host) runs.
        second.touch("release")
        second.run("run-1", fencing: 3)
        #expect(second.spin { second.results.count == 4 })
        #expect(second.results[2].state == .running)
        #expect(second.results[3].exitStatus == 3)
        #expect(second.lines("runs").count == 2)
        first.runner.close()
        second.finish()
    }

    @Test func aFinishedResultSurvivesARestart() throws {
        let first = try patchRig()
        first.touch("release")
        first.run("run-1", fencing: 1)
        #expect(first.spin { first.results.count == 2 })
        first.finish(keepFiles: true)

        let second = try RunnerRig(dir: first.dir) { dir in
            MaintenanceConfig(operations: ["os-patch": .init(command: ["/bin/sh", dir + "/patch.sh"], timeoutSeconds: 60)])
        }
        second.run("run-1", fencing: 1)
        #expect(second.results == [first.results[1]], "the recorded result, exit status and output tail included")
        #expect(second.lines("runs").count == 1)
        second.finish()
    }
}
