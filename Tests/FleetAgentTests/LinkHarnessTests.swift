import Foundation
import Logging
import Testing
import FleetCore
import FleetProtocol
import FleetRuntime
@testable import FleetAgent

// Test harness for the coordinator link: a fake coordinator on FleetRuntime (TCPServer + the
// fleet frame codec), a tiny raw MQTT 3.1.1 client with its own packet builders, and an agent
// core (loop, store, broker, link) wired like Agent.run. Everything runs on the test's thread,
// which is the loop thread; the loop is driven by `LinkHarness.spin` (bounded, no sleeps).

enum LinkHarness {
    /// Runs the loop until `done()` holds, bounded by turns and by a 10 ms watchdog tick count
    /// (≈ 10 s). Returns `done()`.
    @discardableResult
    static func spin(_ loop: EventLoop, maxTicks: Int = 1_000, until done: () -> Bool) -> Bool {
        final class Ticks { var count = 0 }
        let ticks = Ticks()
        let watchdog = LoopTimer(loop: loop)
        watchdog.start(afterMilliseconds: 10, repeatEveryMilliseconds: 10) { ticks.count += 1 }
        defer { watchdog.close() }
        var turns = 0
        while !done() && turns < 1_000_000 && ticks.count < maxTicks {
            loop.runOnce(nowait: false)
            turns += 1
        }
        return done()
    }

    static func temporaryDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "fleetgate-link-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}

// MARK: - Fake coordinator

/// One agent connection as the fake coordinator sees it: every decoded frame, in order.
final class LinkFakePeer: StreamHandler {
    let stream: TCPStream
    var frames: [FleetFrame] = []
    var closed = false
    var malformed: FleetFrameError?
    private var buffer: [UInt8] = []
    private let decoder = FleetFrameDecoder()
    weak var owner: LinkFakeCoordinator?

    init(stream: TCPStream) { self.stream = stream }

    func send(_ frame: FleetFrame) { stream.write(FleetFrameEncoder.encode(frame)) }

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        var offset = 0
        while true {
            let decoded: (frame: FleetFrame, consumed: Int)?
            do { decoded = try decoder.decode(Array(buffer[offset...])) } catch { malformed = error; break }
            guard let (frame, consumed) = decoded else { break }
            offset += consumed
            frames.append(frame)
            owner?.received(frame, on: self)
        }
        buffer.removeFirst(offset)
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) { closed = true }

    var hello: FleetFrame.Hello? {
        for case .hello(let h) in frames { return h }
        return nil
    }
    var snapshots: [FleetFrame.InterestSnapshot] { frames.compactMap { if case .interestSnapshot(let s) = $0 { s } else { nil } } }
    var deltas: [FleetFrame.InterestDelta] { frames.compactMap { if case .interestDelta(let d) = $0 { d } else { nil } } }
    var forwards: [FleetFrame.Forward] { frames.compactMap { if case .forward(let f) = $0 { f } else { nil } } }
    var acks: [FleetFrame.DeliveryAck] { frames.compactMap { if case .deliveryAck(let a) = $0 { a } else { nil } } }
    var errors: [FleetFrame.ErrorReport] { frames.compactMap { if case .error(let e) = $0 { e } else { nil } } }
    /// DURABLE_INTEREST: the filters in force after every frame so far (snapshot parts then deltas).
    var durableFilters: Set<String> {
        var table: Set<String> = []
        for case .durableInterest(let d) in frames {
            switch d {
            case .snapshot(let s): if s.sequence == 0 { table = [] }; table.formUnion(s.filters)
            case .delta(let delta): table.subtract(delta.removed); table.formUnion(delta.added)
            }
        }
        return table
    }
}

/// Accepts agent connections; answers HELLO with HELLO_ACK (and a REMOTE_INTEREST snapshot of
/// `remoteFilters`) when `autoAck` is on.
final class LinkFakeCoordinator {
    let server: TCPServer
    private(set) var peers: [LinkFakePeer] = []
    var autoAck = true
    var remoteFilters: [String]? = nil
    var heartbeatMs: UInt32 = 60_000
    /// Replaces the automatic HELLO_ACK when set.
    var onHello: ((LinkFakePeer) -> Void)?
    private var epoch: UInt64 = 0

    init(loop: EventLoop) throws {
        final class Box { weak var fake: LinkFakeCoordinator? }
        let box = Box()
        server = try TCPServer(loop: loop, host: "127.0.0.1", port: 0) { stream in
            let peer = LinkFakePeer(stream: stream)
            peer.owner = box.fake
            stream.handler = peer
            stream.startReading()
            box.fake?.peers.append(peer)
        }
        box.fake = self
    }

    var current: LinkFakePeer? { peers.last }
    var port: UInt16 { server.localPort }

    func received(_ frame: FleetFrame, on peer: LinkFakePeer) {
        guard case .hello = frame else { return }
        if let onHello { return onHello(peer) }
        if autoAck { ack(peer) }
    }

