#if canImport(Glibc)
import Glibc
#endif

/// How published messages map to topics and subscribers.
enum Routing {
    /// Every publisher publishes to one topic that every subscriber subscribes to.
    case fixed(topic: String)
    /// `subscriptions` distinct filters (exact, `+` and `#` mixed) over the subscriber clients;
    /// half the publishes match exactly one filter, half match none.
    case wildcard(subscriptions: Int)
}

struct PubSubPlan {
    var scenario: String
    var label: String
    var broker: Endpoint
    var version: MQTTVersion = .v311
    var publishers = 1
    var subscribers = 1
    var publishQoS: UInt8 = 0
    var subscribeQoS: UInt8 = 0
    var payloadSize = 64
    var count = 100_000                 // messages per publisher
    var seconds = 10.0                  // publishing stops after this
    var drainSeconds = 2.0              // then waits this long for deliveries and acks
    var rate = 0.0                      // messages/s per publisher; 0 = as fast as allowed
    var inflight = 64                   // QoS 1 unacknowledged PUBLISHes per publisher
    var window = 65_536                 // end-to-end deliveries outstanding; 0 = unbounded
    var stallSeconds = 1.0              // window full without progress this long: write off
    var persistentSubscribers = false
    var clientPrefix = "fgb"
    var brokerPIDs: [Int32] = []       // CPU summed over all of them (a fabric: agents + coordinator)
    /// Subscribers connect here instead of `broker`, subscriber s to subscriberBrokers[s % count]
    /// (cross-gateway runs: publisher on one gateway, subscribers on others).
    var subscriberBrokers: [Endpoint] = []
    /// Written (empty) once every subscriber is established; the harness then checks the
    /// subscriptions have propagated and creates `startFile`, which publishers wait for.
    var subscribedFile: String?
    var startFile: String?
    var startWaitSeconds = 30.0
    var routing = Routing.fixed(topic: "bench/t")
    var sourceAddresses = 4
    var connectSeconds = 30.0
    var tls: TLSOptions?
    var quickAck = false
}

/// Publishers and subscribers on one loop: fan-in, fan-out, latency, wildcard and durability.
final class PubSubRun: Engine {
    let plan: PubSubPlan
    var tracker: SequenceTracker
    var histogram = LatencyHistogram()
    var publisherStates: [PublisherState] = []
    var publisherConnections: [Connection] = []
    var subscriberConnections: [Connection] = []
    var rawDeliveries = 0
    var misrouted = 0
    var dupFlags = 0
    var pubacks = 0
    var unexpectedAcks = 0
    var ackErrors = 0
    var lastDeliveryAt: UInt64 = 0
    var lastAckAt: UInt64 = 0
    var lastProgressAt: UInt64 = 0
    var writtenOff = 0
    var stalls = 0
    var payloadTemplate: [UInt8]
    // Wildcard routing tables: topic bytes per filter id.
    var matchTopics: [[UInt8]] = []
    var missTopics: [[UInt8]] = []
    var fixedTopic: [UInt8] = []
    var subscriptionCount = 0

    init(plan: PubSubPlan) throws(SystemError) {
        self.plan = plan
        let mode: SequenceTracker.Mode
        if case .wildcard = plan.routing { mode = .unicast } else { mode = .broadcast }
        tracker = SequenceTracker(mode: mode, publishers: plan.publishers, subscribers: plan.subscribers,
                                  capacity: plan.count)
        payloadTemplate = [UInt8](repeating: 0x2E, count: max(plan.payloadSize, Payload.headerSize))
        try super.init(broker: plan.broker, version: plan.version, keepAlive: 300, tls: plan.tls)
        persistentSubscribers = plan.persistentSubscribers
        quickAck = plan.quickAck
        buildRouting()
        for s in 0..<plan.subscribers {
            let c = addConnection(role: .subscriber, roleIndex: s, clientID: "\(plan.clientPrefix)-sub-\(s)",
                                  source: sourceAddress(s % plan.sourceAddresses), outCapacity: 1024)
            c.subscriptions = subscriptions(for: s)
            if !plan.subscriberBrokers.isEmpty { c.endpoint = plan.subscriberBrokers[s % plan.subscriberBrokers.count] }
            subscriberConnections.append(c)
        }
        for p in 0..<plan.publishers {
            let c = addConnection(role: .publisher, roleIndex: p, clientID: "\(plan.clientPrefix)-pub-\(p)",
                                  source: sourceAddress((plan.subscribers + p) % plan.sourceAddresses),
                                  outCapacity: 128 * 1024)
            publisherConnections.append(c)
            publisherStates.append(PublisherState())
        }
    }

    var isUnicast: Bool { tracker.mode == .unicast }

