/// The schedule `GET /v1/maintenance/{id}` shows: per host, when it started or when it is
/// planned to, and what it waits for.
extension MaintenanceScheduler {
    public struct PlannedStart: Sendable, Equatable {
        public let gateway: String
        public let state: MaintenanceRun.Host.State
        /// When it started; for a host still waiting, the earliest time the policy lets it start
        /// (the window, cutoff_s, a busy host's next query, and for hosts behind the free slots an
        /// estimate from how long finished hosts took). nil when it cannot be foreseen.
        public let plannedStartMs: UInt64?
        public let waitingFor: String?
    }

    public func schedule(nowMs: UInt64) -> [PlannedStart] {
        let policy = run.policy
        let maxConcurrent = policy.maxConcurrent(ofHosts: run.hosts.count)
        let earliest = policy.openHours.earliestStart(fromMs: nowMs, cutoffSeconds: policy.cutoffSeconds)
        let free = max(0, maxConcurrent - run.outCount)
        let finished = run.hosts.filter { $0.state == .done }.compactMap { h in h.finishedMs.flatMap { f in h.startedMs.map { f - $0 } } }
        let typicalMs: UInt64? = finished.isEmpty ? nil : finished.reduce(0, +) / UInt64(finished.count)
        var queued = 0
        return run.hosts.map { host in
            if host.startedMs != nil || host.state.isFinal {
                return PlannedStart(gateway: host.gateway, state: host.state, plannedStartMs: host.startedMs, waitingFor: nil)
            }
            func waiting(_ why: String, at: UInt64? = nil) -> PlannedStart {
                PlannedStart(gateway: host.gateway, state: host.state, plannedStartMs: at, waitingFor: why)
            }
            guard run.state.startsHosts else { return waiting("the run is \(run.state.rawValue)") }
            guard let earliest else { return waiting("no window is longer than cutoff_s (\(policy.cutoffSeconds) s)") }
            let position = queued
            queued += 1
            var from = max(earliest, host.notBeforeMs ?? 0)
            if position >= free {
                guard let typicalMs else { return waiting(host.note ?? "a free slot (max_concurrent \(policy.maxConcurrent))") }
                from += UInt64((position - free) / maxConcurrent + 1) * typicalMs
            }
            let at = policy.openHours.earliestStart(fromMs: from, cutoffSeconds: policy.cutoffSeconds)
            if let note = host.note { return waiting(note, at: at) }
            if earliest > nowMs { return waiting("the window", at: at) }
            return waiting(position >= free ? "a free slot (max_concurrent \(policy.maxConcurrent))" : "its turn", at: at)
        }
    }
}