    func ack(_ peer: LinkFakePeer) {
        epoch += 1
        peer.send(.helloAck(FleetFrame.HelloAck(version: 1, sessionEpoch: epoch, heartbeatIntervalMs: heartbeatMs, coordinatorId: "fake")))
        if let remoteFilters {
            peer.send(.remoteInterest(.snapshot(FleetFrame.InterestSnapshot(epoch: 1, sequence: 0, isLast: true, filters: remoteFilters))))
        }
    }

    func close() {
        server.close()
        for p in peers where !p.closed { p.stream.closeNow() }
    }
}

// MARK: - Raw MQTT 3.1.1 client (packet builders independent of the broker)

final class LinkMQTTClient: StreamHandler {
    struct Publish: Equatable { var topic: String; var payload: [UInt8]; var qos: UInt8; var retain: Bool }

    private(set) var stream: TCPStream?
    var connacks = 0
    var subacks = 0
    var pubacks: [UInt16] = []
    var publishes: [Publish] = []
    var closed = false
    /// Called when a PUBACK arrives (to check what is durable at that moment).
    var onPubAck: ((UInt16) -> Void)?
    private var buffer: [UInt8] = []

    static func connect(loop: EventLoop, port: UInt16, clientId: String, clean: Bool = true) throws -> LinkMQTTClient {
        let client = LinkMQTTClient()
        final class Slot { var result: Result<TCPStream, RuntimeError>? }
        let slot = Slot()
        try TCPStream.connect(loop: loop, host: "127.0.0.1", port: port) { slot.result = $0 }
        #expect(LinkHarness.spin(loop) { slot.result != nil })
        let stream = try #require(slot.result).get()
        client.stream = stream
        stream.handler = client
        stream.startReading()
        let id = Array(clientId.utf8)
        var body: [UInt8] = [0, 4] + Array("MQTT".utf8) + [4, clean ? 0x02 : 0x00, 0, 60]
        body += [UInt8(id.count >> 8), UInt8(id.count & 0xFF)] + id
        client.send(0x10, body)
        #expect(LinkHarness.spin(loop) { client.connacks == 1 })
        return client
    }

    private static func string(_ s: String) -> [UInt8] {
        let b = Array(s.utf8)
        return [UInt8(b.count >> 8), UInt8(b.count & 0xFF)] + b
    }

    private func send(_ header: UInt8, _ body: [UInt8]) {
        var packet: [UInt8] = [header]
        var n = body.count
        repeat {
            var byte = UInt8(n % 128)
            n /= 128
            if n > 0 { byte |= 0x80 }
            packet.append(byte)
        } while n > 0
        stream?.write(packet + body)
    }

    func subscribe(_ filter: String, qos: UInt8 = 1, id: UInt16 = 1) {
        send(0x82, [UInt8(id >> 8), UInt8(id & 0xFF)] + Self.string(filter) + [qos])
    }

    func unsubscribe(_ filter: String, id: UInt16 = 2) {
        send(0xA2, [UInt8(id >> 8), UInt8(id & 0xFF)] + Self.string(filter))
    }

    func publish(_ topic: String, _ payload: [UInt8], qos: UInt8 = 0, retain: Bool = false, id: UInt16 = 1) {
        var body = Self.string(topic)
        if qos > 0 { body += [UInt8(id >> 8), UInt8(id & 0xFF)] }
        send(0x30 | qos << 1 | (retain ? 1 : 0), body + payload)
    }

    func disconnect() {
        send(0xE0, [])
        stream?.close()
    }

    func streamReceived(_ stream: any ByteStream, _ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        while buffer.count >= 2 {
            var length = 0, multiplier = 1, i = 1
            var complete = false
            while i < buffer.count && i <= 4 {
                let b = Int(buffer[i])
                length += (b & 0x7F) * multiplier
                multiplier *= 128
                i += 1
                if b & 0x80 == 0 { complete = true; break }
            }
            guard complete, buffer.count >= i + length else { return }
            let type = buffer[0] >> 4, flags = buffer[0] & 0x0F
            let body = Array(buffer[i..<(i + length)])
            buffer.removeFirst(i + length)
            switch type {
            case 2: connacks += 1
            case 9: subacks += 1
            case 4: let id = UInt16(body[0]) << 8 | UInt16(body[1]); pubacks.append(id); onPubAck?(id)
            case 3:
                let n = Int(body[0]) << 8 | Int(body[1])
                let topic = String(decoding: body[2..<(2 + n)], as: UTF8.self)
                let qos = (flags >> 1) & 3
                var rest = 2 + n
                if qos > 0 {
                    let id = UInt16(body[rest]) << 8 | UInt16(body[rest + 1])
                    rest += 2
                    send(0x40, [UInt8(id >> 8), UInt8(id & 0xFF)])
                }
                publishes.append(Publish(topic: topic, payload: Array(body[rest...]), qos: qos, retain: flags & 1 != 0))
            default: break
            }
        }
    }

    func streamClosed(_ stream: any ByteStream, error: RuntimeError?) { closed = true }
}

// MARK: - Agent core

