/// Who is on a connection: the MQTT client identifier, the CONNECT username if any, and the
/// subject CN of the client certificate when the listener uses mutual TLS.
public struct ClientIdentity: Sendable, Equatable {
    public var clientId: String
    public var username: String?
    public var certificateCN: String?

    public init(clientId: String, username: String? = nil, certificateCN: String? = nil) {
        self.clientId = clientId
        self.username = username
        self.certificateCN = certificateCN
    }

    /// The names policies know this connection by: its username and its certificate CN, whichever
    /// it has (both if both). The client identifier is not a name: any client may pick any id.
    public var policyNames: Set<String> {
        var names = Set<String>()
        if let username { names.insert(username) }
        if let certificateCN { names.insert(certificateCN) }
        return names
    }

    /// The value `variable` takes in this connection's filters, or nil when it is missing or
    /// unusable (see `isUsableSubstitution`).
    func value(of variable: PolicyVariable) -> String? {
        let value: String?
        switch variable {
        case .clientid: value = clientId
        case .username: value = username
        case .cn: value = certificateCN
        }
        guard let value, Self.isUsableSubstitution(value) else { return nil }
        return value
    }

    /// A value may be put into a filter when it is non-empty and holds no '/', '+', '#' or U+0000:
    /// an empty value would change the filter's meaning ("devices//data"), and the others would
    /// add levels or wildcards (a device named "a/#" must not widen its own rule).
    static func isUsableSubstitution(_ value: String) -> Bool {
        guard !value.utf8.isEmpty else { return false }
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "/"), UInt8(ascii: "+"), UInt8(ascii: "#"), 0: return false
            default: continue
            }
        }
        return true
    }
}
