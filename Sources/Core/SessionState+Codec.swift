import FleetProtocol

/// A stored session or message that cannot be read back. Names what was wrong so an operator
/// can tell a truncated file from a newer format.
public struct SessionCodecError: Error, Equatable, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "stored session data: \(message)" }
}

// The serialized forms, format 1 (docs/STORAGE.md describes them field by field). A message is
// kept as an MQTT 5 PUBLISH exactly as on the wire, so the stored form is specified by the MQTT
// spec and read back by the same decoder that reads devices.

extension Message {
    static let formatVersion: UInt8 = 1

    public func serialized() -> [UInt8] {
        var w = ByteWriter(capacity: payload.count + topic.utf8.count + 32)
        w.writeU8(Self.formatVersion)
        w.writeU64(expiresAt.map { $0 + 1 } ?? 0)
        if let origin { w.writeU8(1); w.writeString(origin) } else { w.writeU8(0) }
        let publish = PublishPacket(topic: topic, payload: payload, qos: qos, retain: retain,
                                    packetId: qos == .atMostOnce ? nil : 1, properties: properties)
        MQTTEncoder.encode(.publish(publish), version: .v5, into: &w.bytes)
        return w.bytes
    }

    public init(serialized bytes: [UInt8]) throws(SessionCodecError) {
        self = try reading(bytes) { (r) throws(SessionCodecError) in try Message.read(from: &r, length: r.remaining) }
    }

    static func read(from r: inout ByteReader, length: Int) throws(SessionCodecError) -> Message {
        let end = r.offset + length
        let version = try r.u8("message format")
        guard version == formatVersion else { throw SessionCodecError("message format \(version) is not known") }
        let expiry = try r.u64("message expiry")
        let origin: String? = try r.u8("origin flag") == 1 ? try r.string("origin") : nil
        let publishLength = end - r.offset
        guard publishLength > 0, let body = try? r.readBytes(publishLength) else { throw SessionCodecError("message body truncated") }
        let decoded: (packet: MQTTPacket, consumed: Int)?
        do { decoded = try MQTTDecoder(version: .v5).decode(body) } catch { throw SessionCodecError("message body: \(error)") }
        guard let decoded, decoded.consumed == body.count, case .publish(let p) = decoded.packet else {
            throw SessionCodecError("message body is not one PUBLISH packet")
        }
        return Message(topic: p.topic, payload: p.payload, qos: p.qos, retain: p.retain, properties: p.properties,
                       expiresAt: expiry == 0 ? nil : expiry - 1, origin: origin)
    }
}

extension OutboundMessage {
    /// `bodyNeeded: false` leaves the message body out (a released QoS 2 message only needs its id).
    public func serialized(includingBody: Bool = true) -> [UInt8] {
        var body = message
        if !includingBody { body.payload = []; body.properties = .none }
        return serialized(messageBytes: body.serialized())
    }

    /// With `message.serialized()` (or the slim form) already made: a fan-out to many persistent
    /// sessions serializes the message once.
    public func serialized(messageBytes: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: messageBytes.count + 16 + 4 * subscriptionIdentifiers.count)
        w.writeU8(1)
        w.writeU64(UInt64(bitPattern: seq))
        w.writeU16(packetId)
        w.writeU8(phase.rawValue)
        w.writeU8(UInt8(min(subscriptionIdentifiers.count, 255)))
        for id in subscriptionIdentifiers.prefix(255) { w.writeU32(id) }
        w.writeBytes(messageBytes)
        return w.bytes
    }

    public init(serialized bytes: [UInt8]) throws(SessionCodecError) {
        self = try reading(bytes) { (r) throws(SessionCodecError) in try OutboundMessage.read(from: &r, length: r.remaining) }
    }

    static func read(from r: inout ByteReader, length: Int) throws(SessionCodecError) -> OutboundMessage {
        let end = r.offset + length
        guard try r.u8("outbound format") == 1 else { throw SessionCodecError("outbound format is not known") }
        let seq = Int64(bitPattern: try r.u64("seq"))
        let packetId = try r.u16("packet id")
        guard let phase = Phase(rawValue: try r.u8("phase")) else { throw SessionCodecError("unknown outbound phase") }
        var ids: [UInt32] = []
        for _ in 0..<(try r.u8("subscription identifier count")) { ids.append(try r.u32("subscription identifier")) }
        let message = try Message.read(from: &r, length: end - r.offset)
        return OutboundMessage(seq: seq, packetId: packetId, phase: phase, message: message, subscriptionIdentifiers: ids)
    }
}