/// Loop, store, broker with an MQTT listener, and a link pointed at a fake coordinator, wired as
/// `Agent.run` wires them (broker commit hook first, then the link's).
final class LinkRig {
    let dir: String
    let loop: EventLoop
    let store: SessionStore
    let broker: Broker
    let mqtt: TCPServer
    let fake: LinkFakeCoordinator
    var link: CoordinatorLink!
    var committer: TurnCommitter!
    var clients: [LinkMQTTClient] = []
    let gatewayId = "gw-a"
    let token = "s3cret-token"

    /// `dir`: the data directory of a previous rig (`finish(keepFiles: true)`), to start again
    /// from what it stored, as a restarted agent would.
    init(remoteFilters: [String]? = nil, backoff: Backoff = Backoff(minMs: 5, maxMs: 40), limits: LinkLimits = LinkLimits(),
         start: Bool = true, dir: String? = nil, configure: (LinkFakeCoordinator) -> Void = { _ in }) throws {
        self.dir = try dir ?? LinkHarness.temporaryDirectory()
        loop = try EventLoop()
        store = try SessionStore(path: self.dir + "/fleetgate.db", synchronous: .normal)
        broker = Broker(limits: BrokerLimits(), denySubscribe: [], security: try SecurityState(auth: anonymousAuth, policies: nil, limits: BrokerLimits()), log: Logger(label: "test.broker"), loop: loop, store: store,
                        wallClock: { UInt64(Date().timeIntervalSince1970 * 1000) })
        let broker = self.broker
        if dir != nil { try broker.restore() }
        mqtt = try TCPServer(loop: loop, host: "127.0.0.1", port: 0) { broker.accept($0) }
        committer = try TurnCommitter(loop: loop, databasePath: self.dir + "/fleetgate.db", synchronous: .normal, broker: broker)
        committer.install()
        fake = try LinkFakeCoordinator(loop: loop)
        fake.remoteFilters = remoteFilters
        configure(fake)
        try makeLink(backoff: backoff, limits: limits)
        if start { link.start(defaultAdvertise: mqtt.localAddress) }
    }

    func makeLink(backoff: Backoff = Backoff(minMs: 5, maxMs: 40), limits: LinkLimits = LinkLimits()) throws {
        try token.write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        var config = CoordinatorLinkConfig()
        config.address = ListenAddress(host: "127.0.0.1", port: fake.port)
        config.gatewayId = gatewayId
        config.tokenFile = dir + "/token"
        config.region = "eu-west"
        config.labels = ["rack": "7", "site": "lab"]
        config.capacity = 3
        config.advertise = "10.0.0.1:1883"
        var settings = try config.resolved(file: nil)
        settings.backoff = backoff
        let link = try CoordinatorLink(settings: settings, limits: limits, databasePath: dir + "/fleetgate.db", synchronous: .normal,
                                       broker: broker, loop: loop, log: Logger(label: "test.link"), jitter: { 1 })
        committer.link = link
        self.link = link
    }

    func client(_ id: String, clean: Bool = true) throws -> LinkMQTTClient {
        let c = try LinkMQTTClient.connect(loop: loop, port: mqtt.localPort, clientId: id, clean: clean)
        clients.append(c)
        return c
    }

    @discardableResult
    func spin(maxTicks: Int = 1_000, until done: () -> Bool) -> Bool { LinkHarness.spin(loop, maxTicks: maxTicks, until: done) }

    /// Waits for the session: HELLO answered, our snapshot received.
    func waitEstablished(peers: Int = 1) -> Bool {
        spin { link.isEstablished && fake.peers.count == peers && !(fake.current?.snapshots.isEmpty ?? true) }
    }

    /// Rows of forward_log through a separate connection (as a restart would see them).
    func loggedSequences() throws -> [UInt64] {
        let db = try SQLiteDatabase(path: dir + "/fleetgate.db")
        defer { db.close() }
        var out: [UInt64] = []
        try db.query("SELECT seq FROM forward_log ORDER BY seq", []) { out.append(UInt64($0.int64(0))) }
        return out
    }

    func seenMark(_ origin: String) throws -> UInt64? {
        let db = try SQLiteDatabase(path: dir + "/fleetgate.db")
        defer { db.close() }
        var out: UInt64?
        try db.query("SELECT seq FROM forward_seen WHERE origin = ?", [.text(origin)]) { out = UInt64($0.int64(0)) }
        return out
    }

    /// Stops everything and checks the loop ends with no handles left.
    func finish(keepFiles: Bool = false) {
        try? committer.commitNow()
        link.stop()
        for c in clients where !c.closed { c.stream?.close() }
        mqtt.close()
        fake.close()
        spin { clients.allSatisfy(\.closed) && fake.peers.allSatisfy(\.closed) }
        for c in Array(broker.connections.values) { c.stream.closeNow() }
        spin { broker.connections.isEmpty }
        #expect((try? committer.close()) != nil)
        store.close()
        #expect(loop.shutdown() == 0)
        if !keepFiles { removeFiles() }
    }

    func removeFiles() {
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// The link tests drive the broker with raw clients that send no credentials.
private let anonymousAuth: AuthSettings = {
    var a = AuthSettings()
    a.allowAnonymous = true
    return a
}()