    // MARK: routing

    private func buildRouting() {
        switch plan.routing {
        case .fixed(let topic):
            fixedTopic = Array(topic.utf8)
        case .wildcard(let n):
            subscriptionCount = n
            matchTopics = (0..<n).map { Array("w/\($0)/x/y".utf8) }
            // Two non-matching shapes: an id no filter has, and a topic that shares the id level
            // with the `+/{id}/x/y` filters but differs in the last level.
            missTopics = (0..<n).map { $0 & 1 == 0 ? Array("w/\(n + $0)/x/y".utf8) : Array("v/\($0)/x/z".utf8) }
        }
    }

    /// Filter for id: four shapes, each matching `w/{id}/x/y` and nothing any other id publishes.
    static func filter(_ id: Int) -> String {
        switch id % 4 {
        case 0: return "w/\(id)/x/y"
        case 1: return "w/\(id)/+/y"
        case 2: return "w/\(id)/#"
        default: return "+/\(id)/x/y"
        }
    }

    private func subscriptions(for s: Int) -> [[SubscriptionRequest]] {
        switch plan.routing {
        case .fixed(let topic):
            return [[SubscriptionRequest(filter: topic, qos: plan.subscribeQoS)]]
        case .wildcard(let n):
            var batches: [[SubscriptionRequest]] = []
            var batch: [SubscriptionRequest] = []
            var id = s
            while id < n {
                batch.append(SubscriptionRequest(filter: Self.filter(id), qos: plan.subscribeQoS))
                if batch.count == 50 { batches.append(batch); batch = [] }
                id += plan.subscribers
            }
            if !batch.isEmpty { batches.append(batch) }
            return batches
        }
    }

    /// Wildcard routing of message `seq`: (matches?, filter id).
    @inline(__always)
    func route(_ seq: UInt64) -> (Bool, Int) {
        let id = Int(truncatingIfNeeded: ((seq >> 1) &* 0x9E37_79B9_7F4A_7C15) >> 33) % subscriptionCount
        return (seq & 1 == 0, id)
    }

    // MARK: counts

    var expectedDeliveries: Int {
        if isUnicast { return publisherStates.reduce(0) { $0 + $1.matched } }
        return publisherStates.reduce(0) { $0 + $1.sent } * subscriberConnections.count
    }

    var totalSent: Int { publisherStates.reduce(0) { $0 + $1.sent } }
    var allAcked: Bool { publisherStates.allSatisfy { $0.inflight == 0 } }

    // MARK: hooks

    override func onPublish(_ c: Connection, _ publish: InboundPublish, now: UInt64) {
        rawDeliveries += 1
        if publish.dup { dupFlags += 1 }
        guard c.role == .subscriber, let (publisher, seq, sentAt) = Payload.read(publish.payload) else {
            tracker.recordForeign()
            return
        }
        if isUnicast {
            let (matches, id) = route(seq)
            if !matches || id % plan.subscribers != c.roleIndex { misrouted += 1 }
        }
        if tracker.record(publisher: Int(publisher), subscriber: c.roleIndex, seq: seq) {
            histogram.record(now > sentAt ? now - sentAt : 0)
            lastDeliveryAt = now
            lastProgressAt = now
        }
    }

    override func onPuback(_ c: Connection, _ id: UInt16, reason: UInt8, now: UInt64) {
        guard c.role == .publisher else { unexpectedAcks += 1; return }
        let p = publisherStates[c.roleIndex]
        let word = Int(id >> 6), bit = UInt64(1) << UInt64(id & 63)
        guard p.inflightIDs[word] & bit != 0 else { unexpectedAcks += 1; return }
        p.inflightIDs[word] &= ~bit
        p.inflight -= 1
        p.acked += 1
        pubacks += 1
        if reason >= 0x80 { ackErrors += 1 }
        lastAckAt = now
        lastProgressAt = now
    }

    // MARK: publishing

    /// Builds and writes up to `limit` messages for publisher `index`; returns how many.
    @inline(__always)
    private func publish(_ index: Int, limit: Int, now: UInt64) -> Int {
        let c = publisherConnections[index]
        let p = publisherStates[index]
        let qos = plan.publishQoS
        let out = c.out
        var n = 0
        payloadTemplate.withUnsafeBufferPointer { template in
            while n < limit && out.readableBytes < 64 * 1024 {
                let seq = UInt64(p.sent)
                var packetID: UInt16 = 0
                if qos > 0 {
                    packetID = UInt16(seq % 65_535) + 1
                    p.inflightIDs[Int(packetID >> 6)] |= UInt64(1) << UInt64(packetID & 63)
                    p.inflight += 1
                }
                let topic: [UInt8]
                if isUnicast {
                    let (matches, id) = route(seq)
                    topic = matches ? matchTopics[id] : missTopics[id]
                    if matches { p.matched += 1 }
                } else {
                    topic = fixedTopic
                }
                topic.withUnsafeBufferPointer {
                    MQTTPacketBuilder.publishHeader(into: out, version: version, topic: $0, qos: qos,
                                                    packetID: packetID, payloadLength: template.count)
                }
                let at = out.base + out.writeIndex
                out.writeBytes(template.baseAddress!, template.count)
                Payload.write(at, publisher: UInt32(index), seq: seq,
                              timestamp: plan.rate > 0 ? monotonicNanos() : now)
                p.sent += 1
                n += 1
            }
        }
        if n > 0 { flush(c) }
        return n
    }

