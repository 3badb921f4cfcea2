/// Human renderings of the admin API's answers. Pure: values and `now` in, text out.
public enum Render {}

extension Render {
    /// `gateways list`: one row per gateway with its state and last load report.
    public static func gateways(_ gateways: [GatewayItem], now: UInt64) -> String {
        guard !gateways.isEmpty else { return "no gateways" }
        var t = Table([.init("GATEWAY"), .init("STATE"), .init("LINK"), .init("REGION"), .init("MQTT", maxWidth: 40),
                       .init("CONNS", .right), .init("MSG/S IN", .right), .init("MSG/S OUT", .right), .init("FILTERS", .right),
                       .init("LAST SEEN", .right)])
        for g in gateways {
            t.add([g.id, g.state, g.connected ? "up" : "down", g.region.flatMap { $0.isEmpty ? nil : $0 } ?? "-",
                   g.mqtt_address ?? "-",
                   g.load.map { Format.count(UInt64($0.connections)) } ?? "-",
                   g.load.map { Format.count(UInt64($0.messages_in_per_second)) } ?? "-",
                   g.load.map { Format.count(UInt64($0.messages_out_per_second)) } ?? "-",
                   g.interest_filters.map(String.init) ?? "-",
                   Format.ago(g.last_seen_ms, now: now)])
        }
        return t.render()
    }

    /// `gateways show`: every field, then the drain's progress and the top talkers.
    public static func gateway(_ g: GatewayItem, now: UInt64) -> String {
        var f = Fields()
        f.add("gateway", g.id)
        f.add("state", g.state)
        f.add("link", g.connected ? "up" + (g.remote_address.map { " from \($0)" } ?? "") : "down")
        f.add("mqtt address", g.mqtt_address)
        f.add("region", g.region.flatMap { $0.isEmpty ? nil : $0 })
        f.add("labels", Format.labels(g.labels))
        f.add("capacity weight", g.capacity_weight.map(String.init))
        f.add("software", g.software_version)
        f.add("registered", g.registered_ms.map { "\(Format.time($0)) (\(Format.ago($0, now: now)))" })
        f.add("last seen", Format.ago(g.last_seen_ms, now: now))
        f.add("session epoch", g.session_epoch.map(String.init))
        f.add("interest filters", g.interest_filters.map { "\($0)" + (g.durable_filters.map { " (\($0) durable)" } ?? "") })
        if let r = g.retention {
            f.add("held for it", "\(r.held_messages) messages, \(Format.bytes(UInt64(max(r.held_bytes, 0))))"
                  + (r.dropped_messages > 0 ? "; dropped \(r.dropped_messages) (\(Format.bytes(r.dropped_bytes)))" : ""))
        }
        if let l = g.load {
            f.add("connections", "\(l.connections)")
            f.add("messages/s", "\(l.messages_in_per_second) in, \(l.messages_out_per_second) out")
            f.add("bytes/s", "\(Format.bytes(l.bytes_in_per_second)) in, \(Format.bytes(l.bytes_out_per_second)) out")
        } else {
            f.add("load", "no report yet")
        }
        if let d = g.drain { f.add("drain", drainSummary(d)) }
        var out = f.render()
        if let talkers = g.load?.top_talkers, !talkers.isEmpty {
            var t = Table([.init("TOP TALKER", maxWidth: 48), .init("MSG/S", .right), .init("BYTES/S", .right)])
            for c in talkers { t.add([c.client_id, Format.count(UInt64(c.messages_per_second)), Format.bytes(c.bytes_per_second)]) }
            out += "\n\n" + t.render()
        }
        return out
    }

    public static func drainSummary(_ d: GatewayItem.Drain) -> String {
        "\(Format.count(UInt64(d.rate))) clients/s; list \(d.listed_complete ? "complete" : "incoming"), "
            + "\(d.waiting) waiting, \(d.started) started, \(d.moved) moved, \(d.not_started) not started"
    }
}
