import Foundation

extension Render {
    /// `mappings list` from `{"mappings": {name: document}}`, read loosely (JSONSerialization):
    /// the document's shape belongs to the agents' validator and may grow.
    public static func mappings(_ raw: Data) throws(CLIFailure) -> String {
        guard let object = try? JSONSerialization.jsonObject(with: raw) as? [String: Any],
              let mappings = object["mappings"] as? [String: Any] else {
            throw CLIFailure(.server, "GET /v1/mappings: unexpected answer (no \"mappings\" object)")
        }
        guard !mappings.isEmpty else { return "no mappings" }
        var t = Table([.init("MAPPING"), .init("ENDPOINT", maxWidth: 60), .init("EVENTS"), .init("RECEIVE"), .init("REPLY")])
        for name in mappings.keys.sorted() {
            let m = mappings[name] as? [String: Any] ?? [:]
            t.add([name, endpoint(m["endpoint"]), (m["events"] as? [String])?.joined(separator: ",") ?? "-",
                   receive(m["receive"]), m["reply"] as? String ?? "-"])
        }
        return t.render()
    }

    /// A webhook's URL, or `mqtt:PREFIX` for the MQTT endpoint.
    static func endpoint(_ value: Any?) -> String {
        guard let e = value as? [String: Any] else { return "-" }
        if let url = e["url"] as? String { return url }
        if let mqtt = e["mqtt"] as? [String: Any] { return "mqtt:" + (mqtt["prefix"] as? String ?? "") }
        return "-"
    }

    /// The receive rule in a few words: `delimiter "\n"`, `length 16`, `idle 500ms`, with max bytes.
    static func receive(_ value: Any?) -> String {
        guard let r = value as? [String: Any] else { return "-" }
        var parts: [String] = []
        if let d = r["delimiter"] as? String { parts.append("delimiter " + quoted(d)) }
        if let n = r["length"] as? Int { parts.append("length \(n)") }
        if let p = r["length_prefix"] as? String { parts.append("length prefix \(p)") }
        if let ms = r["idle_ms"] as? Int { parts.append("idle \(ms)ms") }
        if let max = r["max_bytes"] as? Int { parts.append("max \(Format.bytes(UInt64(Swift.max(max, 0))))") }
        return parts.isEmpty ? "-" : parts.joined(separator: ", ")
    }

    /// Control characters spelt as escapes, so a `\n` delimiter shows as `"\n"`.
    static func quoted(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            default: out += u.value < 0x20 || u.value == 0x7F ? String(format: "\\x%02X", u.value) : String(u)
            }
        }
        return out + "\""
    }

    /// `sockets list`: the sockets the agents reported at their last report.
    public static func sockets(_ s: SocketsAnswer, now: UInt64) -> String {
        guard !s.sockets.isEmpty else { return "no open sockets" }
        var t = Table([.init("SOCKET"), .init("GATEWAY"), .init("MAPPING"), .init("CLIENT", maxWidth: 40), .init("IDENTITY", maxWidth: 32),
                       .init("OPENED", .right), .init("IN", .right), .init("OUT", .right), .init("CALLS", .right), .init("ERRORS", .right),
                       .init("STATE")])
        for x in s.sockets {
            t.add([x.socket_id, x.gateway, x.mapping, x.client_id, x.identity.flatMap { $0.isEmpty ? nil : $0 } ?? "-",
                   Format.ago(x.opened, now: now), Format.bytes(x.bytes_in), Format.bytes(x.bytes_out),
                   x.calls.map { Format.count($0) } ?? "-", x.errors.map { Format.count($0) } ?? "-", x.state])
        }
        return t.render()
    }
}
