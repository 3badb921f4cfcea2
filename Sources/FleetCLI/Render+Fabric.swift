extension Render {
    /// `graph`: the nodes (coordinator first), then the links between them.
    public static func graph(_ g: GraphAnswer, now: UInt64) -> String {
        var nodes = Table([.init("NODE"), .init("KIND"), .init("STATE"), .init("REGION")])
        for n in g.nodes { nodes.add([n.id, n.kind, n.state, n.region.flatMap { $0.isEmpty ? nil : $0 } ?? "-"]) }
        guard !g.edges.isEmpty else { return nodes.render() + "\n\nno links" }
        var edges = Table([.init("SOURCE"), .init("TARGET"), .init("KIND"), .init("STATE"), .init("UPDATED", .right)])
        for e in g.edges { edges.add([e.source, e.target, e.kind, e.state, Format.ago(e.updated_ms, now: now)]) }
        return nodes.render() + "\n\n" + edges.render()
    }

    /// `interest TOPIC`: which gateways want a message published on it, and by which filters.
    public static func interest(_ i: InterestAnswer) -> String {
        guard !i.gateways.isEmpty else { return "no gateway has interest in '\(i.topic)'" }
        var t = Table([.init("GATEWAY"), .init("FILTERS")])
        for m in i.gateways { t.add([m.gateway, m.filters.joined(separator: " ")]) }
        return t.render()
    }

    /// `migrations list`: handovers (newest last), then the policy's recent decisions; `limit`
    /// rows of each (the API keeps thousands).
    public static func migrations(_ m: MigrationsAnswer, limit: Int, now: UInt64) -> String {
        var out: [String] = []
        if m.handovers.isEmpty {
            out.append("no handovers")
        } else {
            out.append(handovers(Array(m.handovers.suffix(limit)), now: now)
                       + (m.handovers.count > limit ? "\n(\(m.handovers.count - limit) older handovers not shown; --limit N)" : ""))
        }
        if m.migrations.isEmpty {
            out.append("no policy decisions")
        } else {
            var t = Table([.init("DECIDED", .right), .init("CLIENT", maxWidth: 40), .init("FROM"), .init("TO"), .init("REASON"),
                           .init("STATE"), .init("MSG/S", .right)])
            for d in m.migrations.suffix(limit) {
                t.add([Format.ago(d.at_ms, now: now), d.client_id, d.from, d.to ?? "-", d.reason, d.state,
                       d.messages_per_second.map { Format.count(UInt64(max($0, 0))) } ?? "-"])
            }
            out.append(t.render() + (m.migrations.count > limit ? "\n(\(m.migrations.count - limit) older decisions not shown; --limit N)" : ""))
        }
        return out.joined(separator: "\n\n")
    }

    public static func handovers(_ items: [HandoverItem], now: UInt64) -> String {
        var t = Table([.init("HANDOVER", .right), .init("CLIENT", maxWidth: 40), .init("FROM"), .init("TO"), .init("REASON"),
                       .init("MODE"), .init("STATE"), .init("STALL", .right), .init("STARTED", .right), .init("OUTCOME", maxWidth: 40)])
        for h in items {
            t.add([String(h.id), h.client_id, h.from, h.to, h.reason, h.mode ?? "-", h.state,
                   h.stall_ms.map { Format.duration(ms: $0) } ?? "-", Format.ago(h.started_ms, now: now), h.outcome ?? "-"])
        }
        return t.render()
    }
}
