import FleetCore
import Foundation

/// The mapping document (issue #14):
///
///     {"endpoint": {"url": "http://10.0.0.5:8080/fn", "headers": {"X-Api-Key": "..."}, "timeout_ms": 5000,
///                   "ca_file": "/etc/fleetgate/fn-ca.pem"}            // or {"mqtt": {"prefix": "devices/fn"}}
///      "events": ["open", "data", "close"],
///      "receive": {"delimiter": "\n"},    // or length / length_prefix / idle_ms (+ max_bytes); prefix
///      "reply": "write", "on_error": "close", "max_concurrency": 64,
///      "peer_wait_ms": 30000, "peer_and_data": false}                 // peering, issue #15
///
/// `receive` takes exactly one of `delimiter` (a string, its UTF-8 bytes, or a list of byte values
/// 0-255), `length`, `length_prefix` (`"u8"`, `"u16be"`, `"u32be"`) or `idle_ms`; `max_bytes` bounds
/// the delimiter, length-prefix and idle rules (not `length`); `prefix` is bytes like `delimiter`.
/// Numbers must be whole. Unknown keys are errors. A key given twice is not seen:
/// JSONSerialization keeps one of them.
extension SocketMapping {
    public init(json: String) throws(SocketMappingError) { try self.init(json: Array(json.utf8)) }

    public init(json: [UInt8]) throws(SocketMappingError) {
        guard json.count <= Self.maxDocumentBytes else { throw SocketMappingError("(document)", "longer than \(Self.maxDocumentBytes) bytes") }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(json)) } catch {
            throw SocketMappingError("(document)", "not JSON")
        }
        try self.init(object: object)
    }

    /// Checks a parsed document: JSONSerialization's objects, or a YAML config's (Yams `load`).
    public init(object: Any) throws(SocketMappingError) {
        let top = try Reader.object(object, "(document)", known: ["endpoint", "events", "receive", "reply", "on_error", "max_concurrency",
                                                                              "peer_wait_ms", "peer_and_data"])
        guard let endpointValue = top["endpoint"] else { throw SocketMappingError("endpoint", "missing") }
        let endpoint = try Reader.endpoint(endpointValue)
        var events = Set(Event.allCases)
        if let value = top["events"] {
            let list = try Reader.array(value, "events")
            guard !list.isEmpty else { throw SocketMappingError("events", "at least one of open, data, close") }
            events = []
            for (i, item) in list.enumerated() {
                let event: Event = try Reader.choice(item, "events[\(i)]")
                guard events.insert(event).inserted else { throw SocketMappingError("events[\(i)]", "\(event.rawValue) given twice") }
            }
        }
        let receive = try top["receive"].map(Reader.receive) ?? .passThrough
        let reply: Reply = try top["reply"].map { v throws(SocketMappingError) in try Reader.choice(v, "reply") } ?? .write
        let onError: OnError = try top["on_error"].map { v throws(SocketMappingError) in try Reader.choice(v, "on_error") } ?? .close
        let concurrency = try top["max_concurrency"].map { v throws(SocketMappingError) in
            try Reader.integer(v, "max_concurrency", Self.concurrencyRange)
        } ?? Self.defaultMaxConcurrency
        self.init(endpoint: endpoint, events: events, receive: receive, reply: reply, onError: onError, maxConcurrency: concurrency)
        if let v = top["peer_wait_ms"] { peerWaitMs = UInt64(try Reader.integer(v, "peer_wait_ms", Self.peerWaitRangeMs)) }
        if let v = top["peer_and_data"] { peerAndData = try Reader.boolean(v, "peer_and_data") }
        guard canonicalJSON.utf8.count <= Self.maxDocumentBytes else {
            throw SocketMappingError("(document)", "longer than \(Self.maxDocumentBytes) bytes in canonical form")
        }
    }

    /// The stored and pushed form: every field spelt out (defaults included), keys sorted by their
    /// bytes, no white space, only `"`, `\` and control characters escaped. Reads back to an equal
    /// mapping, and the same mapping always gives the same text (whatever platform wrote it).
    public var canonicalJSON: String {
        var receiveFields: [(String, CanonicalJSON)] = []
        switch receive.rule {
        case .delimiter(let d): receiveFields.append(("delimiter", .bytes(d)))
        case .length(let n): receiveFields.append(("length", .int(n)))
        case .lengthPrefix(let p): receiveFields.append(("length_prefix", .string(p.rawValue)))
        case .idle(let ms): receiveFields.append(("idle_ms", .int(Int(ms))))
        }
        if case .length = receive.rule {} else { receiveFields.append(("max_bytes", .int(receive.maxBytes))) }
        if !receive.prefix.isEmpty { receiveFields.append(("prefix", .bytes(receive.prefix))) }
        let endpointValue: CanonicalJSON
        switch endpoint {
        case .webhook(let w):
            var fields: [(String, CanonicalJSON)] = [
                ("url", .string(w.url)), ("headers", .object(w.headers.map { ($0.key, .string($0.value)) })),
                ("timeout_ms", .int(w.timeoutMs)),
            ]
            if let ca = w.caFile { fields.append(("ca_file", .string(ca))) }
            endpointValue = .object(fields)
        case .mqtt(let prefix):
            endpointValue = .object([("mqtt", .object([("prefix", .string(prefix))]))])
        }
        var fields: [(String, CanonicalJSON)] = [
            ("endpoint", endpointValue),
            ("events", .array(Event.allCases.filter(events.contains).map { .string($0.rawValue) })),
            ("receive", .object(receiveFields)),
            ("reply", .string(reply.rawValue)),
            ("on_error", .string(onError.rawValue)),
            ("max_concurrency", .int(maxConcurrency)),
        ]
        // The peering fields (issue #15) are spelt out only when not their defaults: a mapping
        // that does not use them keeps the text it had, and an agent from before #15 (which
        // refuses unknown keys) still takes it.
        if peerWaitMs != SocketLimits.defaultPeerWaitMs { fields.append(("peer_wait_ms", .int(Int(peerWaitMs)))) }
        if peerAndData { fields.append(("peer_and_data", .bool(true))) }
        let document = CanonicalJSON.object(fields)
        var out = ""
        document.write(to: &out)
        return out
    }
}

