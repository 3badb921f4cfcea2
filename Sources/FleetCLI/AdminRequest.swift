import Foundation

/// One call to the coordinator's admin API (docs/COORDINATOR.md "HTTP admin API"), built from a
/// command's arguments. Pure: tests check the method, path, query and body each command sends.
public struct AdminRequest: Sendable, Equatable {
    public enum Method: String, Sendable { case get = "GET", post = "POST", put = "PUT", delete = "DELETE" }

    public var method: Method
    /// Path segments, unencoded: `["v1", "gateways", id]`. Each is percent-encoded on its own, so
    /// an id with `/` or spaces stays one segment (the coordinator decodes `{id}`).
    public var segments: [String]
    public var query: [(String, String)]
    public var body: Data?

    public init(_ method: Method, _ segments: [String], query: [(String, String)] = [], body: Data? = nil) {
        self.method = method
        self.segments = segments
        self.query = query
        self.body = body
    }

    /// The encoded path and query: `/v1/gateways/gw%2F1?topic=a%2Fb`.
    public var target: String {
        var s = "/" + segments.map(Self.encode).joined(separator: "/")
        if !query.isEmpty { s += "?" + query.map { Self.encode($0.0) + "=" + Self.encode($0.1) }.joined(separator: "&") }
        return s
    }

    public static func == (a: AdminRequest, b: AdminRequest) -> Bool {
        a.method == b.method && a.segments == b.segments && a.query.elementsEqual(b.query, by: ==) && a.body == b.body
    }

    /// RFC 3986 unreserved characters stay; everything else (`/ ? & = + # %` and spaces) is
    /// escaped, so a topic such as `a/b&c=d` or `a+b` reaches the server as written.
    static func encode(_ s: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// A JSON object body with sorted keys (stable for tests and logs).
    static func json(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    }
}

// MARK: - the endpoints, one constructor each

extension AdminRequest {
    public static let gatewayList = AdminRequest(.get, ["v1", "gateways"])
    public static func gateway(_ id: String) -> AdminRequest { AdminRequest(.get, ["v1", "gateways", id]) }
    /// No `rate`: the coordinator's default (500 clients/s), and no body at all.
    public static func drain(_ id: String, rate: Double?) -> AdminRequest {
        AdminRequest(.post, ["v1", "gateways", id, "drain"], body: rate.map { json(["rate": $0]) })
    }
    public static func resume(_ id: String) -> AdminRequest { AdminRequest(.post, ["v1", "gateways", id, "resume"]) }
    public static func removeGateway(_ id: String) -> AdminRequest { AdminRequest(.delete, ["v1", "gateways", id]) }

    public static let graph = AdminRequest(.get, ["v1", "graph"])
    public static func interest(topic: String) -> AdminRequest { AdminRequest(.get, ["v1", "interest"], query: [("topic", topic)]) }

    public static let migrationList = AdminRequest(.get, ["v1", "migrations"])
    public static func move(client: String, to: String?, from: String?) -> AdminRequest {
        var body: [String: Any] = ["client_id": client]
        if let to { body["to"] = to }
        if let from { body["from"] = from }
        return AdminRequest(.post, ["v1", "migrations"], body: json(body))
    }

    public static let maintenanceList = AdminRequest(.get, ["v1", "maintenance"])
    public static func maintenanceRun(_ id: String) -> AdminRequest { AdminRequest(.get, ["v1", "maintenance", id]) }
    /// `verb`: pause, resume or cancel.
    public static func maintenanceEvent(_ id: String, _ verb: String) -> AdminRequest {
        AdminRequest(.post, ["v1", "maintenance", id, verb])
    }
    public static func createMaintenance(_ spec: MaintenanceSpec) -> AdminRequest {
        AdminRequest(.post, ["v1", "maintenance"], body: json(spec.body))
    }

    public static let mappingList = AdminRequest(.get, ["v1", "mappings"])
    /// The document goes as the user wrote it: the coordinator validates and canonicalises it.
    public static func putMapping(_ name: String, document: Data) -> AdminRequest {
        AdminRequest(.put, ["v1", "mappings", name], body: document)
    }
    public static func deleteMapping(_ name: String) -> AdminRequest { AdminRequest(.delete, ["v1", "mappings", name]) }

    public static let socketList = AdminRequest(.get, ["v1", "sockets"])
    public static func closeSocket(_ id: String) -> AdminRequest { AdminRequest(.delete, ["v1", "sockets", id]) }
}

/// `maintenance create`'s arguments as the body of `POST /v1/maintenance`: gateways by id, or a
/// selector (region and labels); a saved policy by name or an inline policy object.
public struct MaintenanceSpec: Sendable, Equatable {
    public enum Policy: Sendable, Equatable {
        case defaults
        case named(String)
        /// A JSON object, already parsed once to check it is one.
        case inline(Data)
    }

    public var operation: String
    public var gateways: [String]
    public var region: String?
    public var labels: [String: String]
    public var policy: Policy

    public init(operation: String, gateways: [String], region: String?, labels: [String: String], policy: Policy) {
        self.operation = operation
        self.gateways = gateways
        self.region = region
        self.labels = labels
        self.policy = policy
    }

    /// Checks what the server would refuse anyway, so the mistake is a usage error (exit 1) with
    /// the flag's name rather than a 400.
    public func validate() throws(CLIFailure) {
        if operation.isEmpty { throw CLIFailure(.usage, "--operation: a name is required") }
        if gateways.isEmpty && region == nil && labels.isEmpty {
            throw CLIFailure(.usage, "name the gateways: --gateway ID (repeatable), or a selector --region R / --label KEY=VALUE")
        }
        if !gateways.isEmpty && (region != nil || !labels.isEmpty) {
            throw CLIFailure(.usage, "--gateway cannot be combined with --region or --label")
        }
    }

    var body: [String: Any] {
        var object: [String: Any] = ["operation": operation]
        if !gateways.isEmpty {
            object["gateways"] = gateways
        } else {
            var selector: [String: Any] = [:]
            if let region { selector["region"] = region }
            if !labels.isEmpty { selector["labels"] = labels }
            object["gateways"] = selector
        }
        switch policy {
        case .defaults: break
        case .named(let name): object["policy"] = name
        case .inline(let data): object["policy"] = (try? JSONSerialization.jsonObject(with: data)) ?? [String: Any]()
        }
        return object
    }

    /// `KEY=VALUE` from `--label`.
    public static func parseLabel(_ text: String) throws(CLIFailure) -> (String, String) {
        guard let eq = text.firstIndex(of: "="), eq != text.startIndex else {
            throw CLIFailure(.usage, "--label \(text): expected KEY=VALUE")
        }
        return (String(text[..<eq]), String(text[text.index(after: eq)...]))
    }
}
