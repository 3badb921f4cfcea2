import FleetCore
import FleetProtocol
import FleetRuntime

/// One device socket speaking MQTT: framing, the per-connection protocol state (version, keepalive,
/// topic aliases, flow-control windows) and the encoding of everything sent. What a packet *means*
/// is the broker's business (`Broker+Connect`, `Broker+Publish`, `Broker+Subscribe`).
/// Loop-thread only, like the stream it owns.
final class MQTTConnection: StreamHandler {
    enum Phase {
        case awaitingConnect
        /// CONNECT is being authenticated off the loop; later bytes wait in the assembler.
        case authenticating
        case connected
        /// close() was called: nothing more is read or handled; the close callback is pending.
        case closing
        case closed
    }

    var isOpen: Bool { phase == .awaitingConnect || phase == .connected || phase == .authenticating }
    /// Whether packets are handled now (not while authenticating, not once closing).
    private var isProcessing: Bool { phase == .awaitingConnect || phase == .connected }

    var identity: ClientIdentity?
    /// This connection's authorization rules; nil when unrestricted.
    var policy: ConnectionPolicy?
    var lastDenialLog: UInt64 = 0

    let stream: any ByteStream
    unowned let broker: Broker
    var phase = Phase.awaitingConnect
    var version = MQTTVersion.v311
    var decoder: MQTTDecoder
    /// Reassembles packets split across reads; holds no memory while idle.
    private var assembler = PacketAssembler()

    var session: Session?
    let acceptedAt: UInt64
    var lastActivity: UInt64
    var keepAliveMs: UInt64 = 0

    // Negotiated in CONNECT (MQTT 5; 3.1.1 gets the defaults).
    /// In-flight QoS 1/2 messages we may have towards the client (its Receive Maximum, capped).
    var sendWindow = 100
    /// Largest packet the client accepts; larger messages are dropped for it (MQTT 5 §3.1.2.11.4).
    var clientMaxPacketSize = Int.max
    var requestProblemInformation = true
    var inboundAliases: [UInt16: String] = [:]
    var outboundAliases: [String: UInt16] = [:]
    var outboundAliasLimit: UInt16 = 0
    /// A clean DISCONNECT discards the will (MQTT §3.14.4).
    var disconnectedCleanly = false

    // Backpressure (Broker+Backpressure.swift).
    /// Reading is paused because a subscriber this client feeds is congested.
    var isThrottled = false
    /// Since when this client, as a subscriber, has been congested (loop ms); nil when it is not.
    var congestedSince: UInt64?
    /// Publishers paused on our account, resumed when we drain.
    var heldPublishers: [MQTTConnection] = []
    /// How many congested subscribers hold this publisher.
    var holdCount = 0

    init(stream: any ByteStream, broker: Broker, now: UInt64) {
        self.stream = stream
        self.broker = broker
        self.acceptedAt = now
        self.lastActivity = now
        self.decoder = MQTTDecoder(version: .v311, maximumPacketSize: broker.limits.maxPacketSize)
    }

