extension Render {
    /// `maintenance list`: every run, newest first (the API's order).
    public static func maintenanceRuns(_ runs: [MaintenanceListAnswer.Run], now: UInt64) -> String {
        guard !runs.isEmpty else { return "no maintenance runs" }
        var t = Table([.init("RUN"), .init("OPERATION"), .init("STATE"), .init("HOSTS", .right), .init("BY STATE", maxWidth: 60),
                       .init("CREATED", .right), .init("FINISHED", .right)])
        for r in runs {
            t.add([r.id, r.operation, r.state, String(r.hosts), byState(r.by_state), Format.ago(r.created, now: now),
                   Format.ago(r.finished, now: now)])
        }
        return t.render()
    }

    /// `maintenance show` (and the answer to create, pause, resume, cancel): the run, then its hosts.
    public static func maintenanceRun(_ r: MaintenanceRunAnswer, now: UInt64) -> String {
        var f = Fields()
        f.add("run", r.id)
        f.add("operation", r.operation)
        f.add("state", r.state + (r.reason.map { " (\($0))" } ?? ""))
        f.add("created", r.created.map { "\(Format.time($0)) (\(Format.ago($0, now: now)))" })
        if let finished = r.finished { f.add("finished", "\(Format.time(finished)) (\(Format.ago(finished, now: now)))") }
        guard !r.hosts.isEmpty else { return f.render() }
        var t = Table([.init("GATEWAY"), .init("STATE"), .init("PLANNED START"), .init("STARTED", .right), .init("FINISHED", .right),
                       .init("EXIT", .right), .init("NOTE", maxWidth: 60)])
        for h in r.hosts {
            t.add([h.gateway, h.state, Format.time(h.planned_start), Format.ago(h.started, now: now), Format.ago(h.finished, now: now),
                   h.exit_status.map(String.init) ?? "-", h.error ?? h.waiting_for ?? "-"])
        }
        return f.render() + "\n\n" + t.render()
    }

    /// {"done": 4, "running": 2} -> "done 4, running 2" (sorted by state name).
    static func byState(_ counts: [String: Int]?) -> String {
        guard let counts, !counts.isEmpty else { return "-" }
        return counts.keys.sorted().map { "\($0) \(counts[$0]!)" }.joined(separator: ", ")
    }
}
