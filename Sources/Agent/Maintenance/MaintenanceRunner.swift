import FleetProtocol
import FleetRuntime
import Foundation
import Logging

/// The agent's side of maintenance (Protocol/agent-coordinator.md §5.21-§5.24, issue #13): answers the
/// coordinator's AVAILABILITY_QUERY and carries out its MAINTENANCE_RUN with the commands of the
/// `maintenance:` config section, through ``ChildProcess`` (never blocking the loop).
///
/// Rules:
/// - At most one operation at a time. A (run id, fencing) pair runs at most once, also across
///   agent restarts and kill -9: the pair is written to `MaintenanceStore` (synchronously, FULL)
///   before the command is spawned; `running` is answered after the spawn; `finished` when the
///   command ended and its end is recorded. A repeat of a pair gets what is recorded.
/// - A pair recorded as started and never finished (the agent died while it ran) is finished
///   with exit status -2 when the runner starts.
/// - Answers go to `send`; the coordinator link drops them while it is down, and the coordinator
///   re-sends its MAINTENANCE_RUN (and asks availability again) after reconnecting, so a result
///   that missed the link is answered from the store.
///
/// **Loop-thread only**, like the link that feeds it.
final class MaintenanceRunner {
    struct RunKey: Hashable {
        var runId: String
        var fencing: UInt64
    }

    /// The operation running now.
    private struct Current {
        let key: RunKey
        let operation: String
        var child: ChildProcess?
    }

    let config: MaintenanceConfig
    private let store: MaintenanceStore
    private let loop: EventLoop
    private let log: Logger
    private let wallClock: () -> UInt64
    /// Where answers go (AVAILABILITY, MAINTENANCE_RESULT). The link sets it.
    var send: (FleetFrame) -> Void = { _ in }

    private var current: Current?
    /// The availability command running now, and the queries waiting for it.
    private var availabilityCheck: ChildProcess?
    private var waitingQueries: [FleetFrame.AvailabilityQuery] = []
    /// Results whose finish could not be written (disk full): still answered to repeats.
    private var unrecorded: [RunKey: MaintenanceStore.Record] = [:]
    private var isClosed = false

    /// Opens (or creates) the store at `storePath` and finishes, with exit status -2, every pair
    /// a previous agent process started and never saw end.
    init(config: MaintenanceConfig?, storePath: String, loop: EventLoop, log: Logger,
         wallClock: @escaping () -> UInt64 = { UInt64(Date().timeIntervalSince1970 * 1000) }) throws {
        self.config = config ?? MaintenanceConfig()
        self.loop = loop
        self.log = log
        self.wallClock = wallClock
        store = try MaintenanceStore(path: storePath)
        for r in try store.finishInterrupted(nowMs: wallClock()) {
            log.warning("maintenance: run \(r.runId) fencing \(r.fencing) (\(r.operation)) was running when the agent stopped; its outcome is unknown (reported as exit status -2)")
        }
    }

    /// The operation running now, if any.
    var running: (runId: String, fencing: UInt64, operation: String)? {
        current.map { ($0.key.runId, $0.key.fencing, $0.operation) }
    }

    /// The operation's process (and process group) id, while it runs.
    var runningPid: Int32? { current?.child?.pid }

    /// Stops watching the commands (agent shutdown). An operation still running is left running
    /// and stays recorded as started: the next agent process reports it with exit status -2. An
    /// availability command is killed (nobody waits for it any more).
    func close() {
        guard !isClosed else { return }
        isClosed = true
        if let current {
            log.warning("maintenance: the agent stops while run \(current.key.runId) fencing \(current.key.fencing) (\(current.operation)) runs (pid \(current.child?.pid ?? 0)); it is left running and will be reported with exit status -2")
        }
        availabilityCheck?.kill()
        availabilityCheck = nil
        waitingQueries = []
        current = nil
        send = { _ in }
        store.close()
    }

    // MARK: AVAILABILITY_QUERY