/// Typed reads of a parsed document, each failure naming its path.
private enum Reader {
    static func object(_ v: Any, _ path: String, known: Set<String>) throws(SocketMappingError) -> [String: Any] {
        guard let o = v as? [String: Any] else { throw SocketMappingError(path, "must be an object") }
        for key in o.keys.sorted() where !known.contains(key) {
            throw SocketMappingError(path == "(document)" ? key : "\(path).\(key)", "unknown key (known: \(known.sorted().joined(separator: ", ")))")
        }
        return o
    }

    static func array(_ v: Any, _ path: String) throws(SocketMappingError) -> [Any] {
        guard let a = v as? [Any] else { throw SocketMappingError(path, "must be a list") }
        return a
    }

    static func string(_ v: Any, _ path: String, bytes range: ClosedRange<Int>) throws(SocketMappingError) -> String {
        guard let s = v as? String else { throw SocketMappingError(path, "must be a string") }
        guard range.contains(s.utf8.count) else { throw SocketMappingError(path, "must be \(range.lowerBound)-\(range.upperBound) bytes") }
        return s
    }

    /// A whole number in `range`. JSONSerialization gives NSNumber (booleans too, with objCType
    /// "c"); YAML gives Int and Bool.
    static func integer(_ v: Any, _ path: String, _ range: ClosedRange<Int>) throws(SocketMappingError) -> Int {
        var value: Int?
        if let n = v as? NSNumber, !(v is String) {
            let isBool = String(cString: n.objCType) == "c" || type(of: v) == Bool.self
            if !isBool { value = Int(exactly: n.doubleValue) }
        } else if let i = v as? Int {
            value = i
        }
        guard let value else { throw SocketMappingError(path, "must be a whole number") }
        guard range.contains(value) else { throw SocketMappingError(path, "must be \(range.lowerBound)-\(range.upperBound)") }
        return value
    }

    /// true or false. JSONSerialization gives NSNumber with objCType "c"; YAML gives Bool.
    static func boolean(_ v: Any, _ path: String) throws(SocketMappingError) -> Bool {
        if let b = v as? Bool, !(v is String) {
            if let n = v as? NSNumber, String(cString: n.objCType) != "c", type(of: v) != Bool.self {
                throw SocketMappingError(path, "must be true or false")
            }
            return b
        }
        throw SocketMappingError(path, "must be true or false")
    }

    static func choice<T: RawRepresentable & CaseIterable>(_ v: Any, _ path: String) throws(SocketMappingError) -> T where T.RawValue == String {
        let names = T.allCases.map(\.rawValue)
        guard let s = v as? String, let c = T(rawValue: s) else { throw SocketMappingError(path, "must be one of \(names.joined(separator: ", "))") }
        return c
    }