extension SessionState {
    /// Field tags of session format 2 (docs/STORAGE.md). Every field is `u8 tag, u32 length,
    /// value`; a reader skips tags it does not know, so a field can be added without a new
    /// format. A change that an older reader must not silently ignore needs a new format number.
    enum Field: UInt8 {
        /// Last, length 0: a session cut at a field boundary is truncated, not shorter.
        case end = 0
        case clientId = 1, protocolVersion = 2, expiryInterval = 3, nextPacketId = 4, nextSeq = 5
        case disconnectedFor = 6, subscriptions = 7, will = 8, willDueIn = 9, inboundQoS2 = 10
        case outbound = 11, ownerGateway = 12, epoch = 13, relaySecret = 14
    }

    static let formatVersion: UInt8 = 2

    /// The session without its outbound messages (persistence stores those as rows of their own
    /// so each ack is one small write); `serialized(asOf:)` is the whole session for a migration.
    /// Instants (`disconnectedAt`, `willDueAt`) are written as durations relative to `now`, the
    /// writer's wall clock, which is written too.
    public func serializedHeader(asOf now: UInt64) -> [UInt8] { encode(asOf: now, includingOutbound: false) }
    public func serialized(asOf now: UInt64) -> [UInt8] { encode(asOf: now, includingOutbound: true) }

    private func encode(asOf now: UInt64, includingOutbound: Bool) -> [UInt8] {
        var w = ByteWriter()
        w.writeU8(Self.formatVersion)
        w.writeU64(now)
        func field(_ tag: Field, _ body: (inout ByteWriter) -> Void) {
            w.writeU8(tag.rawValue)
            let lengthAt = w.count
            w.writeU32(0)
            body(&w)
            let length = UInt32(w.count - lengthAt - 4)
            for i in 0..<4 { w.bytes[lengthAt + i] = UInt8(truncatingIfNeeded: length >> (24 - 8 * UInt32(i))) }
        }
        field(.clientId) { $0.writeString(clientId) }
        field(.protocolVersion) { $0.writeU8(protocolVersion.rawValue) }
        field(.expiryInterval) { $0.writeU32(expiryInterval) }
        field(.nextPacketId) { $0.writeU16(nextPacketId) }
        field(.nextSeq) { $0.writeU64(UInt64(bitPattern: nextSeq)) }
        if let disconnectedAt { field(.disconnectedFor) { $0.writeU64(now > disconnectedAt ? now - disconnectedAt : 0) } }
        field(.subscriptions) { w in
            w.writeU32(UInt32(subscriptions.count))
            for (filter, o) in subscriptions.sorted(by: { $0.key < $1.key }) {
                w.writeString(filter)
                w.writeU8(o.qos.rawValue | (o.noLocal ? 0x04 : 0) | (o.retainAsPublished ? 0x08 : 0) | (o.retainHandling & 0x03) << 4)
                w.writeU32(o.subscriptionIdentifier ?? 0)
            }
        }
        if let will {
            field(.will) { w in
                w.writeU32(will.properties.willDelayInterval ?? 0)
                var props = will.properties
                props.willDelayInterval = nil
                w.writeBytes(Message(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: props).serialized())
            }
        }
        if let willDueAt { field(.willDueIn) { $0.writeU64(willDueAt > now ? willDueAt - now : 0) } }
        if !inboundQoS2.isEmpty {
            field(.inboundQoS2) { w in
                w.writeU16(UInt16(inboundQoS2.count))
                for id in inboundQoS2.sorted() { w.writeU16(id) }
            }
        }
        if includingOutbound && !outbound.isEmpty {
            field(.outbound) { w in
                w.writeU32(UInt32(outbound.count))
                for m in outbound {
                    let body = m.serialized()
                    w.writeU32(UInt32(body.count))
                    w.writeBytes(body)
                }
            }
        }
        if let ownerGateway { field(.ownerGateway) { $0.writeString(ownerGateway) } }
        if epoch != 0 { field(.epoch) { $0.writeU64(epoch) } }
        if !relaySecret.isEmpty { field(.relaySecret) { $0.writeBytes(relaySecret) } }
        field(.end) { _ in }
        return w.bytes
    }