    func received(_ query: FleetFrame.AvailabilityQuery) {
        guard !isClosed else { return }
        if let answer = immediateAnswer(query) { return reply(answer, to: query) }
        guard let argv = config.availability else { return reply(.init(queryId: query.queryId, answer: .available), to: query) }
        waitingQueries.append(query)
        guard availabilityCheck == nil else { return }  // answered together when it ends
        log.debug("maintenance: asking \(argv.joined(separator: " ")) whether this gateway is available")
        do {
            availabilityCheck = try ChildProcess(
                loop: loop, argv: argv, timeoutMilliseconds: UInt64(MaintenanceConfig.availabilityTimeoutSeconds) * 1000,
                onLine: { [log] output, line in log.debug("maintenance: availability [\(output)]: \(line)") },
                onExit: { [weak self] exit in self?.availabilityEnded(exit) })
        } catch {
            availabilityEnded(nil, failure: "cannot run the availability command: \(error)")
        }
    }

    /// Busy while an operation runs; unknown if the operation is not configured; else nil.
    private func immediateAnswer(_ query: FleetFrame.AvailabilityQuery) -> FleetFrame.Availability? {
        if let current {
            return .init(queryId: query.queryId, answer: .busy,
                         reason: "maintenance operation '\(current.operation)' is running (run \(current.key.runId), fencing \(current.key.fencing))")
        }
        if config.operations[query.operation] == nil {
            return .init(queryId: query.queryId, answer: .unknownOperation,
                         reason: "operation '\(query.operation)' is not configured on this gateway")
        }
        return nil
    }

    private func availabilityEnded(_ exit: ChildProcess.Exit?, failure: String? = nil) {
        availabilityCheck = nil
        let verdict: FleetFrame.Availability.Answer
        var reason: String
        if let exit, exit.status == 0 {
            verdict = .available
            reason = ""
            log.debug("maintenance: the availability command says available")
        } else {
            verdict = .busy
            let output = exit?.outputTail.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
            if let exit, exit.timedOut || exit.spawnFailure != nil || output.isEmpty {
                reason = "availability command: \(exit.reason)" + (output.isEmpty ? "" : ": \(output)")
            } else {
                reason = failure ?? output
            }
            reason = utf8Suffix(reason, maxBytes: FleetLimits.maxErrorMessageBytes)
            log.info("maintenance: busy: \(reason)")
        }
        let queries = waitingQueries
        waitingQueries = []
        for q in queries {
            // An operation may have started while the command ran: that answer wins.
            reply(immediateAnswer(q) ?? .init(queryId: q.queryId, answer: verdict, reason: reason), to: q)
        }
    }

    /// Sends an answer, saying whether the operation drains the gateway first (its `drain:`).
    private func reply(_ answer: FleetFrame.Availability, to query: FleetFrame.AvailabilityQuery) {
        var answer = answer
        answer.drainFirst = config.operations[query.operation]?.drain ?? true
        send(.availability(answer))
    }

    // MARK: MAINTENANCE_RUN

    func received(_ run: FleetFrame.MaintenanceRun) {
        guard !isClosed else { return }
        let key = RunKey(runId: run.runId, fencing: run.fencing)
        if current?.key == key { return reply(key, .running) }
        if let known = unrecorded[key] { return reply(known) }
        let recorded: MaintenanceStore.Record?
        do { recorded = try store.record(runId: run.runId, fencing: run.fencing) } catch {
            log.error("maintenance: cannot read the record of run \(run.runId) fencing \(run.fencing): \(error)")
            return reply(key, .refused, reason: "cannot read this gateway's maintenance record: \(error)")
        }
        if var recorded {
            if recorded.operation != run.operation {
                log.warning("maintenance: run \(run.runId) fencing \(run.fencing) asks for '\(run.operation)', recorded as '\(recorded.operation)': answering what is recorded")
            }
            if recorded.state == .running {
                // Started by this process, not running now, never finished: its end was lost.
                recorded = MaintenanceStore.Record(runId: run.runId, fencing: run.fencing, operation: recorded.operation, state: .finished,
                                                   exitStatus: MaintenanceStore.interruptedExitStatus, outputTail: "",
                                                   reason: MaintenanceStore.interruptedReason)
                record(finished: recorded)
            }
            return reply(recorded)
        }
        if let current {
            return reply(key, .refused, reason: "maintenance operation '\(current.operation)' is running (run \(current.key.runId), fencing \(current.key.fencing))")
        }
        guard let operation = config.operations[run.operation] else {
            return reply(key, .refused, reason: "operation '\(run.operation)' is not configured on this gateway")
        }
        start(key, name: run.operation, operation)
    }

