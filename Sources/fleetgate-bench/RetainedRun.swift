struct RetainedPlan {
    var label: String
    var broker: Endpoint
    var version: MQTTVersion = .v311
    /// Retained topics `bench/retained/<i mod groups>/<i>`, stored before the subscribers come.
    var retained = 100_000
    var groups = 1_000
    /// Clients that each subscribe to `bench/retained/<k mod groups>/+` (retained/groups matches).
    var subscribers = 1_000
    var concurrency = 100               // subscribers connecting (CONNECT .. SUBACK) at once
    var sourceAddresses = 4
    var seconds = 60.0                  // bound on each phase
    var brokerPID: Int32?
    var tls: TLSOptions?
    var quickAck = false
}

/// Wildcard SUBSCRIBE against many retained messages: one client stores `retained` retained
/// messages (QoS 0, then one QoS 1 marker whose PUBACK says the broker has read them all), then
/// `subscribers` clients subscribe to a `+` filter matching `retained / groups` each and wait for
/// all of those. Reports subscribes per second and the broker's CPU per subscribe for the second
/// phase, and what storing cost. Loop-thread only, like every Engine.
final class RetainedRun: Engine {
    let plan: RetainedPlan
    var subscriberConnections: [Connection] = []
    /// Retained PUBLISHes received per subscriber, and subscribers that have all of theirs.
    var received: [Int]
    var complete = 0
    var wrongTopic = 0
    var markerAcked = false
    var lastCompleteAt: UInt64 = 0
    let perSubscriber: Int

    init(plan: RetainedPlan) throws(SystemError) {
        self.plan = plan
        perSubscriber = plan.retained / plan.groups
        received = Array(repeating: 0, count: plan.subscribers)
        try super.init(broker: plan.broker, version: plan.version, keepAlive: 300, tls: plan.tls)
        quickAck = plan.quickAck
        _ = addConnection(role: .publisher, roleIndex: 0, clientID: "fgb-retained-pub", source: sourceAddress(0), outCapacity: 1 << 20)
        for k in 0..<plan.subscribers {
            let c = addConnection(role: .subscriber, roleIndex: k, clientID: "fgb-retained-sub-\(k)",
                                  source: sourceAddress(k % plan.sourceAddresses), outCapacity: 256)
            c.subscriptions = [[SubscriptionRequest(filter: "bench/retained/\(k % plan.groups)/+", qos: 0)]]
            subscriberConnections.append(c)
        }
    }

    private var publisherConnection: Connection { connections[0] }

    func run() -> JSON {
        let limit = raiseFileLimit()
        let probe = plan.brokerPID.map(ProcessProbe.init)
        let bound = UInt64(plan.seconds * 1e9)
        let pub = publisherConnection
        var ok = connectAll([pub], concurrency: 1, timeoutNanos: bound)

        // Phase 1: store the retained messages.
        let storeCPU0 = probe?.cpuSeconds(), storeT0 = monotonicNanos()
        let payload = [UInt8](repeating: 0x72, count: 16)
        var i = 0
        ok = ok && runUntil(timeoutNanos: bound) {
            // Refill in slices so the out buffer stays bounded; the loop flushes what it can.
            while i < plan.retained && pub.out.readableBytes < 256 * 1024 {
                writeRetained(pub, topic: "bench/retained/\(i % plan.groups)/\(i)", payload, qos: 0)
                i += 1
            }
            if i == plan.retained {
                writeRetained(pub, topic: "bench/retained-marker", payload, qos: 1)
                i += 1
            }
            if pub.state != .closed && !pub.out.isEmpty { _ = flush(pub) }
            return markerAcked || pub.state == .closed
        } && markerAcked
        let storeSeconds = Double(monotonicNanos() - storeT0) / 1e9
        let storeCPU = probe?.cpuSeconds().flatMap { b in storeCPU0.map { b - $0 } }
        let rssAfterStore = probe?.residentBytes()

        // Phase 2: the wildcard subscribers.
        let cpu0 = probe?.cpuSeconds(), own0 = ownCPUSeconds(), t0 = monotonicNanos()
        if ok {
            ok = connectAll(subscriberConnections, concurrency: plan.concurrency, timeoutNanos: bound)
            ok = runUntil(timeoutNanos: bound) { complete == plan.subscribers } && ok
        }
        let end = complete > 0 ? lastCompleteAt : monotonicNanos()
        let seconds = Double(end - t0) / 1e9
        let brokerCPU = probe?.cpuSeconds().flatMap { b in cpu0.map { b - $0 } }
        let ownCPU = ownCPUSeconds() - own0
        let deliveries = received.reduce(0, +)
        closeAll(sendDisconnect: true)
        let fields: [(String, JSON)] = [
            ("scenario", .string("retained-wildcard")),
            ("broker", .string(plan.label)),
            ("mqtt", .string(version == .v5 ? "5" : "3.1.1")),
            ("ok", .bool(ok && complete == plan.subscribers && wrongTopic == 0)),
            ("retained", .int(plan.retained)),
            ("subscribers", .int(plan.subscribers)),
            ("matches_per_subscriber", .int(perSubscriber)),
            ("subscribers_complete", .int(complete)),
            ("retained_deliveries", .int(deliveries)),
            ("wrong_topic", .int(wrongTopic)),
            ("store_seconds", .double(storeSeconds)),
            ("store_rate", .double(Double(plan.retained) / max(storeSeconds, 1e-9))),
            ("store_broker_cpu_s", .optional(storeCPU)),
            ("broker_rss_after_store_bytes", .optional(rssAfterStore)),
            ("subscribe_seconds", .double(seconds)),
            ("subscribe_rate", .double(Double(complete) / max(seconds, 1e-9))),
            ("broker_cpu_s", .optional(brokerCPU)),
            ("broker_cpu_pct", .optional(brokerCPU.map { 100 * $0 / max(seconds, 1e-9) })),
            ("broker_cpu_us_per_subscribe", .optional(brokerCPU.map { 1e6 * $0 / Double(max(complete, 1)) })),
            ("gen_cpu_s", .double(ownCPU)),
            ("gen_cpu_pct", .double(100 * ownCPU / max(seconds, 1e-9))),
            ("fd_limit", .int(limit)),
        ] + tlsFields() + [
            ("errors", .array(errorSamples.map { .string($0) })),
        ]
        return .object(fields)
    }

    private func writeRetained(_ c: Connection, topic: String, _ payload: [UInt8], qos: UInt8) {
        var topic = topic
        topic.withUTF8 { t in
            MQTTPacketBuilder.publishHeader(into: c.out, version: version, topic: t, qos: qos, packetID: 1,
                                            payloadLength: payload.count, retain: true)
        }
        c.out.writeBytes(payload)
    }

    override func onPuback(_ c: Connection, _ id: UInt16, reason: UInt8, now: UInt64) {
        if c === publisherConnection { markerAcked = true }
    }

    override func onPublish(_ c: Connection, _ publish: InboundPublish, now: UInt64) {
        guard c.role == .subscriber else { return }
        let k = c.roleIndex
        // The filter's group shows in the topic: bench/retained/<group>/<i>.
        if !publish.retain || !Self.topic(publish, isInGroup: k % plan.groups) { wrongTopic += 1; return }
        received[k] += 1
        if received[k] == perSubscriber {
            complete += 1
            lastCompleteAt = now
        }
    }

    private static func topic(_ publish: InboundPublish, isInGroup group: Int) -> Bool {
        let prefix = Array("bench/retained/\(group)/".utf8)
        return publish.topic.count > prefix.count && publish.topic.starts(with: prefix)
    }
}
