import FleetCore
import FleetProtocol
import FleetRuntime

/// A migrated client's connection kept by the source gateway and spliced, byte for byte, to the
/// target gateway's MQTT listener (issue #12 relay mode; Protocol/agent-coordinator.md §10). For clients that
/// cannot follow a redirect (MQTT 3.1.1, and MQTT 5 libraries that ignore a Server Reference):
/// their TCP or TLS connection stays up and the target serves their session.
///
/// The relay opens with a CONNECT of its own making whose user name is `RelayCredential.username`
/// and whose password is the credential (the session's relay secret and the client's identity as
/// this gateway authenticated it). In a hand-over the target's CONNACK is for the relay, which
/// drops it; for a client that connected again the CONNECT is the client's own (credentials
/// replaced) and so is the CONNACK. After that neither side is parsed: bytes flow both ways
/// unchanged, each direction paused while the other side's write queue is over
/// `maxQueuedBytes`. Either end closing closes the other after what is queued.
///
/// Loop-thread only: both streams belong to the broker's loop.
final class ClientRelay: StreamHandler {
    enum Kind {
        /// The client's live connection after a commit: the target's CONNACK is dropped.
        case handover
        /// The client connected again: the CONNACK is its own. Its version is needed to refuse it
        /// if the target cannot be reached.
        case connect(MQTTVersion)
    }

    let clientId: String
    let kind: Kind
    /// Where the target's MQTT listener is ("host:port", its advertised address).
    let target: String
    /// unowned(unsafe): the broker outlives every relay (see MQTTConnection.broker).
    unowned(unsafe) let broker: Broker
    /// The client's side. Until the target answers it is still its MQTTConnection's stream (in
    /// phase `.relayed`), which keeps what the client sends meanwhile.
    private let client: any ByteStream
    private var waiting: MQTTConnection?
    private var upstream: (any ByteStream)?
    /// The CONNECT that opens the relay, sent first.
    private let opening: [UInt8]
    /// Hand-over: the target's CONNACK, assembled until whole, then checked and dropped.
    private var connack: [UInt8]? = []
    private var deadline: LoopTimer?
    private var isFinished = false

    /// Reading one side pauses while the other side has this much queued.
    static let maxQueuedBytes = 256 * 1024
    static let connectTimeoutMs: UInt64 = 5_000

    init(clientId: String, kind: Kind, target: String, opening: [UInt8], connection: MQTTConnection, broker: Broker) {
        self.clientId = clientId
        self.kind = kind
        self.target = target
        self.opening = opening
        self.client = connection.stream
        self.waiting = connection
        self.broker = broker
        if case .connect = kind { connack = nil }
    }

    // MARK: Opening

    /// Takes the client's connection out of the broker and connects to the target.
    func start() {
        broker.relays[ObjectIdentifier(self)] = self
        broker.metrics.relaysStarted += 1
        waiting?.beginRelay(self)
        let timer = LoopTimer(loop: broker.loop)
        deadline = timer
        timer.start(afterMilliseconds: Self.connectTimeoutMs) { [unowned self] in
            fail("no connection to \(target) within \(Self.connectTimeoutMs) ms")
        }
        guard case .success(let address) = ListenAddress.parse(target), address.port > 0 else {
            return fail("target address '\(target)' is not host:port")
        }
        let host = address.host, port = address.port
        broker.loop.resolve(host: host) { [self] result in
            guard !isFinished else { return }
            switch result {
            case .failure(let error): fail("cannot resolve \(host): \(error)")
            case .success(let addresses):
                do {
                    try TCPStream.connect(loop: broker.loop, host: addresses[0], port: port) { [self] result in
                        switch result {
                        case .failure(let error): fail("cannot connect to \(target): \(error)")
                        case .success(let stream): connected(stream)
                        }
                    }
                } catch {
                    fail("cannot connect to \(target): \(error)")
                }
            }
        }
    }

    private func connected(_ stream: TCPStream) {
        guard !isFinished, let waiting else { return stream.close() }
        self.waiting = nil
        deadline?.close()
        deadline = nil
        upstream = stream
        stream.handler = self
        stream.onDrained = { [unowned self] in if !isFinished { client.startReading() } }
        stream.write(opening)
        // What the client sent since its last handled packet goes right behind the CONNECT.
        let unhandled = waiting.handOverToRelay(self)
        if !unhandled.isEmpty { forward(unhandled, to: stream, from: client) }
        client.onDrained = { [unowned self] in if !isFinished { upstream?.startReading() } }
        broker.metrics.relaysActive += 1
        broker.log.info("relay: \(clientId) at \(client.remoteAddress) is served by \(target)")
        stream.startReading()
        client.startReading()
    }