    /// Bytes: a string (its UTF-8) or a list of byte values.
    static func bytes(_ v: Any, _ path: String) throws(SocketMappingError) -> [UInt8] {
        if let s = v as? String { return Array(s.utf8) }
        guard let list = v as? [Any] else { throw SocketMappingError(path, "must be a string or a list of byte values 0-255") }
        var out: [UInt8] = []
        for (i, item) in list.enumerated() { out.append(UInt8(try integer(item, "\(path)[\(i)]", 0...255))) }
        return out
    }

    static func endpoint(_ v: Any) throws(SocketMappingError) -> SocketMapping.Endpoint {
        let o = try object(v, "endpoint", known: ["url", "headers", "timeout_ms", "ca_file", "mqtt"])
        if let m = o["mqtt"] {
            for key in ["url", "headers", "timeout_ms", "ca_file"] where o[key] != nil {
                throw SocketMappingError("endpoint.\(key)", "not with mqtt")
            }
            let mqtt = try object(m, "endpoint.mqtt", known: ["prefix"])
            guard let p = mqtt["prefix"] else { throw SocketMappingError("endpoint.mqtt.prefix", "missing") }
            let prefix = try string(p, "endpoint.mqtt.prefix", bytes: 1...SocketMapping.maxTopicPrefixBytes)
            if let problem = topicPrefixProblem(prefix) { throw SocketMappingError("endpoint.mqtt.prefix", problem) }
            return .mqtt(prefix: prefix)
        }
        guard let u = o["url"] else { throw SocketMappingError("endpoint.url", "missing (or give endpoint.mqtt)") }
        let url = try string(u, "endpoint.url", bytes: 1...SocketMapping.maxURLBytes)
        let https = try checkURL(url)
        var headers: [String: String] = [:]
        if let h = o["headers"] {
            guard let given = h as? [String: Any] else { throw SocketMappingError("endpoint.headers", "must be an object") }
            guard given.count <= SocketMapping.maxHeaders else { throw SocketMappingError("endpoint.headers", "at most \(SocketMapping.maxHeaders)") }
            var seen = Set<String>()
            var total = 0
            for name in given.keys.sorted() {
                let path = "endpoint.headers.\(name)"
                try checkHeaderName(name, path)
                guard seen.insert(name.lowercased()).inserted else { throw SocketMappingError(path, "given twice (names ignore case)") }
                let value = try string(given[name]!, path, bytes: 0...SocketMapping.maxHeaderValueBytes)
                guard value.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                    throw SocketMappingError(path, "values are printable ASCII")
                }
                total += name.utf8.count + value.utf8.count
                headers[name] = value
            }
            guard total <= SocketMapping.maxHeaderBytes else {
                throw SocketMappingError("endpoint.headers", "more than \(SocketMapping.maxHeaderBytes) bytes of names and values")
            }
        }
        let timeout = try o["timeout_ms"].map { v throws(SocketMappingError) in
            try integer(v, "endpoint.timeout_ms", SocketMapping.timeoutRangeMs)
        } ?? SocketMapping.defaultTimeoutMs
        var caFile: String?
        if let c = o["ca_file"] {
            let path = try string(c, "endpoint.ca_file", bytes: 1...SocketMapping.maxCAFileBytes)
            guard https else { throw SocketMappingError("endpoint.ca_file", "only with an https url") }
            guard path.hasPrefix("/"), !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw SocketMappingError("endpoint.ca_file", "must be an absolute path")
            }
            caFile = path
        }
        return .webhook(.init(url: url, headers: headers, timeoutMs: timeout, caFile: caFile))
    }

    /// http or https, a host, no credentials, nothing but printable ASCII. Returns whether https.
    static func checkURL(_ url: String) throws(SocketMappingError) -> Bool {
        guard url.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw SocketMappingError("endpoint.url", "must be printable ASCII without spaces (percent-encode the rest)")
        }
        guard let c = URLComponents(string: url), let scheme = c.scheme?.lowercased() else {
            throw SocketMappingError("endpoint.url", "not a URL")
        }
        guard scheme == "http" || scheme == "https" else { throw SocketMappingError("endpoint.url", "must be http or https") }
        guard let host = c.host, !host.isEmpty else { throw SocketMappingError("endpoint.url", "has no host") }
        guard c.user == nil && c.password == nil else {
            throw SocketMappingError("endpoint.url", "no user name or password in the URL (logs show URLs): use endpoint.headers")
        }
        guard c.fragment == nil else { throw SocketMappingError("endpoint.url", "no #fragment") }
        return scheme == "https"
    }

    static func checkHeaderName(_ name: String, _ path: String) throws(SocketMappingError) {
        // RFC 9110 §5.6.2 token.
        let tchar = Set("!#$%&'*+-.^_`|~".utf8)
        guard (1...SocketMapping.maxHeaderNameBytes).contains(name.utf8.count),
              name.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) || tchar.contains($0) })
        else { throw SocketMappingError(path, "header names are 1-\(SocketMapping.maxHeaderNameBytes) bytes of an HTTP token") }
        let lower = name.lowercased()
        guard !["host", "content-length", "transfer-encoding", "connection"].contains(lower), !lower.hasPrefix("x-fleetgate-") else {
            throw SocketMappingError(path, "set by the agent itself")
        }
    }

    /// A topic name prefix every socket's topics start with: no wildcards, no NUL, not a `$`
    /// topic, no empty level at the end (the agent adds `/<socket-id>/...`).
    static func topicPrefixProblem(_ prefix: String) -> String? {
        if prefix.contains("+") || prefix.contains("#") { return "no wildcards (+, #)" }
        if prefix.unicodeScalars.contains(where: { $0.value == 0 }) { return "no NUL" }
        if prefix.hasPrefix("$") { return "must not start with $ (subscribers to # would not see it)" }
        if prefix.hasSuffix("/") { return "must not end with /" }
        return nil
    }

    static func receive(_ v: Any) throws(SocketMappingError) -> ReceiveCriteria {
        let o = try object(v, "receive", known: ["delimiter", "length", "length_prefix", "max_bytes", "idle_ms", "prefix"])
        let rules = ["delimiter", "length", "length_prefix", "idle_ms"].filter { o[$0] != nil }
        guard rules.count == 1 else {
            if rules.isEmpty && o["max_bytes"] != nil { throw SocketMappingError("receive.idle_ms", "max_bytes needs idle_ms (or use length)") }
            throw SocketMappingError("receive", "exactly one of delimiter, length, length_prefix, idle_ms (given: \(rules.joined(separator: ", ")))")
        }
        let hard = SocketLimits.maxChunkBytes
        let rule: ReceiveCriteria.Rule
        switch rules[0] {
        case "delimiter": rule = .delimiter(try bytes(o["delimiter"]!, "receive.delimiter"))
        case "length": rule = .length(try integer(o["length"]!, "receive.length", 1...hard))
        case "length_prefix": rule = .lengthPrefix(try choice(o["length_prefix"]!, "receive.length_prefix"))
        default: rule = .idle(ms: UInt64(try integer(o["idle_ms"]!, "receive.idle_ms", 1...Int(SocketLimits.maxIdleMs))))
        }
        let maxBytes = try o["max_bytes"].map { v throws(SocketMappingError) in try integer(v, "receive.max_bytes", 1...hard) }
        let prefix = try o["prefix"].map { v throws(SocketMappingError) in try bytes(v, "receive.prefix") } ?? []
        if o["prefix"] != nil && prefix.isEmpty { throw SocketMappingError("receive.prefix", "must be 1-\(SocketLimits.maxPrefixBytes) bytes") }
        do {
            return try ReceiveCriteria(rule: rule, maxBytes: maxBytes, prefix: prefix)
        } catch {
            throw SocketMappingError("receive.\(error.field)", error.message)
        }
    }
}

/// Just enough JSON to write canonical documents.
private indirect enum CanonicalJSON {
    case string(String)
    case int(Int)
    case bool(Bool)
    case array([CanonicalJSON])
    case object([(String, CanonicalJSON)])

    /// A string when the bytes are UTF-8 (readable: "\n"), else the list of byte values.
    static func bytes(_ b: [UInt8]) -> CanonicalJSON {
        if let s = String(validating: b, as: UTF8.self) { return .string(s) }
        return .array(b.map { .int(Int($0)) })
    }

    func write(to out: inout String) {
        switch self {
        case .string(let s): Self.quote(s, to: &out)
        case .int(let n): out += String(n)
        case .bool(let b): out += b ? "true" : "false"
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }).enumerated() {
                if i > 0 { out += "," }
                Self.quote(key, to: &out)
                out += ":"
                value.write(to: &out)
            }
            out += "}"
        }
    }

    static func quote(_ s: String, to out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}