    private func start(_ key: RunKey, name: String, _ operation: MaintenanceConfig.Operation) {
        do { try store.recordStart(runId: key.runId, fencing: key.fencing, operation: name, nowMs: wallClock()) } catch {
            log.error("maintenance: cannot record run \(key.runId) fencing \(key.fencing) before starting it: \(error)")
            return reply(key, .refused, reason: "cannot record the run before starting it: \(error)")
        }
        let label = "run \(key.runId) fencing \(key.fencing) (\(name))"
        log.info("maintenance: \(label): starting \(operation.command.joined(separator: " ")) (timeout \(operation.timeoutSeconds) s)")
        current = Current(key: key, operation: name, child: nil)
        do {
            current?.child = try ChildProcess(
                loop: loop, argv: operation.command, timeoutMilliseconds: UInt64(operation.timeoutSeconds) * 1000,
                onLine: { [log] output, line in log.info("maintenance: \(label) [\(output)]: \(line)") },
                onExit: { [weak self] exit in self?.operationEnded(key, name: name, exit) })
        } catch {
            // Only when the loop is shutting down or out of descriptors: the command never ran.
            reply(key, .running)
            return operationEnded(key, name: name, ChildProcess.Exit(status: 126, spawnFailure: "\(error)", reason: "cannot start: \(error)"))
        }
        reply(key, .running)
    }

    private func operationEnded(_ key: RunKey, name: String, _ exit: ChildProcess.Exit) {
        guard current?.key == key else { return }
        current = nil
        let label = "run \(key.runId) fencing \(key.fencing) (\(name))"
        if exit.status == 0 {
            log.info("maintenance: \(label): ended with exit status 0")
        } else {
            log.warning("maintenance: \(label): ended with exit status \(exit.status): \(exit.reason)")
        }
        let result = MaintenanceStore.Record(runId: key.runId, fencing: key.fencing, operation: name, state: .finished,
                                             exitStatus: exit.status, outputTail: utf8Suffix(exit.outputTail, maxBytes: FleetLimits.maxOutputTailBytes),
                                             reason: utf8Suffix(exit.reason, maxBytes: FleetLimits.maxErrorMessageBytes))
        record(finished: result)
        reply(result)
    }

    private func record(finished r: MaintenanceStore.Record) {
        do {
            try store.recordFinish(runId: r.runId, fencing: r.fencing, exitStatus: r.exitStatus, outputTail: r.outputTail,
                                   reason: r.reason, nowMs: wallClock())
            unrecorded[RunKey(runId: r.runId, fencing: r.fencing)] = nil
        } catch {
            log.error("maintenance: cannot record the end of run \(r.runId) fencing \(r.fencing): \(error); kept in memory")
            unrecorded[RunKey(runId: r.runId, fencing: r.fencing)] = r
        }
    }

    // MARK: Answers

    private func reply(_ key: RunKey, _ state: FleetFrame.MaintenanceResult.State, reason: String = "") {
        if state == .refused { log.notice("maintenance: run \(key.runId) fencing \(key.fencing) refused: \(reason)") }
        send(.maintenanceResult(.init(runId: key.runId, fencing: key.fencing, state: state,
                                      reason: utf8Suffix(reason, maxBytes: FleetLimits.maxErrorMessageBytes))))
    }

    private func reply(_ r: MaintenanceStore.Record) {
        send(.maintenanceResult(.init(runId: r.runId, fencing: r.fencing, state: r.state == .running ? .running : .finished,
                                      exitStatus: r.exitStatus, outputTail: r.outputTail, reason: r.reason)))
    }
}
