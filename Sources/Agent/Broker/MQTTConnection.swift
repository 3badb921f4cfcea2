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
        /// The stream is being handed to a `ClientRelay` (a migrated client whose MQTT stream the
        /// source relays to the target): nothing is handled here; bytes wait, bounded, for the
        /// relay to take them with the stream.
        case relayed
    }

    var isOpen: Bool { phase == .awaitingConnect || phase == .connected || phase == .authenticating }
    /// Whether packets are handled now (not while authenticating, not once closing).
    private var isProcessing: Bool { phase == .awaitingConnect || phase == .connected }

    var identity: ClientIdentity?
    /// This connection's authorization rules; nil when unrestricted.
    var policy: ConnectionPolicy?
    var lastDenialLog: UInt64 = 0

    let stream: any ByteStream
    /// unowned(unsafe): the broker lives as long as the process and outlives every connection; a
    /// checked unowned reference cost an atomic retain/release per packet in profiles.
    unowned(unsafe) let broker: Broker
    var phase = Phase.awaitingConnect
    var version = MQTTVersion.v311
    var decoder: MQTTDecoder
    /// Reassembles packets split across reads; holds no memory while idle.
    private var assembler = PacketAssembler()
    /// Bytes of a partial packet counted in the broker's pre-authentication budget (0 once
    /// connected).
    private var preAuthBytes = 0
    /// Reading stopped because a client pipelined more than a CONNECT's worth of bytes while its
    /// password was being checked; resumed with the answer.
    private var isWaitingForAuthentication = false
    /// The last topic this client published to: a repeat costs neither a String nor a scan.
    private var topicNames = TopicNameCache()
    /// The last topic that passed the broker's length/level limits (`BrokerLimits.topicProblem`).
    var lastTopicWithinLimits: String?

    var session: Session?
    /// Set in phase `.relayed`: who takes the stream, and who hears of its end until then.
    var relay: ClientRelay?
    let acceptedAt: UInt64
    var lastActivity: UInt64
    var keepAliveMs: UInt64 = 0

    // Negotiated in CONNECT (MQTT 5; 3.1.1 gets the defaults).
    /// Largest packet the client accepts; larger messages are dropped for it (MQTT 5 §3.1.2.11.4).
    var clientMaxPacketSize = Int.max
    var requestProblemInformation = true
    var inboundAliases = InboundTopicAliases()
    var outboundAliases: [String: UInt16] = [:]
    var outboundAliasLimit: UInt16 = 0
    /// A clean DISCONNECT discards the will (MQTT §3.14.4).
    var disconnectedCleanly = false
    /// `detachFromBroker` ran.
    private var isDetached = false

    // Backpressure (Broker+Backpressure.swift).
    /// Reading is paused because a subscriber this client feeds is congested.
    var isThrottled = false
    /// Since when this client, as a subscriber, has been congested (loop ms); nil when it is not.
    var congestedSince: UInt64?
    /// Publishers paused on our account, resumed when we drain.
    var heldPublishers: [any PausableSource] = []
    /// How many congested subscribers hold this publisher.
    var holdCount = 0

    init(stream: any ByteStream, broker: Broker, now: UInt64) {
        self.stream = stream
        self.broker = broker
        self.acceptedAt = now
        self.lastActivity = now
        // Until CONNECT is accepted only a CONNECT-sized packet (Broker+Connect raises it).
        self.decoder = MQTTDecoder(version: .v311,
                                   maximumPacketSize: min(broker.limits.maxConnectPacketSize, broker.limits.maxPacketSize))
    }

    // MARK: StreamHandler

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        guard isOpen else { return keepForRelay(bytes) }
        lastActivity = broker.loopNow
        // What this read changes on disk makes what it writes wait for the turn's commit, and
        // only that (Broker.beginTracked): one client's packets, tracked per read, not per packet.
        let tracking = broker.beginTracked()
        defer { broker.endTracked(tracking) }
        guard phase == .connected else { return receiveBeforeConnect(bytes) }
        broker.currentPublisher = self
        defer { broker.currentPublisher = nil }
        let decoder = self.decoder
        assembler.feed(bytes, size: decoder.packetSize) { handlePacket($0) }
        if !isOpen && phase != .relayed { assembler.reset() }
    }

    /// Until the relay takes the stream, what the client sends waits here (a packet boundary was
    /// where handling stopped); past `maxRelayWaitBytes` reading pauses.
    private func keepForRelay(_ bytes: UnsafeRawBufferPointer) {
        guard phase == .relayed else { return }
        assembler.keep(bytes)
        if assembler.pending.count > Self.maxRelayWaitBytes { stream.stopReading() }
    }

    static let maxRelayWaitBytes = 64 * 1024

    /// Phase `.relayed`: hands the stream over. The connection leaves the broker (its session, if
    /// any, was already detached); what the client sent that was not handled is returned, to go
    /// first. From here the relay is the stream's handler.
    func handOverToRelay(_ relay: ClientRelay) -> [UInt8] {
        precondition(phase == .relayed)
        let unhandled = assembler.pending
        assembler.reset()
        chargePreAuth()
        phase = .closed
        self.relay = nil
        stream.handler = relay
        return unhandled
    }

    /// The relay ended before it took the stream: closed after what is queued (a refusal).
    func endRelayWait() {
        guard phase == .relayed else { return }
        relay = nil
        assembler.reset()
        phase = .closing
        stream.close()
    }

    /// Starts the hand-over to `relay`: from now on nothing is handled, and the connection is no
    /// longer the broker's (no keepalive, no session). Called inside a packet's handling or
    /// outside any; either way what follows in the stream is kept for the relay.
    func beginRelay(_ relay: ClientRelay) {
        guard isOpen else { return }
        phase = .relayed
        self.relay = relay
        chargePreAuth()
        detachFromBroker()
    }

    /// Input before CONNECT has completed: nobody is known yet, so what the socket may hold is
    /// small (`limits.maxConnectPacketSize`, via the decoder's limit until CONNECT is accepted)
    /// and counted against the broker-wide `limits.maxPreAuthBytes` (Admission).
    private func receiveBeforeConnect(_ bytes: UnsafeRawBufferPointer) {
        if phase == .authenticating {
            // A client may pipeline packets behind CONNECT. Past the pre-auth packet size it
            // waits, unread, until its password is checked instead of making us buffer.
            assembler.keep(bytes)
            if assembler.pending.count > broker.limits.maxConnectPacketSize && !isWaitingForAuthentication {
                isWaitingForAuthentication = true
                stream.stopReading()
            }
            return chargePreAuth()
        }
        // MQTT §3.1: the first packet is CONNECT. Say so at the first byte, not after waiting for
        // a "packet" that an HTTP request or TLS hello will never complete.
        if assembler.pending.isEmpty, let first = bytes.first, first != 0x10 {
            broker.metrics.malformedPackets += 1
            broker.log.notice("closing \(stream.remoteAddress): first packet is not CONNECT (byte 0x\(String(first, radix: 16)))")
            return close()
        }
        broker.currentPublisher = self
        defer { broker.currentPublisher = nil }
        // The size is read from `self.decoder` each time: accepting CONNECT raises its limit to the
        // broker's maximum packet size for the packets that follow in the same read.
        assembler.feed(bytes, size: { [unowned self] in decoder.packetSize($0) }) { handlePacket($0) }
        if !isOpen && phase != .relayed { assembler.reset() }
        chargePreAuth()
    }

    /// Keeps the broker's pre-auth byte count in step with what this connection holds (nothing once
    /// connected or closed); closes it if its growth passes the budget.
    private func chargePreAuth() {
        let held = phase == .awaitingConnect || phase == .authenticating ? assembler.pending.count : 0
        guard held != preAuthBytes else { return }
        let withinBudget = broker.security.admission.chargePreAuth(from: preAuthBytes, to: held)
        preAuthBytes = held
        guard withinBudget else {
            broker.metrics.preAuthBudgetCloses += 1
            broker.log.notice("closing \(stream.remoteAddress): unauthenticated connections hold more than \(broker.limits.maxPreAuthBytes) bytes")
            assembler.reset()
            chargePreAuth()
            return close()
        }
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        if phase == .relayed, let relay {
            self.relay = nil
            relay.clientClosedEarly()
        }
        phase = .closed
        assembler.reset()
        chargePreAuth()
        detachFromBroker()
    }

    /// Ends this connection's part in the broker (session, held publishers, the connection
    /// table) once: when we decide to close, or when the stream ends on its own. The stream may
    /// linger for a while after close() to let the client read why (TCPStream.close); the session
    /// must not wait for that.
    private func detachFromBroker() {
        guard !isDetached else { return }
        isDetached = true
        // Not the assembler: close() may run inside its feed (streamReceived resets it after).
        broker.releaseHeldPublishers(of: self)
        broker.connectionClosed(self)
    }

    /// Decodes and handles one whole packet (or, for a bad header, raises its error). Returns
    /// whether more packets may be handled now.
    private func handlePacket(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard isProcessing else { return false }
        do throws(MQTTDecodeError) {
            // PUBLISH, the packet that comes by the million, skips the MQTTPacket enum.
            if bytes[0] >> 4 == MQTTPacketType.publish.rawValue, phase == .connected, let session {
                let publish = try decoder.decodePublish(bytes, topics: &topicNames)
                broker.handlePublish(publish, from: session, on: self)
                return isProcessing
            }
            guard let (packet, used) = try decoder.decode(bytes, topics: &topicNames), used == bytes.count else {
                throw MQTTDecodeError.malformed("packet length disagrees with its contents")
            }
            broker.handle(packet, on: self)
        } catch {
            broker.metrics.malformedPackets += 1
            if phase == .awaitingConnect {
                broker.rejectConnect(self, error: error, bytes: bytes)
            } else {
                protocolViolation(error.reasonCode, "\(error)")
            }
        }
        return isProcessing
    }

    /// Handles what arrived while CONNECT was being authenticated, and reads on if that was paused.
    func processPendingBytes() {
        defer { chargePreAuth() }
        if isWaitingForAuthentication {
            isWaitingForAuthentication = false
            if isOpen && !isThrottled { stream.startReading() }
        }
        guard isProcessing, !assembler.pending.isEmpty else { return }
        let decoder = self.decoder
        assembler.resume(size: decoder.packetSize) { handlePacket($0) }
        if !isOpen && phase != .relayed { assembler.reset() }
    }

    // MARK: Sending

    /// Encodes and queues a packet other than a delivery. To an MQTT 5 client it never exceeds the
    /// client's Maximum Packet Size: the reason string, then user properties, are left out as the
    /// spec allows, and a packet that still does not fit is not sent (MQTT 5 §3.1.2.11.4).
    func send(_ packet: MQTTPacket) {
        guard isOpen else { return }
        guard let bytes = packet.encoded(version: version, fitting: clientMaxPacketSize) else {
            broker.metrics.packetsOverClientMaximum += 1
            broker.log.debug("not sending \(packet) to \(session?.clientId ?? stream.remoteAddress): over its maximum packet size \(clientMaxPacketSize)")
            return
        }
        stream.write(bytes)
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
    /// The text is cut to `limits.maxReasonStringBytes`: reasons often quote a topic or filter,
    /// which the client chose and which may be 65,535 bytes long.
    func reasonString(_ text: String) -> MQTTProperties {
        var p = MQTTProperties()
        if version == .v5 && requestProblemInformation { p.reasonString = text.truncatedUTF8(maxBytes: broker.limits.maxReasonStringBytes) }
        return p
    }

    /// Writes the PUBLISH for one delivery into the socket's queue. Without MQTT 5 properties to
    /// send (all of 3.1.1, most of 5.0) it is encoded in place, with no buffer in between; else it
    /// goes through `encodePublish` and `scratch`. Returns false, writing nothing, when the packet
    /// would exceed the client's Maximum Packet Size (MQTT 5 §3.1.2.11.4: dropped for this client).
    func sendPublish(_ m: Message, packetId: UInt16, dup: Bool, subscriptionIdentifiers: [UInt32], now: UInt64,
                     scratch: inout [UInt8]) -> Bool {
        let plain = version == .v311
            || (subscriptionIdentifiers.isEmpty && outboundAliasLimit == 0 && m.expiresAt == nil && m.properties.isEmpty)
        guard plain else {
            guard encodePublish(m, packetId: packetId, dup: dup, subscriptionIdentifiers: subscriptionIdentifiers, now: now,
                                into: &scratch) else { return false }
            sendRaw(scratch)
            return true
        }
        let topic = m.topic, payload = m.payload
        let size = MQTTEncoder.plainPublishSize(topicBytes: topic.utf8.count, payloadBytes: payload.count, qos: m.qos, version: version)
        guard size <= clientMaxPacketSize else { return false }
        guard isOpen else { return true }
        let version = self.version, qos = m.qos, retain = m.retain
        stream.write(count: size) { buffer in
            MQTTEncoder.writePlainPublish(into: buffer, topic: topic, payload: payload, qos: qos, retain: retain, dup: dup,
                                          packetId: packetId, version: version)
        }
        return true
    }

    /// Encodes the PUBLISH for one delivery into `out` (emptied first; its capacity is reused),
    /// applying topic aliases and remaining expiry. Returns false when the packet would exceed the
    /// client's Maximum Packet Size (the message is then dropped for this client, as MQTT 5
    /// §3.1.2.11.4 requires).
    func encodePublish(_ m: Message, packetId: UInt16, dup: Bool, subscriptionIdentifiers: [UInt32], now: UInt64,
                       into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        var topic = m.topic
        var properties = MQTTProperties.none
        var newAlias: UInt16?
        if version == .v5 {
            properties = m.properties
            properties.messageExpiryInterval = m.remainingExpiry(now: now)  // nil on an empty set allocates nothing
            properties.subscriptionIdentifiers = subscriptionIdentifiers
            if outboundAliasLimit > 0 {
                if let alias = outboundAliases[m.topic] {
                    properties.topicAlias = alias
                    topic = ""
                } else if outboundAliases.count < Int(outboundAliasLimit) {
                    newAlias = UInt16(outboundAliases.count + 1)
                    properties.topicAlias = newAlias
                }
            }
        }
        MQTTEncoder.appendPublish(topic: topic, payload: m.payload, qos: m.qos, retain: m.retain, dup: dup, packetId: packetId,
                                  properties: properties, version: version, into: &out)
        guard out.count <= clientMaxPacketSize else { return false }
        // Only a packet that is sent teaches the client an alias; a dropped one must not leave us
        // believing it knows one (it would then get an empty topic it cannot resolve).
        if let newAlias { outboundAliases[m.topic] = newAlias }
        return true
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

    /// Closes after what is queued has been written (a DISCONNECT or CONNACK refusal arrives),
    /// and leaves the broker now.
    func close() {
        guard isOpen else { return }
        phase = .closing
        stream.close()
        detachFromBroker()
    }
}
