/// A gateway's advertised MQTT address ("host:port", HELLO), as devices see it: what a connection
/// migration's redirect (MQTT 5 Server Reference) tells them to connect to.
public enum AdvertisedAddress {
    /// "0.0.0.0:1883", "[::]:1883", ":1883" or empty: a bind-all address nobody can connect to.
    public static func isWildcard(_ address: String) -> Bool {
        if address == "::" || address == "[::]" { return true }
        guard let colon = address.lastIndex(of: ":") else { return address.isEmpty || address == "0.0.0.0" }
        var host = address[..<colon]
        if host.hasPrefix("[") && host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return host.isEmpty || host == "0.0.0.0" || host == "::" || host == "*"
    }
}
