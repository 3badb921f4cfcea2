/// What a source gateway presents when it relays a migrated client's MQTT stream to the target
/// (Protocol/agent-coordinator.md §10): the password of the CONNECT that opens the relay, whose user name is
/// `RelayCredential.username`. The target accepts it only for a session it holds whose relay
/// secret matches; the secret was made by the source at export and travelled inside the session
/// (the coordinator link carried it), so only the gateway that handed a session over can relay for
/// it. The client's identity rides along: the target never saw its certificate or password.
public struct RelayCredential: Equatable, Sendable {
    public static let username = "$fleetgate-relay"
    public static let secretBytes = 16
    static let formatVersion: UInt8 = 1

    public enum Kind: UInt8, Sendable {
        /// The client's live connection goes on at the target: this CONNECT is the source's, the
        /// session is the one just handed over (its will kept, nothing re-sent), and the target's
        /// CONNACK is for the source only.
        case handover = 1
        /// The client connected again to the source: this is its own CONNECT (user name and
        /// password replaced), served as any CONNECT, and the CONNACK is the client's.
        case connect = 2
    }

    public var kind: Kind
    public var secret: [UInt8]
    /// Who the source authenticated the client as.
    public var username: String?
    public var certificateIdentity: String?
    /// MQTT 5 topic aliases the client set on its connection (handover only): it will keep using
    /// them on the same connection.
    public var inboundAliases: [(alias: UInt16, topic: String)]

    public init(kind: Kind, secret: [UInt8], username: String? = nil, certificateIdentity: String? = nil,
                inboundAliases: [(alias: UInt16, topic: String)] = []) {
        self.kind = kind; self.secret = secret; self.username = username
        self.certificateIdentity = certificateIdentity; self.inboundAliases = inboundAliases
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.kind == b.kind && a.secret == b.secret && a.username == b.username && a.certificateIdentity == b.certificateIdentity
            && a.inboundAliases.elementsEqual(b.inboundAliases) { $0.alias == $1.alias && $0.topic == $1.topic }
    }

    /// The password bytes; nil when they would not fit a CONNECT password (65,535 bytes), which only
    /// a very large alias table can cause (the caller then leaves aliases out).
    public func encoded() -> [UInt8]? {
        var w = ByteWriter(capacity: 64)
        w.writeU8(Self.formatVersion)
        w.writeU8(kind.rawValue)
        w.writeBytes(secret.prefix(Self.secretBytes))
        w.writeU8((username == nil ? 0 : 1) | (certificateIdentity == nil ? 0 : 2))
        for name in [username, certificateIdentity].compactMap({ $0 }) {
            guard name.utf8.count <= ProtocolLimits.maxStringBytes else { return nil }
            w.writeString(name)
        }
        guard inboundAliases.count <= Int(UInt16.max) else { return nil }
        w.writeU16(UInt16(inboundAliases.count))
        for (alias, topic) in inboundAliases {
            guard topic.utf8.count <= ProtocolLimits.maxStringBytes, w.count + 4 + topic.utf8.count <= ProtocolLimits.maxStringBytes else {
                return nil
            }
            w.writeU16(alias)
            w.writeString(topic)
        }
        return w.count <= ProtocolLimits.maxStringBytes ? w.bytes : nil
    }

    /// Reads a relay password; the error says what is wrong (the target logs it and refuses with
    /// "bad user name or password").
    public init(password: [UInt8]) throws(MQTTDecodeError) {
        guard password.count <= ProtocolLimits.maxStringBytes else { throw .malformed("relay credential too long") }
        let result: Result<RelayCredential, MQTTDecodeError> = password.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            do throws(ByteReaderError) {
                guard try r.readU8() == Self.formatVersion else { return .failure(.malformed("relay credential format unknown")) }
                guard let kind = Kind(rawValue: try r.readU8()) else { return .failure(.malformed("relay credential kind unknown")) }
                let secret = try r.readBytes(Self.secretBytes)
                let flags = try r.readU8()
                guard flags & ~0x03 == 0 else { return .failure(.malformed("relay credential flags 0x\(String(flags, radix: 16))")) }
                let username = flags & 1 != 0 ? try r.readString() : nil
                let identity = flags & 2 != 0 ? try r.readString() : nil
                var aliases: [(alias: UInt16, topic: String)] = []
                for _ in 0..<(try r.readU16()) {
                    let alias = try r.readU16()
                    guard alias > 0 else { return .failure(.malformed("relay credential: topic alias 0")) }
                    aliases.append((alias, try r.readString()))
                }
                guard r.isAtEnd else { return .failure(.malformed("relay credential: \(r.remaining) bytes after its end")) }
                return .success(RelayCredential(kind: kind, secret: secret, username: username, certificateIdentity: identity,
                                                inboundAliases: aliases))
            } catch {
                return .failure(.malformed("relay credential: \(error)"))
            }
        }
        self = try result.get()
    }

    /// Compares secrets in time independent of where they differ.
    public static func secretsMatch(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count, a.count == secretBytes else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
