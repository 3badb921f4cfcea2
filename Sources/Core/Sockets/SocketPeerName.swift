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

/// The line another agent opens a cross-gateway link with, on this agent's socket listener
/// (issue #15): `PEER <socket-id> <secret>`, the secret as 32 lowercase or uppercase hex digits.
/// The coordinator gave both agents the socket ids and the secret (PEER_MATCH); the acceptor
/// checks them against what it was told to expect.
public struct SocketPeerConnect: Equatable, Hashable, Sendable {
    public static let secretBytes = 16
    /// The acceptor's socket.
    public var socketId: String
    public var secret: [UInt8]

    public init(socketId: String, secret: [UInt8]) { self.socketId = socketId; self.secret = secret }

    public init?(socketId: some Collection<UInt8>, secretHex: some Collection<UInt8>) {
        guard SocketPeerName.isValid(socketId), secretHex.count == 2 * Self.secretBytes else { return nil }
        var secret: [UInt8] = []
        var high: UInt8?
        for c in secretHex {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            if let h = high { secret.append(h << 4 | v); high = nil } else { high = v }
        }
        self.socketId = String(decoding: socketId, as: UTF8.self)
        self.secret = secret
    }

    public var line: [UInt8] {
        let hex = secret.map { b in String(b >> 4, radix: 16) + String(b & 0xF, radix: 16) }.joined()
        return Array("PEER \(socketId) \(hex)\n".utf8)
    }

    /// Compares in time independent of where the secrets differ.
    public func matches(_ secret: [UInt8]) -> Bool {
        guard secret.count == self.secret.count, secret.count == Self.secretBytes else { return false }
        var d: UInt8 = 0
        for i in 0..<secret.count { d |= secret[i] ^ self.secret[i] }
        return d == 0
    }
}
