import FleetConfig
import FleetCore
import FleetProtocol
import FleetRuntime
import Logging

/// The managed-socket service (issue #14; the device side: Protocol/managed-sockets.md): raw TCP or TLS sockets
/// whose devices name a function mapping in one `OPEN` line; the mapping's endpoint hears the
/// socket's events and the chunks its receive criteria cut from the stream, and may answer with
/// bytes for the device. This type holds what the sockets share: the listeners, the mappings (the
/// config file's, which win, and the coordinator's, which are stored), socket ids, the HTTP client,
/// each mapping's concurrency gate and call figures. Loop-thread only.
final class SocketService {
    let loop: EventLoop
    unowned let broker: Broker
    let log: Logger
    let store: SocketStore
    /// "<gateway id>-<n>"; the gateway id is the fleet's (or "agent" on a stand-alone agent).
    let gatewayId: String
    private(set) var servers: [TCPServer] = []
    private(set) var tlsServers: [TLSServer] = []
    private var configMappings: [String: SocketMapping]
    private var pushedMappings: [String: SocketMapping] = [:]
    private(set) var sockets: [ObjectIdentifier: ManagedSocket] = [:]
    private var httpClient: HTTPClient?
    /// Per mapping: calls running now, and the sockets waiting for one (max_concurrency).
    private var callsRunning: [String: Int] = [:]
    private var waitingForCall: [String: [ManagedSocket]] = [:]
    /// Per mapping, since start: errors, latency sum and cumulative buckets (SOCKET_REPORT).
    private(set) var callStats: [String: FleetFrame.SocketReport.MappingCalls] = [:]
    /// Sockets not past their handshake: bounded, like MQTT's pre-authentication budget.
    var handshaking = 0
    static let maxHandshaking = 10_000
    /// Password checks (PBKDF2 on the worker pool) of sockets at once: past it a device hears
    /// `ERR unavailable` instead of queueing work that abandoned handshakes would leave behind.
    var passwordChecks = 0
    static let maxPasswordChecks = 8
    static let handshakeTimeoutMs: UInt64 = 10_000
    var metrics = Metrics()
    /// Links between this gateway's sockets and to other gateways' (issue #15).
    private(set) lazy var peering: SocketPeering = {
        let p = SocketPeering(gatewayId: gatewayId)
        p.service = self
        return p
    }()

    struct Metrics {
        var opened: UInt64 = 0
        var refused: UInt64 = 0
        var closed: UInt64 = 0
        var calls: UInt64 = 0
        var callErrors: UInt64 = 0
        var chunksFiltered: UInt64 = 0
    }

    init(loop: EventLoop, broker: Broker, log: Logger, store: SocketStore, gatewayId: String, configMappings: [String: String]) throws {
        self.loop = loop
        self.broker = broker
        self.log = log
        self.store = store
        self.gatewayId = gatewayId
        var parsed: [String: SocketMapping] = [:]
        for (name, document) in configMappings {
            do throws(SocketMappingError) { parsed[name] = try SocketMapping(json: document) } catch {
                throw ConfigError(file: nil, line: nil, key: "mappings.\(name).\(error.path)", message: error.message)
            }
        }
        self.configMappings = parsed
        for (name, document) in try store.loadPushedMappings() {
            do throws(SocketMappingError) { pushedMappings[name] = try SocketMapping(json: document) } catch {
                log.error("stored mapping \(name) no longer validates, ignored: \(error)")
            }
        }
    }

    /// The config file's mapping of that name, else the coordinator's.
    func mapping(named name: String) -> SocketMapping? { configMappings[name] ?? pushedMappings[name] }

    var mappingCount: Int { Set(configMappings.keys).union(pushedMappings.keys).count }

    func listen(plain: [ListenAddress], tls: [ListenAddress], tlsContext: TLSContext?) throws {
        for address in plain {
            let server = try TCPServer(loop: loop, host: address.host, port: address.port) { [unowned self] in accept($0) }
            server.onAcceptError = { [log, unowned server] error in
                log.warning("socket listener \(server.localAddress): \(error); refusing connections with back-off")
            }
            servers.append(server)
            log.info("managed sockets listening on \(server.localAddress)")
        }
        guard let tlsContext else { return }
        for address in tls {
            let server = try TLSServer(loop: loop, host: address.host, port: address.port, context: tlsContext) { [unowned self] in accept($0) }
            server.onAcceptError = { [log] error in log.warning("socket TLS listener \(address): \(error); refusing connections with back-off") }
            tlsServers.append(server)
            log.info("managed sockets over TLS listening on \(server.localAddress)")
        }
    }

    private func accept(_ stream: any ByteStream) {
        guard handshaking < Self.maxHandshaking else {
            metrics.refused += 1
            stream.write(SocketAnswer.error(.unavailable, "too many sockets opening"))
            return stream.close()
        }
        let socket = ManagedSocket(stream: stream, service: self)
        sockets[ObjectIdentifier(socket)] = socket
        stream.handler = socket
        socket.start()
    }