    // MARK: running

    func run() -> JSON {
        raiseFileLimit()
        let setupStart = monotonicNanos()
        let subsReady = connectAll(subscriberConnections, concurrency: 200, timeoutNanos: UInt64(plan.connectSeconds * 1e9))
        let subscribeSeconds = Double(monotonicNanos() - setupStart) / 1e9
        var startWait = 0.0
        if subsReady, let file = plan.subscribedFile {
            let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            if fd >= 0 { close(fd) } else { noteError("cannot create --subscribed-file \(file)") }
        }
        if subsReady, let file = plan.startFile {
            let t = monotonicNanos()
            if !runUntil(timeoutNanos: UInt64(plan.startWaitSeconds * 1e9), { access(file, F_OK) == 0 }) {
                noteError("--start-file \(file) did not appear within \(plan.startWaitSeconds) s")
            }
            startWait = Double(monotonicNanos() - t) / 1e9
        }
        let pubsReady = connectAll(publisherConnections, concurrency: 200, timeoutNanos: UInt64(plan.connectSeconds * 1e9))
        let setupSeconds = Double(monotonicNanos() - setupStart) / 1e9
        let allReady = subsReady && pubsReady && connections.allSatisfy(\.established)
        if !allReady {
            noteError("setup incomplete: \(establishedCount)/\(connections.count) connections established")
        }

        let probes = plan.brokerPIDs.map(ProcessProbe.init)
        let brokerCPU0 = probes.map { $0.cpuSeconds() }
        let ownCPU0 = ownCPUSeconds()
        let t0 = monotonicNanos()
        lastProgressAt = t0
        let deadline = t0 + UInt64(plan.seconds * 1e9)
        var publishEnd: UInt64 = 0
        var stoppedBy = "count"
        let fanout = isUnicast ? 1 : max(1, subscriberConnections.count)
        let interval = plan.rate > 0 ? UInt64(1e9 / plan.rate) : 0

        while allReady {
            let now = monotonicNanos()
            if publishEnd == 0 {
                let done = publisherStates.allSatisfy { $0.sent >= plan.count }
                if done || now >= deadline {
                    publishEnd = now
                    if !done { stoppedBy = "time" }
                }
            }
            if publishEnd != 0 {
                if tracker.unique + writtenOff >= expectedDeliveries && allAcked { break }
                // Drain while deliveries or acks keep arriving; stop after `drainSeconds` without
                // progress, and in any case after 10 drain periods.
                let idleFor = now - max(lastProgressAt, publishEnd)
                if idleFor >= UInt64(plan.drainSeconds * 1e9) || now >= publishEnd + UInt64(plan.drainSeconds * 10e9) {
                    stoppedBy += "+drain-timeout"
                    break
                }
            }
            var wait: UInt64 = 2_000_000
            if publishEnd == 0 {
                var credit = Int.max
                if plan.window > 0 {
                    let outstanding = expectedDeliveries - tracker.unique - writtenOff
                    if outstanding >= plan.window && now - lastProgressAt > UInt64(plan.stallSeconds * 1e9) {
                        // Nothing arrives and the window is full: count those as lost and go on.
                        writtenOff += outstanding
                        stalls += 1
                        lastProgressAt = now
                    }
                    credit = max(0, (plan.window - (expectedDeliveries - tracker.unique - writtenOff)) / fanout)
                }
                for i in 0..<publisherConnections.count {
                    let c = publisherConnections[i], p = publisherStates[i]
                    guard c.established, !c.watchingWrite, p.sent < plan.count else { continue }
                    var limit = min(512, plan.count - p.sent, credit)
                    if plan.publishQoS > 0 { limit = min(limit, plan.inflight - p.inflight) }
                    if interval > 0 {
                        let due = Int((now - t0) / interval) + 1 - p.sent
                        if due <= 0 {
                            wait = min(wait, t0 + UInt64(p.sent) * interval - now)
                            continue
                        }
                        limit = min(limit, due)
                    }
                    guard limit > 0 else { continue }
                    let n = publish(i, limit: limit, now: now)
                    if credit != Int.max { credit -= n }
                    if n == limit && interval == 0 && !c.watchingWrite { wait = 0 }
                }
            }
            loop.poll(timeoutNanos: wait) { handleEvent(token: $0, events: $1) }
        }

        let endNow = monotonicNanos()
        let ownCPU = ownCPUSeconds() - ownCPU0
        let brokerCPUEach: [Double?] = zip(probes, brokerCPU0).map { p, c0 in p.cpuSeconds().flatMap { b in c0.map { b - $0 } } }
        let brokerCPU: Double? = brokerCPUEach.isEmpty || brokerCPUEach.contains(where: { $0 == nil })
            ? nil : brokerCPUEach.reduce(0) { $0 + $1! }
        let brokerRSS = probes.first?.residentBytes()
        let end = max(lastDeliveryAt, lastAckAt, publishEnd == 0 ? endNow : publishEnd)
        let duration = Double((allReady ? end : endNow) - t0) / 1e9
        let wall = Double(endNow - t0) / 1e9
        closeAll(sendDisconnect: true)

        let sent = totalSent
        let expected = expectedDeliveries
        let unique = tracker.unique
        let lost = max(0, expected - unique)
        func us(_ q: Double) -> JSON { .double(Double(histogram.value(at: q)) / 1000) }
        var fields: [(String, JSON)] = [
            ("scenario", .string(plan.scenario)),
            ("broker", .string(plan.label)),
            ("mqtt", .string(version == .v5 ? "5" : "3.1.1")),
            ("qos", .int(Int(plan.publishQoS))),
            ("publishers", .int(plan.publishers)),
            ("subscribers", .int(plan.subscribers)),
            ("payload_bytes", .int(payloadTemplate.count)),
        ]
        if case .wildcard(let n) = plan.routing {
            fields.append(("subscriptions", .int(n)))
            fields.append(("subscribe_seconds", .double(subscribeSeconds)))
            fields.append(("subscriptions_per_s", .double(Double(n) / max(subscribeSeconds, 1e-9))))
        }
        fields += [
            ("ok", .bool(allReady && errorSamples.isEmpty)),
            ("stopped_by", .string(stoppedBy)),
            ("target_rate", .double(plan.rate * Double(plan.publishers))),
            ("msgs_sent", .int(sent)),
            ("deliveries_expected", .int(expected)),
            ("deliveries_received", .int(rawDeliveries)),
            ("unique_received", .int(unique)),
            ("loss", .int(lost)),
            ("dups", .int(tracker.duplicates)),
            ("reorders", .int(tracker.reorders)),
            ("misrouted", .int(misrouted)),
            ("foreign", .int(tracker.foreign)),
            ("dup_flag_seen", .int(dupFlags)),
            ("pubacks", .int(pubacks)),
            ("unexpected_pubacks", .int(unexpectedAcks)),
            ("puback_errors", .int(ackErrors)),
            ("window_stalls", .int(stalls)),
            ("setup_seconds", .double(setupSeconds)),
            ("start_wait_seconds", .double(startWait)),
            ("duration_s", .double(duration)),
            ("msg_rate", .double(Double(sent) / max(duration, 1e-9))),
            ("delivery_rate", .double(Double(unique) / max(duration, 1e-9))),
            ("latency_us", .object([
                ("count", .int(Int(histogram.total))),
                ("p50", us(0.5)), ("p90", us(0.9)), ("p99", us(0.99)), ("p999", us(0.999)),
                ("max", .double(Double(histogram.maxValue) / 1000)),
                ("mean", .double(histogram.mean / 1000)),
            ])),
            ("gen_cpu_s", .double(ownCPU)),
            ("gen_cpu_pct", .double(100 * ownCPU / max(wall, 1e-9))),
            ("broker_cpu_s", .optional(brokerCPU)),
            ("broker_cpu_pct", .optional(brokerCPU.map { 100 * $0 / max(wall, 1e-9) })),
            ("broker_rss_bytes", .optional(brokerRSS)),
        ]
        if probes.count > 1 {
            // Per process, in --broker-pid order.
            fields.append(("broker_cpu_pct_each", .array(brokerCPUEach.map { c in
                c.map { .double(100 * $0 / max(wall, 1e-9)) } ?? .null })))
        }
        if !plan.subscriberBrokers.isEmpty {
            fields.append(("subscriber_brokers", .array(plan.subscriberBrokers.map { .string($0.description) })))
        }
        fields += tlsFields()
        fields.append(("errors", .array(errorSamples.map { .string($0) })))
        return .object(fields)
    }
}
