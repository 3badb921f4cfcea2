import FleetConfig
import Yams

extension ConfigFile {
    /// The `coordinator:` section (issue #4). Kept apart from ConfigFile.swift so the TLS/auth
    /// sections can grow there without conflicts.
    static func applyCoordinator(_ node: Node, _ r: NodeReader, _ config: inout AgentConfig) throws(ConfigError) {
        var c = config.coordinator ?? CoordinatorLinkConfig()
        for (k, v) in try r.mapping(node, key: "coordinator") {
            let key = "coordinator.\(k)"
            switch k {
            case "address": c.address = try r.listenAddress(v, key: key)
            case "token_file":
                let path = try r.string(v, key: key)
                _ = try CoordinatorLinkConfig.readToken(path, key: key, file: r.file, line: v.mark?.line)
                c.tokenFile = path
            case "gateway_id": c.gatewayId = try r.string(v, key: key)
            case "advertise":
                let text = try r.string(v, key: key)
                if case .failure(let f) = ListenAddress.parse(text) { throw r.error(v, key: key, f.reason) }
                c.advertise = text
            case "region": c.region = try r.string(v, key: key)
            case "labels":
                var labels: [String: String] = [:]
                for (lk, lv) in try r.mapping(v, key: key) { labels[lk] = try r.string(lv, key: "\(key).\(lk)") }
                c.labels = labels
            case "capacity": c.capacity = try r.integer(v, key: key, 0...UInt32.max)
            case "reconnect_min_ms": c.reconnectMinMs = try r.integer(v, key: key, 1...3_600_000)
            case "reconnect_max_ms": c.reconnectMaxMs = try r.integer(v, key: key, 1...3_600_000)
            case "max_unconfirmed_forwards": c.maxUnconfirmedForwards = try r.integer(v, key: key, 1...10_000_000)
            case "tls":
                for (tk, tv) in try r.mapping(v, key: key) {
                    let tlsKey = "\(key).\(tk)"
                    switch tk {
                    case "ca": c.tlsCAFile = try r.string(tv, key: tlsKey)
                    case "cert": c.tlsCertificateFile = try r.string(tv, key: tlsKey)
                    case "key": c.tlsKeyFile = try r.string(tv, key: tlsKey)
                    case "server_name": c.tlsServerName = try r.string(tv, key: tlsKey)
                    default: throw r.unknown(tv, key: tlsKey, known: ["ca", "cert", "key", "server_name"])
                    }
                }
            default:
                throw r.unknown(v, key: key, known: ["address", "token_file", "gateway_id", "advertise", "region", "labels",
                                                     "capacity", "reconnect_min_ms", "reconnect_max_ms", "max_unconfirmed_forwards", "tls"])
            }
        }
        // Completeness (gateway id, token, address) is checked after the flags, which may supply them.
        config.coordinator = c
    }
}