    func forget(_ socket: ManagedSocket) {
        sockets[ObjectIdentifier(socket)] = nil
        peering.forget(socket)
        waitingForCall[socket.mappingName ?? ""]?.removeAll { $0 === socket }
    }

    func nextSocketId() throws -> String { "\(gatewayId)-\(try store.allocateId())" }

    // MARK: The coordinator's mappings

    func applyPushed(_ frame: FleetFrame.Mappings, replacingSoFar: inout [String: String]?) {
        if frame.replaces { replacingSoFar = [:] }
        if replacingSoFar != nil {
            for e in frame.entries { replacingSoFar?[e.name] = e.document }
            guard frame.isLast, let set = replacingSoFar else { return }
            replacingSoFar = nil
            var parsed: [String: SocketMapping] = [:]
            for (name, document) in set {
                do throws(SocketMappingError) { parsed[name] = try SocketMapping(json: document) } catch {
                    log.error("mapping \(name) from the coordinator does not validate here, ignored: \(error)")
                }
            }
            pushedMappings = parsed
            do { try store.replacePushedMappings(set.filter { parsed[$0.key] != nil }) } catch {
                log.error("pushed mappings could not be stored: \(error)")
            }
            log.info("mappings from the coordinator: \(parsed.keys.sorted().joined(separator: ", "))")
            return
        }
        for e in frame.entries {
            if e.document.isEmpty {
                pushedMappings[e.name] = nil
                try? store.deletePushedMapping(e.name)
                log.info("mapping \(e.name) deleted by the coordinator")
                continue
            }
            do throws(SocketMappingError) {
                pushedMappings[e.name] = try SocketMapping(json: e.document)
                try? store.savePushedMapping(e.name, document: e.document)
                log.info("mapping \(e.name) set by the coordinator")
            } catch {
                log.error("mapping \(e.name) from the coordinator does not validate here, ignored: \(error)")
            }
        }
    }

    // MARK: Calls: one client, a concurrency gate per mapping

    func http() throws -> HTTPClient {
        if let httpClient { return httpClient }
        let client = try HTTPClient(loop: loop)
        httpClient = client
        return client
    }

    /// A socket wants to call its mapping's endpoint: now if the mapping is under its
    /// `max_concurrency`, else when a call of the mapping ends (in arrival order).
    func requestCall(for socket: ManagedSocket, mapping: String, limit: Int) {
        if callsRunning[mapping, default: 0] < limit {
            callsRunning[mapping, default: 0] += 1
            socket.callGranted()
        } else {
            waitingForCall[mapping, default: []].append(socket)
        }
    }

    /// A call of `mapping` ended: counted, and its slot passes to the next socket waiting.
    /// `gated: false`: a call that took no slot (an MQTT endpoint's publish), counted only.
    func callEnded(mapping: String, latencyMs: UInt64, failed: Bool, gated: Bool = true) {
        record(mapping: mapping, latencyMs: latencyMs, failed: failed)
        if gated { releaseCall(mapping: mapping) }
    }

    private func record(mapping: String, latencyMs: UInt64, failed: Bool) {
        metrics.calls += 1
        if failed { metrics.callErrors += 1 }
        let bounds = FleetLimits.callLatencyBoundsMs
        var stats = callStats[mapping] ?? .init(mapping: mapping, errors: 0, latencySumMs: 0, buckets: Array(repeating: 0, count: bounds.count + 1))
        if failed { stats.errors += 1 }
        stats.latencySumMs &+= latencyMs
        for (i, bound) in bounds.enumerated() where latencyMs <= bound { stats.buckets[i] += 1 }
        stats.buckets[bounds.count] += 1
        callStats[mapping] = stats
    }

    /// A slot of `mapping` is free (a call ended, or a granted socket had nothing left to call).
    func releaseCall(mapping: String) {
        if var waiting = waitingForCall[mapping], !waiting.isEmpty {
            let next = waiting.removeFirst()
            waitingForCall[mapping] = waiting
            next.callGranted()   // the slot passes on
        } else {
            callsRunning[mapping, default: 1] -= 1
        }
    }

    // MARK: Reports

    /// SOCKET_REPORT parts: every socket past its handshake, and each mapping's call figures.
    func report() -> [FleetFrame.SocketReport] {
        let open = sockets.values.compactMap { $0.reportEntry() }.sorted { $0.socketId < $1.socketId }
        var parts: [FleetFrame.SocketReport] = []
        var index = 0
        repeat {
            let slice = Array(open[index..<min(open.count, index + FleetLimits.maxSocketsPerReport)])
            index += slice.count
            parts.append(.init(isFirst: parts.isEmpty, isLast: index >= open.count, sockets: slice,
                               mappings: index >= open.count ? Array(callStats.values.sorted { $0.mapping < $1.mapping }.prefix(FleetLimits.maxMappingsPerFrame)) : []))
        } while index < open.count
        return parts
    }

    func close() {
        for s in servers { s.close() }
        for s in tlsServers { s.close() }
        for socket in Array(sockets.values) { socket.abort() }
        httpClient?.close()
        store.close()
    }
}