    // MARK: StreamHandler

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        guard isOpen else { return }
        lastActivity = broker.loopNow
        broker.currentPublisher = self
        defer { broker.currentPublisher = nil }
        if phase == .authenticating {
            // Bounded: a client may pipeline a little behind CONNECT, not flood us while we hash.
            guard assembler.pending.count + bytes.count <= broker.limits.maxPacketSize else { return close() }
            assembler.keep(bytes)
            return
        }
        // MQTT §3.1: the first packet is CONNECT. Say so at the first byte, not after waiting for
        // a "packet" that an HTTP request or TLS hello will never complete.
        if phase == .awaitingConnect, assembler.pending.isEmpty, let first = bytes.first, first != 0x10 {
            broker.metrics.malformedPackets += 1
            broker.log.notice("closing \(stream.remoteAddress): first packet is not CONNECT (byte 0x\(String(first, radix: 16)))")
            return close()
        }
        let decoder = self.decoder
        assembler.feed(bytes, size: decoder.packetSize) { handlePacket($0) }
        if !isOpen { assembler.reset() }
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        phase = .closed
        assembler.reset()
        broker.releaseHeldPublishers(of: self)
        broker.connectionClosed(self)
    }

    /// Decodes and handles one whole packet (or, for a bad header, raises its error). Returns
    /// whether more packets may be handled now.
    private func handlePacket(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard isProcessing else { return false }
        do throws(MQTTDecodeError) {
            guard let (packet, used) = try decoder.decode(bytes), used == bytes.count else {
                throw MQTTDecodeError.malformed("packet length disagrees with its contents")
            }
            broker.handle(packet, on: self)
        } catch {
            broker.metrics.malformedPackets += 1
            if phase == .awaitingConnect {
                broker.rejectConnect(self, error: error)
            } else {
                protocolViolation(error.reasonCode, "\(error)")
            }
        }
        return isProcessing
    }

    /// Handles what arrived while CONNECT was being authenticated.
    func processPendingBytes() {
        guard isProcessing, !assembler.pending.isEmpty else { return }
        let decoder = self.decoder
        assembler.resume(size: decoder.packetSize) { handlePacket($0) }
        if !isOpen { assembler.reset() }
    }

    // MARK: Sending

    func send(_ packet: MQTTPacket) {
        guard isOpen else { return }
        stream.write(MQTTEncoder.encode(packet, version: version))
    }

    /// A successful PUBACK/PUBREC/PUBREL/PUBCOMP without properties: the same 4 bytes in both
    /// versions (MQTT 5 §3.4.2.1 allows omitting reason 0x00), written without a heap allocation.
    func sendAck(type: MQTTPacketType, packetId: UInt16) {
        guard isOpen else { return }
        let flags: UInt8 = type == .pubrel ? 0x02 : 0x00
        var packet: (UInt8, UInt8, UInt8, UInt8) = (type.rawValue << 4 | flags, 2, UInt8(packetId >> 8), UInt8(packetId & 0xFF))
        withUnsafeBytes(of: &packet) { stream.write($0) }
    }

    func sendRaw(_ bytes: [UInt8]) {
        guard isOpen else { return }
        stream.write(bytes)
    }

    /// A reason string, only if the client did not ask us to leave them out (MQTT 5 §3.1.2.11.7).
    func reasonString(_ text: String) -> MQTTProperties {
        var p = MQTTProperties()
        if version == .v5 && requestProblemInformation { p.reasonString = text }
        return p
    }

    /// Builds the PUBLISH for one delivery, applying topic aliases and remaining expiry. Returns
    /// nil when the packet would exceed the client's Maximum Packet Size (the message is then
    /// dropped for this client, as MQTT 5 §3.1.2.11.4 requires).
    func encodePublish(_ m: Message, packetId: UInt16, dup: Bool, subscriptionIdentifiers: [UInt32], now: UInt64) -> [UInt8]? {
        var p = PublishPacket(topic: m.topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: dup,
                              packetId: m.qos == .atMostOnce ? nil : packetId)
        if version == .v5 {
            p.properties = m.properties
            p.properties.messageExpiryInterval = m.remainingExpiry(now: now)
            p.properties.subscriptionIdentifiers = subscriptionIdentifiers
            if outboundAliasLimit > 0 {
                if let alias = outboundAliases[m.topic] {
                    p.properties.topicAlias = alias
                    p.topic = ""
                } else if outboundAliases.count < Int(outboundAliasLimit) {
                    let alias = UInt16(outboundAliases.count + 1)
                    outboundAliases[m.topic] = alias
                    p.properties.topicAlias = alias
                }
            }
        }
        let bytes = MQTTEncoder.encode(.publish(p), version: version)
        return bytes.count <= clientMaxPacketSize ? bytes : nil
    }

    /// Ends the connection for a protocol error: MQTT 5 gets a DISCONNECT with the reason first,
    /// 3.1.1 has no way to say why and is just closed. The will is published (abnormal end).
    func protocolViolation(_ reason: ReasonCode, _ message: String) {
        guard isOpen else { return }
        broker.log.notice("closing \(session?.clientId ?? stream.remoteAddress): \(message) (\(reason))")
        if phase == .connected && version == .v5 {
            send(.disconnect(DisconnectPacket(reasonCode: reason, properties: reasonString(message))))
        }
        close()
    }

    /// Closes after what is queued has been written (a DISCONNECT or CONNACK refusal arrives).
    func close() {
        guard isOpen else { return }
        phase = .closing
        stream.close()
    }
}
