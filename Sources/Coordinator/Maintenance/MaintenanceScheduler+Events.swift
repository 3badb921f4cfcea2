/// What each event does to the run. An event that does not fit the host's step (a repeat, a late
/// answer, a report with another fencing number) changes nothing: the runtime may deliver twice.
extension MaintenanceScheduler {
    mutating func apply(_ event: Event, nowMs: UInt64, into actions: inout [Action]) {
        switch event {
        case .availability(let gateway, let answer, let drainFirst):
            guard let i = index(gateway) else { return }
            availability(i, answer, nowMs: nowMs)
            if answer == .available && run.hosts[i].state == .scheduled { run.hosts[i].drainFirst = drainFirst ? nil : false }
        case .drainFinished(let gateway):
            guard let i = index(gateway) else { return }
            instruct(i, nowMs: nowMs, into: &actions)
        case .operationFinished(let gateway, let fencing, let exitStatus, let tail):
            guard let i = index(gateway), run.hosts[i].fencing == fencing else { return }
            operationFinished(i, exitStatus: exitStatus, tail: tail, nowMs: nowMs, into: &actions)
        case .rejoined(let gateway):
            guard let i = index(gateway), run.hosts[i].state == .rejoining else { return }
            run.hosts[i].state = .verifying
            run.hosts[i].stepSinceMs = nowMs
            actions.append(.verify(gateway: gateway, healthyForMs: UInt64(run.policy.verify.healthySeconds) * 1000))
        case .healthy(let gateway):
            guard let i = index(gateway), run.hosts[i].state == .verifying else { return }
            run.hosts[i].state = .done
            run.hosts[i].finishedMs = nowMs
            run.hosts[i].lease = nil
        case .unhealthy(let gateway, let reason):
            guard let i = index(gateway), run.hosts[i].state == .rejoining || run.hosts[i].state == .verifying else { return }
            // Its operation is over (it exited 0): the slot is free, the failure counts.
            run.hosts[i].lease = nil
            fail(i, "unhealthy after the operation: \(reason)", nowMs: nowMs, into: &actions)
        case .pause:
            if run.state.startsHosts { run.state = .paused }
        case .resume:
            if run.state == .paused { run.state = run.hosts.contains { $0.startedMs != nil } ? .running : .scheduled }
        case .cancel:
            guard !run.state.isEnded else { return }
            run.state = .cancelled
            run.reason = "cancelled by the operator"
            abandonUnstarted(because: "run cancelled", nowMs: nowMs, into: &actions)
        case .refused(let gateway, let reason):
            guard let i = index(gateway), [.pending, .querying, .scheduled, .running].contains(run.hosts[i].state) else { return }
            run.hosts[i].lease = nil
            fail(i, "refused: \(reason)", nowMs: nowMs, into: &actions)
        case .release(let gateway):
            guard let i = index(gateway), run.hosts[i].isOut else { return }
            run.hosts[i].lease = nil
            run.hosts[i].note = "slot released by the operator"
            if !run.hosts[i].state.isFinal {
                fail(i, "released by the operator while \(run.hosts[i].state.rawValue)", nowMs: nowMs, into: &actions)
            }
        }
    }

    private func index(_ gateway: String) -> Int? { run.hosts.firstIndex { $0.gateway == gateway } }

    private mutating func availability(_ i: Int, _ answer: Availability, nowMs: UInt64) {
        let host = run.hosts[i]
        if host.state == .querying {
            switch answer {
            case .available:
                run.hosts[i].state = .scheduled
                run.hosts[i].availableAtMs = nowMs
                run.hosts[i].notBeforeMs = nil
                run.hosts[i].note = nil
            case .busy(let reason):
                run.hosts[i].state = .pending
                run.hosts[i].notBeforeMs = nowMs + timing.busyRetryMs
                run.hosts[i].note = "busy: \(reason)"
            }
        } else if host.lease?.expired == true, answer == .available {
            // Back after its lease expired and not running anything: the agent answers busy while
            // an operation runs, so "available" is the evidence that frees the slot.
            run.hosts[i].lease = nil
            run.hosts[i].note = "answered available after its lease expired: slot free"
        }
    }