    /// Reads a session written by `serialized(asOf:)` / `serializedHeader(asOf:)` (format 2) or by
    /// an agent before it (format 1, instants as written). Durations are turned back into
    /// instants against `receivedAt` when given (a session moved from another gateway, whose
    /// clock may differ from ours), else against the writer's own clock (our own disk).
    public init(serialized bytes: [UInt8], receivedAt: UInt64? = nil) throws(SessionCodecError) {
        self = try reading(bytes) { (r) throws(SessionCodecError) -> SessionState in
            switch try r.u8("session format") {
            case 1: return try SessionState.readFormat1(&r)
            case SessionState.formatVersion: return try SessionState.readFormat2(&r, receivedAt: receivedAt)
            case let other: throw SessionCodecError("session format \(other) is not known")
            }
        }
    }

    private static func readFormat2(_ r: inout ByteReader, receivedAt: UInt64?) throws(SessionCodecError) -> SessionState {
        let writtenAt = try r.u64("written at")
        let reference = receivedAt ?? writtenAt
        var clientId: String?, version: MQTTVersion?, expiry: UInt32?
        var s = SessionState(clientId: "", expiryInterval: 0, protocolVersion: .v311)
        while true {
            let tag = try r.u8("field tag")
            let length = Int(try r.u32("field length"))
            guard length <= r.remaining else { throw SessionCodecError("field \(tag) of \(length) bytes truncated") }
            let end = r.offset + length
            switch Field(rawValue: tag) {
            case .end?:
                guard length == 0, r.isAtEnd else { throw SessionCodecError("\(r.remaining) unexpected bytes after the session") }
            case .clientId?: clientId = try r.string("client id")
            case .protocolVersion?:
                guard let v = MQTTVersion(rawValue: try r.u8("protocol version")) else { throw SessionCodecError("unknown protocol version") }
                version = v
            case .expiryInterval?: expiry = try r.u32("expiry")
            case .nextPacketId?: s.nextPacketId = try r.u16("next packet id")
            case .nextSeq?: s.nextSeq = Int64(bitPattern: try r.u64("next seq"))
            case .disconnectedFor?:
                let ago = try r.u64("disconnected for")
                s.disconnectedAt = reference > ago ? reference - ago : 0
            case .subscriptions?: s.subscriptions = try readSubscriptions(&r)
            case .will?:
                let delay = try r.u32("will delay")
                s.will = try readWill(&r, delay: delay, length: end - r.offset)
            case .willDueIn?: s.willDueAt = reference &+ (try r.u64("will due in"))
            case .inboundQoS2?:
                for _ in 0..<(try r.u16("inbound QoS 2 count")) { s.inboundQoS2.insert(try r.u16("inbound packet id")) }
            case .outbound?:
                for _ in 0..<(try r.u32("outbound count")) {
                    s.outbound.append(try OutboundMessage.read(from: &r, length: Int(try r.u32("outbound length"))))
                }
            case .ownerGateway?: s.ownerGateway = try r.string("owner gateway")
            case .epoch?: s.epoch = try r.u64("epoch")
            case .relaySecret?:
                guard length <= 64, let secret = try? r.readBytes(length) else { throw SessionCodecError("relay secret of \(length) bytes") }
                s.relaySecret = secret
            case nil: break  // a field of a later version: skipped
            }
            guard r.offset <= end else { throw SessionCodecError("field \(tag) overruns its length") }
            guard let _ = try? r.readBytes(end - r.offset) else { throw SessionCodecError("field \(tag) truncated") }
            if tag == Field.end.rawValue { break }
        }
        guard let clientId, let version, let expiry else { throw SessionCodecError("client id, protocol version or expiry missing") }
        s.clientId = clientId
        s.protocolVersion = version
        s.expiryInterval = expiry
        return s
    }

