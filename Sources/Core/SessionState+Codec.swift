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
        var w = ByteWriter()
        w.writeU8(1)
        w.writeU64(UInt64(bitPattern: seq))
        w.writeU16(packetId)
        w.writeU8(phase.rawValue)
        w.writeU8(UInt8(min(subscriptionIdentifiers.count, 255)))
        for id in subscriptionIdentifiers.prefix(255) { w.writeU32(id) }
        var body = message
        if !includingBody { body.payload = []; body.properties = .none }
        w.writeBytes(body.serialized())
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
    /// The session without its outbound messages (persistence stores those as rows of their own
    /// so each ack is one small write); `serialized()` is the whole session for a migration.
    public func serializedHeader() -> [UInt8] { encode(includingOutbound: false) }
    public func serialized() -> [UInt8] { encode(includingOutbound: true) }

    private func encode(includingOutbound: Bool) -> [UInt8] {
        var w = ByteWriter()
        w.writeU8(1)
        w.writeString(clientId)
        w.writeU8(protocolVersion.rawValue)
        w.writeU32(expiryInterval)
        w.writeU16(nextPacketId)
        w.writeU64(UInt64(bitPattern: nextSeq))
        w.writeU64(disconnectedAt.map { $0 + 1 } ?? 0)
        w.writeU32(UInt32(subscriptions.count))
        for (filter, o) in subscriptions.sorted(by: { $0.key < $1.key }) {
            w.writeString(filter)
            w.writeU8(o.qos.rawValue | (o.noLocal ? 0x04 : 0) | (o.retainAsPublished ? 0x08 : 0) | (o.retainHandling & 0x03) << 4)
            w.writeU32(o.subscriptionIdentifier ?? 0)
        }
        if let will {
            w.writeU8(1)
            w.writeU32(will.properties.willDelayInterval ?? 0)
            var props = will.properties
            props.willDelayInterval = nil
            let body = Message(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: props).serialized()
            w.writeU32(UInt32(body.count))
            w.writeBytes(body)
        } else {
            w.writeU8(0)
        }
        w.writeU16(UInt16(inboundQoS2.count))
        for id in inboundQoS2.sorted() { w.writeU16(id) }
        let outgoing = includingOutbound ? outbound : []
        w.writeU32(UInt32(outgoing.count))
        for m in outgoing {
            let body = m.serialized()
            w.writeU32(UInt32(body.count))
            w.writeBytes(body)
        }
        return w.bytes
    }

    public init(serialized bytes: [UInt8]) throws(SessionCodecError) {
        self = try reading(bytes) { (r) throws(SessionCodecError) -> SessionState in
            guard try r.u8("session format") == 1 else { throw SessionCodecError("session format is not known") }
            let clientId = try r.string("client id")
            guard let version = MQTTVersion(rawValue: try r.u8("protocol version")) else { throw SessionCodecError("unknown protocol version") }
            var s = SessionState(clientId: clientId, expiryInterval: try r.u32("expiry"), protocolVersion: version)
            s.nextPacketId = try r.u16("next packet id")
            s.nextSeq = Int64(bitPattern: try r.u64("next seq"))
            let disconnected = try r.u64("disconnected at")
            s.disconnectedAt = disconnected == 0 ? nil : disconnected - 1
            for _ in 0..<(try r.u32("subscription count")) {
                let filter = try r.string("filter")
                let bits = try r.u8("options")
                guard let qos = QoS(rawValue: bits & 0x03) else { throw SessionCodecError("subscription QoS 3") }
                let id = try r.u32("subscription identifier")
                s.subscriptions[filter] = SubscriptionOptions(qos: qos, noLocal: bits & 0x04 != 0, retainAsPublished: bits & 0x08 != 0,
                                                              retainHandling: (bits >> 4) & 0x03, subscriptionIdentifier: id == 0 ? nil : id)
            }
            if try r.u8("will flag") == 1 {
                let delay = try r.u32("will delay")
                let m = try Message.read(from: &r, length: Int(try r.u32("will length")))
                var props = m.properties
                props.willDelayInterval = delay == 0 ? nil : delay
                s.will = Will(topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, properties: props)
            }
            for _ in 0..<(try r.u16("inbound QoS 2 count")) { s.inboundQoS2.insert(try r.u16("inbound packet id")) }
            for _ in 0..<(try r.u32("outbound count")) {
                s.outbound.append(try OutboundMessage.read(from: &r, length: Int(try r.u32("outbound length"))))
            }
            guard r.isAtEnd else { throw SessionCodecError("\(r.remaining) unexpected bytes after the session") }
            return s
        }
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
    mutating func writeU64(_ v: UInt64) { writeU32(UInt32(v >> 32)); writeU32(UInt32(v & 0xFFFF_FFFF)) }
}

/// Reads that name the field on failure.
extension ByteReader {
    mutating func u8(_ field: String) throws(SessionCodecError) -> UInt8 {
        do { return try readU8() } catch { throw SessionCodecError("\(field) truncated") }
    }
    mutating func u16(_ field: String) throws(SessionCodecError) -> UInt16 {
        do { return try readU16() } catch { throw SessionCodecError("\(field) truncated") }
    }
    mutating func u32(_ field: String) throws(SessionCodecError) -> UInt32 {
        do { return try readU32() } catch { throw SessionCodecError("\(field) truncated") }
    }
    mutating func u64(_ field: String) throws(SessionCodecError) -> UInt64 {
        UInt64(try u32(field)) << 32 | UInt64(try u32(field))
    }
    mutating func string(_ field: String) throws(SessionCodecError) -> String {
        do { return try readString() } catch { throw SessionCodecError("\(field): \(error)") }
    }
}
