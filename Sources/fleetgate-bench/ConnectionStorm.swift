struct ConnectionPlan {
    var label: String
    var broker: Endpoint
    var version: MQTTVersion = .v311
    var connections = 19_000
    var concurrency = 200               // handshakes (TCP + CONNECT/CONNACK) in progress at once
    var sourceAddresses = 8
    var seconds = 60.0                  // bound on the whole connect phase
    var settleSeconds = 1.0             // idle time before RSS is read
    var holdSeconds = 1.0               // further idle time, to see the broker keeps them all
    var keepAlive: UInt16 = 300
    var brokerPID: Int32?
    var tls: TLSOptions?
    var quickAck = false
}

/// Opens many idle MQTT connections: connect rate and the broker's RSS per connection. Over TLS
/// (`--tls-ca`) every connection is a full handshake, so the rate is handshakes + CONNECTs per second.
final class ConnectionStorm: Engine {
    let plan: ConnectionPlan

    init(plan: ConnectionPlan) throws(SystemError) {
        self.plan = plan
        try super.init(broker: plan.broker, version: plan.version, keepAlive: plan.keepAlive, tls: plan.tls)
        quickAck = plan.quickAck
        for i in 0..<plan.connections {
            addConnection(role: .idle, roleIndex: i, clientID: "fgb-idle-\(i)",
                          source: sourceAddress(i % plan.sourceAddresses), outCapacity: 64)
        }
    }

    func run() -> JSON {
        let limit = raiseFileLimit()
        let probe = plan.brokerPID.map(ProcessProbe.init)
        let rssBefore = probe?.residentBytes()
        let brokerCPU0 = probe?.cpuSeconds()
        let ownCPU0 = ownCPUSeconds()
        let t0 = monotonicNanos()
        let timedOut = !connectAll(connections, concurrency: plan.concurrency,
                                   timeoutNanos: UInt64(plan.seconds * 1e9))
        let connectEnd = establishedCount > 0 ? lastEstablishedAt : monotonicNanos()
        let connectSeconds = Double(connectEnd - t0) / 1e9
        let ownCPU = ownCPUSeconds() - ownCPU0
        let brokerCPU = probe?.cpuSeconds().flatMap { b in brokerCPU0.map { b - $0 } }

        _ = runUntil(timeoutNanos: UInt64(plan.settleSeconds * 1e9)) { false }
        let rssAfter = probe?.residentBytes()
        _ = runUntil(timeoutNanos: UInt64(plan.holdSeconds * 1e9)) { false }
        let stillOpen = connections.filter { $0.state == .ready }.count
        let peak = probe?.peakResidentBytes()
        closeAll(sendDisconnect: false)

        var perConnection: JSON = .null
        if let before = rssBefore, let after = rssAfter, establishedCount > 0 {
            perConnection = .double(Double(after - before) / Double(establishedCount))
        }
        let fields: [(String, JSON)] = [
            ("scenario", .string("connections")),
            ("broker", .string(plan.label)),
            ("mqtt", .string(version == .v5 ? "5" : "3.1.1")),
            ("ok", .bool(!timedOut && establishedCount == plan.connections && stillOpen == establishedCount)),
            ("connections_requested", .int(plan.connections)),
            ("connections_established", .int(establishedCount)),
            ("connections_open_after_hold", .int(stillOpen)),
            ("connect_failures", .int(connectFailures)),
            ("connack_refusals", .int(connackRefusals)),
            ("closed_by_broker", .int(closedByBroker)),
            ("source_addresses", .int(plan.sourceAddresses)),
            ("concurrency", .int(plan.concurrency)),
            ("fd_limit", .int(limit)),
            ("connect_seconds", .double(connectSeconds)),
            ("connect_rate", .double(Double(establishedCount) / max(connectSeconds, 1e-9))),
            ("broker_rss_before_bytes", .optional(rssBefore)),
            ("broker_rss_after_bytes", .optional(rssAfter)),
            ("broker_rss_peak_bytes", .optional(peak)),
            ("rss_per_connection_bytes", perConnection),
            ("gen_cpu_s", .double(ownCPU)),
            ("gen_cpu_pct", .double(100 * ownCPU / max(connectSeconds, 1e-9))),
            ("broker_cpu_s", .optional(brokerCPU)),
            ("broker_cpu_pct", .optional(brokerCPU.map { 100 * $0 / max(connectSeconds, 1e-9) })),
        ] + tlsFields() + [
            ("errors", .array(errorSamples.map { .string($0) })),
        ]
        return .object(fields)
    }
}