    /// The target could not be reached: a client that connected again is refused with "server
    /// unavailable"; a handed-over MQTT 5 client is told where to go (0x9C, the reference); else
    /// the connection is closed and the client comes back on its own.
    private func fail(_ why: String) {
        guard !isFinished else { return }
        broker.metrics.relaysFailed += 1
        broker.log.notice("relay: \(clientId): \(why); closing the client's connection")
        if let waiting {
            let answer: MQTTPacket?
            switch kind {
            case .connect(let version):
                waiting.version = version
                answer = .connack(ConnAckPacket(sessionPresent: false, reasonCode: version == .v5 ? .serverUnavailable : .v311ServerUnavailable,
                                                properties: waiting.reasonString(why)))
            case .handover where waiting.version == .v5:
                var properties = waiting.reasonString("the session moved to another gateway")
                properties.serverReference = target
                answer = .disconnect(DisconnectPacket(reasonCode: .useAnotherServer, properties: properties))
            case .handover:
                answer = nil  // MQTT 3.1.1 cannot be told: closed, it comes back
            }
            if let bytes = answer?.encoded(version: waiting.version, fitting: waiting.clientMaxPacketSize) { client.write(bytes) }
        }
        finish()
    }

    // MARK: StreamHandler

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        guard !isFinished, let upstream else { return }
        if stream === client {
            broker.metrics.relayedBytesToTarget &+= UInt64(bytes.count)
            forward(bytes, to: upstream, from: client)
            return
        }
        broker.metrics.relayedBytesFromTarget &+= UInt64(bytes.count)
        guard connack != nil else { return forward(bytes, to: client, from: upstream) }
        dropConnack(bytes)
    }

    /// Hand-over: the first packet from the target is its CONNACK to the relay. Success is
    /// dropped and what follows flows; a refusal ends the relay (the client comes back).
    private func dropConnack(_ bytes: UnsafeRawBufferPointer) {
        guard var pending = connack, let upstream else { return }
        pending.append(contentsOf: bytes)
        let size = MQTTDecoder(version: .v5).packetSize
        switch pending.withUnsafeBytes(size) {
        case .needMore:
            connack = pending
        case .invalid:
            fail("the target answered the relay with an unreadable packet")
        case .complete(let total) where pending.count < total:
            connack = pending
        case .complete(let total):
            // Type, 1-4 length bytes (a set top bit says another follows), acknowledge flags, reason.
            var lengthBytes = 1
            while pending[lengthBytes] & 0x80 != 0 { lengthBytes += 1 }
            let reasonAt = lengthBytes + 2
            guard pending[0] == 0x20, reasonAt < total, pending[reasonAt] == 0 else {
                let reason = reasonAt < pending.count ? pending[reasonAt] : 0xFF
                return fail("the target refused the relay (CONNACK reason 0x\(String(reason, radix: 16)))")
            }
            connack = nil
            if pending.count > total { forward(pending[total...], to: client, from: upstream) }
        }
    }

    private func forward(_ bytes: UnsafeRawBufferPointer, to destination: any ByteStream, from source: any ByteStream) {
        destination.write(bytes)
        if destination.pendingWriteBytes > Self.maxQueuedBytes { source.stopReading() }
    }

    private func forward<C: Collection>(_ bytes: C, to destination: any ByteStream, from source: any ByteStream) where C.Element == UInt8 {
        Array(bytes).withUnsafeBytes { forward($0, to: destination, from: source) }
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) {
        guard !isFinished else { return }
        if stream === client {
            broker.log.debug("relay: \(clientId): the client closed its connection")
        } else {
            broker.log.info("relay: \(clientId): \(target) closed the relayed connection\(error.map { ": \($0)" } ?? "")")
        }
        finish()
    }

    /// The client's connection ended before the relay took it.
    func clientClosedEarly() {
        guard !isFinished else { return }
        waiting = nil
        finish()
    }

    /// Both ends close after what is queued for them.
    private func finish() {
        guard !isFinished else { return }
        isFinished = true
        deadline?.close()
        deadline = nil
        if upstream != nil { broker.metrics.relaysActive -= 1 }
        client.onDrained = nil
        upstream?.onDrained = nil
        upstream?.close()
        if let waiting { waiting.endRelayWait() } else { client.close() }
        waiting = nil
        broker.relays[ObjectIdentifier(self)] = nil
    }
}