    private static func readSubscriptions(_ r: inout ByteReader) throws(SessionCodecError) -> [String: SubscriptionOptions] {
        var subscriptions: [String: SubscriptionOptions] = [:]
        for _ in 0..<(try r.u32("subscription count")) {
            let filter = try r.string("filter")
            let bits = try r.u8("options")
            guard let qos = QoS(rawValue: bits & 0x03) else { throw SessionCodecError("subscription QoS 3") }
            let id = try r.u32("subscription identifier")
            subscriptions[filter] = SubscriptionOptions(qos: qos, noLocal: bits & 0x04 != 0, retainAsPublished: bits & 0x08 != 0,
                                                        retainHandling: (bits >> 4) & 0x03, subscriptionIdentifier: id == 0 ? nil : id)
        }
        return subscriptions
    }

    private static func readWill(_ r: inout ByteReader, delay: UInt32, length: Int) throws(SessionCodecError) -> Will {
        let m = try Message.read(from: &r, length: length)
        var props = m.properties
        props.willDelayInterval = delay == 0 ? nil : delay
        return Will(topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, properties: props)
    }

    /// Format 1 (agents before format 2): fixed field order, instants as wall-clock ms.
    private static func readFormat1(_ r: inout ByteReader) throws(SessionCodecError) -> SessionState {
        let clientId = try r.string("client id")
        guard let version = MQTTVersion(rawValue: try r.u8("protocol version")) else { throw SessionCodecError("unknown protocol version") }
        var s = SessionState(clientId: clientId, expiryInterval: try r.u32("expiry"), protocolVersion: version)
        s.nextPacketId = try r.u16("next packet id")
        s.nextSeq = Int64(bitPattern: try r.u64("next seq"))
        let disconnected = try r.u64("disconnected at")
        s.disconnectedAt = disconnected == 0 ? nil : disconnected - 1
        s.subscriptions = try readSubscriptions(&r)
        if try r.u8("will flag") == 1 {
            let delay = try r.u32("will delay")
            s.will = try readWill(&r, delay: delay, length: Int(try r.u32("will length")))
        }
        for _ in 0..<(try r.u16("inbound QoS 2 count")) { s.inboundQoS2.insert(try r.u16("inbound packet id")) }
        for _ in 0..<(try r.u32("outbound count")) {
            s.outbound.append(try OutboundMessage.read(from: &r, length: Int(try r.u32("outbound length"))))
        }
        guard r.isAtEnd else { throw SessionCodecError("\(r.remaining) unexpected bytes after the session") }
        return s
    }
}

/// Runs a typed-throwing read over the bytes (withUnsafeBytes itself only rethrows `any Error`).
private func reading<T>(_ bytes: [UInt8], _ body: (inout ByteReader) throws(SessionCodecError) -> T) throws(SessionCodecError) -> T {
    let result: Result<T, SessionCodecError> = bytes.withUnsafeBytes { raw in
        var r = ByteReader(raw)
        do throws(SessionCodecError) { return .success(try body(&r)) } catch { return .failure(error) }
    }
    return try result.get()
}

extension ByteWriter {
    public mutating func writeU64(_ v: UInt64) { writeU32(UInt32(v >> 32)); writeU32(UInt32(v & 0xFFFF_FFFF)) }
}

/// Reads that name the field on failure (the agent's stored records use them too).
extension ByteReader {
    public mutating func u8(_ field: String) throws(SessionCodecError) -> UInt8 {
        do { return try readU8() } catch { throw SessionCodecError("\(field) truncated") }
    }
    public mutating func u16(_ field: String) throws(SessionCodecError) -> UInt16 {
        do { return try readU16() } catch { throw SessionCodecError("\(field) truncated") }
    }
    public mutating func u32(_ field: String) throws(SessionCodecError) -> UInt32 {
        do { return try readU32() } catch { throw SessionCodecError("\(field) truncated") }
    }
    public mutating func u64(_ field: String) throws(SessionCodecError) -> UInt64 {
        UInt64(try u32(field)) << 32 | UInt64(try u32(field))
    }
    public mutating func string(_ field: String) throws(SessionCodecError) -> String {
        do { return try readString() } catch { throw SessionCodecError("\(field): \(error)") }
    }
}
