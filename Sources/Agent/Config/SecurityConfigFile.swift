import FleetConfig
import FleetCore
import Yams

/// The `tls:`, `auth:` and `policies:` sections of the agent's config file.
enum SecurityConfigFile {
    static func tls(_ node: Node, _ r: NodeReader) throws(ConfigError) -> TLSSettings {
        var cert: String?, key: String?
        var t = TLSSettings(certificateFile: "", keyFile: "")
        for (k, v) in try r.mapping(node, key: "tls") {
            let name = "tls.\(k)"
            switch k {
            case "cert": cert = try r.string(v, key: name)
            case "key": key = try r.string(v, key: name)
            case "ca": t.caFile = try r.string(v, key: name)
            case "client_auth": t.clientAuth = try r.choice(v, key: name, TLSSettings.ClientAuth.self)
            case "min_version":
                let version = try r.string(v, key: name)
                guard version == "1.2" || version == "1.3" else { throw r.error(v, key: name, "expected \"1.2\" or \"1.3\"") }
                t.minimumVersion = version
            case "ciphers": t.ciphers = try r.string(v, key: name)
            case "ciphersuites": t.cipherSuites = try r.string(v, key: name)
            case "alpn": t.alpn = try r.strings(v, key: name)
            case "handshake_timeout_ms": t.handshakeTimeoutMs = try r.integer(v, key: name, 100...600_000)
            case "max_concurrent_handshakes": t.maxConcurrentHandshakes = try r.integer(v, key: name, 1...1_000_000)
            default:
                throw r.unknown(v, key: name, known: ["cert", "key", "ca", "client_auth", "min_version", "ciphers", "ciphersuites",
                                                     "alpn", "handshake_timeout_ms", "max_concurrent_handshakes"])
            }
        }
        guard let cert, let key else { throw r.error(node, key: "tls", "needs both 'cert' and 'key'") }
        t.certificateFile = cert
        t.keyFile = key
        if t.clientAuth != .none && t.caFile == nil {
            throw r.error(node, key: "tls.ca", "client_auth \(t.clientAuth.rawValue) needs a CA file to verify client certificates")
        }
        return t
    }

    static func auth(_ node: Node, _ r: NodeReader) throws(ConfigError) -> AuthSettings {
        var a = AuthSettings()
        for (k, v) in try r.mapping(node, key: "auth") {
            let name = "auth.\(k)"
            switch k {
            case "allow_anonymous": a.allowAnonymous = try r.bool(v, key: name)
            case "password_file": a.passwordFile = try r.string(v, key: name)
            case "identity": a.identityField = try r.choice(v, key: name, AuthSettings.IdentityField.self)
            case "client_id_must_match": a.clientIdMustMatchIdentity = try r.bool(v, key: name)
            default: throw r.unknown(v, key: name, known: ["allow_anonymous", "password_file", "identity", "client_id_must_match"])
            }
        }
        return a
    }

    static func policies(_ node: Node, _ r: NodeReader) throws(ConfigError) -> PolicySet {
        var set = PolicySet()
        for (k, v) in try r.mapping(node, key: "policies") {
            let name = "policies.\(k)"
            switch k {
            case "default":
                let effect = try r.string(v, key: name)
                guard let e = PolicyEffect(rawValue: effect) else { throw r.error(v, key: name, "expected allow or deny") }
                set.defaultEffect = e
            case "everyone": set.everyone = try rules(v, r, key: name)
            case "identities":
                for (identity, list) in try r.mapping(v, key: name) {
                    set.identities[identity] = try rules(list, r, key: "\(name).\(identity)")
                }
            case "groups":
                for (group, body) in try r.mapping(v, key: name) {
                    let gk = "\(name).\(group)"
                    for (field, value) in try r.mapping(body, key: gk) {
                        switch field {
                        case "members": set.groupMembers[group] = Set(try r.strings(value, key: "\(gk).members"))
                        case "rules": set.groups[group] = try rules(value, r, key: "\(gk).rules")
                        default: throw r.unknown(value, key: "\(gk).\(field)", known: ["members", "rules"])
                        }
                    }
                }
            default: throw r.unknown(v, key: name, known: ["default", "everyone", "identities", "groups"])
            }
        }
        if let problem = set.validate().first {
            throw r.error(node, key: "policies", problem)
        }
        return set
    }

    private static func rules(_ node: Node, _ r: NodeReader, key: String) throws(ConfigError) -> [PolicyRule] {
        try r.sequence(node, key: key).enumerated().map { (i, item) throws(ConfigError) in
            let k = "\(key)[\(i)]"
            var effect: PolicyEffect?, actions: Set<PolicyAction> = [], filters: [String] = []
            for (field, value) in try r.mapping(item, key: k) {
                switch field {
                case "effect":
                    guard let e = PolicyEffect(rawValue: try r.string(value, key: "\(k).effect")) else {
                        throw r.error(value, key: "\(k).effect", "expected allow or deny")
                    }
                    effect = e
                case "actions":
                    for (j, a) in try r.sequence(value, key: "\(k).actions").enumerated() {
                        actions.insert(try r.choice(a, key: "\(k).actions[\(j)]", PolicyAction.self))
                    }
                case "filters": filters = try r.strings(value, key: "\(k).filters")
                default: throw r.unknown(value, key: "\(k).\(field)", known: ["effect", "actions", "filters"])
                }
            }
            guard let effect else { throw r.error(item, key: "\(k).effect", "a rule needs an effect: allow or deny") }
            return PolicyRule(effect: effect, actions: actions, filters: filters)
        }
    }
}