    private mutating func operationFinished(_ i: Int, exitStatus: Int32, tail: String, nowMs: UInt64, into actions: inout [Action]) {
        let host = run.hosts[i]
        if host.state == .running {
            run.hosts[i].exitStatus = exitStatus
            run.hosts[i].outputTail = tail
            if exitStatus == 0 {
                run.hosts[i].state = .rejoining
                run.hosts[i].stepSinceMs = nowMs
                actions.append(.resumeGateway(host.gateway))
            } else {
                // Over, so its slot is free. The gateway stays drained for the operator to look
                // at (and `min_active` counts it as not active meanwhile).
                run.hosts[i].lease = nil
                fail(i, "exit status \(exitStatus)", nowMs: nowMs, into: &actions)
            }
        } else if host.lease?.expired == true {
            // A late report from a host whose lease had expired: the operation is over, so the
            // slot comes back; the host stays failed (it was already counted).
            run.hosts[i].exitStatus = exitStatus
            run.hosts[i].outputTail = tail
            run.hosts[i].lease = nil
            run.hosts[i].note = "reported exit status \(exitStatus) after its lease expired: slot free"
        }
    }

    /// A host failed. Past `max_errors` the run stops: `max_errors: N` tolerates N failed hosts.
    mutating func fail(_ i: Int, _ error: String, nowMs: UInt64, into actions: inout [Action]) {
        run.hosts[i].state = .failed
        run.hosts[i].error = error
        run.hosts[i].finishedMs = nowMs
        let tolerated = run.policy.maxErrors(ofHosts: run.hosts.count)
        guard !run.state.isEnded, run.failedCount > tolerated else { return }
        let reason = "max_errors \(run.policy.maxErrors) tolerates \(tolerated) failed host\(tolerated == 1 ? "" : "s"), "
            + "\(run.failedCount) failed; the last: \(run.hosts[i].gateway): \(error)"
        run.state = .stopped
        run.reason = reason
        abandonUnstarted(because: "run stopped: \(reason)", nowMs: nowMs, into: &actions)
        actions.append(.stopRun(reason: reason))
    }

    /// Hosts not told to run yet are skipped; a drain in progress is undone (it ran nothing).
    mutating func abandonUnstarted(because reason: String, nowMs: UInt64, into actions: inout [Action]) {
        for i in run.hosts.indices {
            switch run.hosts[i].state {
            case .pending, .querying, .scheduled:
                break
            case .draining:
                run.hosts[i].lease = nil
                actions.append(.resumeGateway(run.hosts[i].gateway))
            default:
                continue
            }
            run.hosts[i].state = .skipped
            run.hosts[i].error = reason
            run.hosts[i].finishedMs = nowMs
        }
    }

    /// Leases of hosts that are out: renewed while the gateway is connected (at most once per
    /// `leaseRenewMs`, so a quiet run is not rewritten every tick); past the TTL unseen, the host
    /// has failed but keeps its slot. A host back after that is asked whether it is available:
    /// only its answer (or its late report, or the operator) frees the slot.
    mutating func watchLeases(_ byId: [String: Gateway], nowMs: UInt64, into actions: inout [Action]) {
        for i in run.hosts.indices {
            guard var lease = run.hosts[i].lease else { continue }
            let gateway = run.hosts[i].gateway
            let connected = byId[gateway].map { $0.state != .down } ?? false
            if lease.expired {
                if connected && (run.hosts[i].stepSinceMs.map { nowMs >= $0 + timing.busyRetryMs } ?? true) {
                    run.hosts[i].stepSinceMs = nowMs
                    actions.append(.queryAvailability(gateway: gateway))
                }
            } else if connected {
                if lease.expiresAtMs + timing.leaseRenewMs <= nowMs + timing.leaseTTLMs {
                    lease.expiresAtMs = nowMs + timing.leaseTTLMs
                    run.hosts[i].lease = lease
                }
            } else if nowMs >= lease.expiresAtMs {
                lease.expired = true
                run.hosts[i].lease = lease
                let step = run.hosts[i].state.rawValue
                // The release query goes out once it is seen again, not before.
                run.hosts[i].stepSinceMs = nil
                guard !run.hosts[i].state.isFinal else { continue }
                fail(i, "lease expired: not seen for \(timing.leaseTTLMs / 1000) s while \(step); its slot stays taken until it is seen again or released",
                     nowMs: nowMs, into: &actions)
            }
        }
    }
}
