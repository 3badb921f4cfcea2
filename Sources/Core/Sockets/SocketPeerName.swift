/// The names of socket peering (issue #15): what an endpoint answers as a socket's peer, and the
/// ids a device may ask for with `id=<name>`.
public enum SocketPeerName {
    /// A peer named by an endpoint: a socket id ("<gateway id>-<n>" or a requested id) or a
    /// rendezvous name: 1-160 bytes of printable ASCII without spaces (0x21-0x7E).
    public static func isValid(_ name: some Collection<UInt8>) -> Bool {
        !name.isEmpty && name.count <= SocketLimits.maxPeerNameBytes && name.allSatisfy { (0x21...0x7E).contains($0) }
    }

    public static func isValid(_ name: String) -> Bool { isValid(name.utf8) }

    /// An id a device may ask for: 1-128 bytes of [A-Za-z0-9._-] (the mapping-name alphabet), not
    /// ending in `-<digits>`: that form is the gateway's own ("<gateway id>-<n>"), so a requested
    /// id can never take one the gateway will hand out.
    public static func isRequestable(_ name: some Collection<UInt8>) -> Bool {
        guard name.count <= SocketLimits.maxRequestedIdBytes, SocketHandshake.isMappingName(name) else { return false }
        let digits = name.reversed().prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }.count
        if digits > 0 && digits < name.count && name.reversed().dropFirst(digits).first == UInt8(ascii: "-") { return false }
        return true
    }

    public static func isRequestable(_ name: String) -> Bool { isRequestable(name.utf8) }
}
