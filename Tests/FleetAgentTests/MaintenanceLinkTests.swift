import Foundation
import Glibc
import Logging
import Testing
import FleetProtocol
import FleetRuntime
@testable import FleetAgent

/// The runner behind the real coordinator link (CoordinatorLink+Maintenance.swift), against the
/// fake coordinator of LinkHarnessTests: frames in, answers out with the gateway's figures, and a
/// result that missed a dropped link answered to the repeat after the reconnect.
@Suite struct MaintenanceLinkTests {
    /// Spins the rig's loop with SIGCHLD unblocked (see RunnerRig.spin).
    private func spin(_ rig: LinkRig, until done: () -> Bool) -> Bool {
        var unblock = sigset_t(), saved = sigset_t()
        sigemptyset(&unblock)
        sigaddset(&unblock, SIGCHLD)
        pthread_sigmask(SIG_UNBLOCK, &unblock, &saved)
        defer { pthread_sigmask(SIG_SETMASK, &saved, nil) }
        return rig.spin(until: done)
    }

    private func results(_ peer: LinkFakePeer?) -> [FleetFrame.MaintenanceResult] {
        (peer?.frames ?? []).compactMap { if case .maintenanceResult(let r) = $0 { r } else { nil } }
    }

    private func answers(_ peer: LinkFakePeer?) -> [FleetFrame.Availability] {
        (peer?.frames ?? []).compactMap { if case .availability(let a) = $0 { a } else { nil } }
    }

    @Test func framesReachTheRunnerAndAnswersCarryTheGatewaysFigures() throws {
        let rig = try LinkRig(start: false)
        let runner = try MaintenanceRunner(config: MaintenanceConfig(operations: ["os-patch": .init(command: ["/bin/true"], timeoutSeconds: 60)]),
                                           storePath: rig.dir + "/maintenance.db", loop: rig.loop, log: Logger(label: "test.maintenance"))
        rig.link.attachMaintenance(runner)
        rig.link.start(defaultAdvertise: rig.mqtt.localAddress)
        #expect(rig.waitEstablished())
        _ = try rig.client("dev-1", clean: false)
        _ = try rig.client("dev-2", clean: false)
        let peer = rig.fake.current
        peer?.send(.availabilityQuery(.init(queryId: 5, operation: "os-patch")))
        peer?.send(.availabilityQuery(.init(queryId: 6, operation: "firmware")))
        #expect(spin(rig) { answers(peer).count == 2 })
        #expect(answers(peer)[0] == .init(queryId: 5, answer: .available, connections: 2, sessions: 2, messagesInPerSecond: 0))
        #expect(answers(peer)[1].answer == .unknownOperation)
        #expect(answers(peer)[1].connections == 2 && answers(peer)[1].sessions == 2)

        peer?.send(.maintenanceRun(.init(runId: "r1", operation: "os-patch", fencing: 1)))
        #expect(spin(rig) { results(peer).count == 2 })
        #expect(results(peer).map(\.state) == [.running, .finished])
        #expect(results(peer)[1].exitStatus == 0)
        #expect(peer?.closed == false, "the link stays up")
        rig.finish()
        runner.close()
    }

    @Test func aResultThatMissedTheLinkIsAnsweredToTheRepeatAfterReconnecting() throws {
        let rig = try LinkRig(start: false)
        let patch = rig.dir + "/patch.sh"
        try "#!/bin/sh\necho run >> '\(rig.dir)/runs'\nwhile [ ! -f '\(rig.dir)/release' ]; do sleep 0.02; done\necho done\nexit 4\n"
            .write(toFile: patch, atomically: true, encoding: .utf8)
        let runner = try MaintenanceRunner(config: MaintenanceConfig(operations: ["os-patch": .init(command: ["/bin/sh", patch], timeoutSeconds: 60)]),
                                           storePath: rig.dir + "/maintenance.db", loop: rig.loop, log: Logger(label: "test.maintenance"))
        rig.link.attachMaintenance(runner)
        rig.link.start(defaultAdvertise: rig.mqtt.localAddress)
        #expect(rig.waitEstablished())
        let first = rig.fake.current
        let run = FleetFrame.MaintenanceRun(runId: "r1", operation: "os-patch", fencing: 7)
        first?.send(.maintenanceRun(run))
        #expect(spin(rig) { results(first).count == 1 })
        #expect(results(first)[0].state == .running)

        // The link drops and stays in its handshake; the command ends meanwhile.
        rig.fake.autoAck = false
        first?.stream.closeNow()
        #expect(spin(rig) { !rig.link.isEstablished })
        FileManager.default.createFile(atPath: rig.dir + "/release", contents: nil)
        #expect(spin(rig) { runner.running == nil })
        #expect(results(first).count == 1, "nothing could be sent")

        // Back up: the coordinator re-sends its instruction and hears how it ended.
        #expect(spin(rig) { rig.fake.peers.count >= 2 && rig.fake.current?.hello != nil })
        let second = rig.fake.current
        rig.fake.autoAck = true
        if let second { rig.fake.ack(second) }
        #expect(spin(rig) { rig.link.isEstablished })
        second?.send(.maintenanceRun(run))
        #expect(spin(rig) { results(second).count == 1 })
        let r = try #require(results(second).first)
        #expect(r.state == .finished)
        #expect(r.exitStatus == 4)
        #expect(r.outputTail == "done")
        let runs = (try? String(contentsOfFile: rig.dir + "/runs", encoding: .utf8)) ?? ""
        #expect(runs == "run\n", "ran once")
        rig.finish()
        runner.close()
    }
}
