import FleetProtocol

/// One agent-coordinator frame of each kind (Protocol/agent-coordinator.md), with the fields that exercise
/// most of the parser.
enum SeedFrames {
    static var all: [FleetFrame] {
        var props = MQTTProperties()
        props.payloadFormatIndicator = 1
        props.messageExpiryInterval = 60
        props.contentType = "json"
        props.responseTopic = "r/1"
        props.correlationData = [0xCA, 0xFE]
        props.userProperties = [UserProperty("k", "v")]
        return [
            .hello(.init(gatewayId: "gw-1", authToken: [1, 2, 3], mqttAddress: "10.0.0.1:1883", region: "eu",
                         labels: [.init("rack", "r7"), .init("tier", "")], capacityWeight: 10, softwareVersion: "0.1.0")),
            .helloAck(.init(version: 1, sessionEpoch: 7, heartbeatIntervalMs: 5000, coordinatorId: "c1")),
            .error(.init(code: .notAuthorized, relatedKind: .hello, message: "bad token")),
            .heartbeat(.init(sequence: 3, timestampMs: 1_700_000_000_000)),
            .loadReport(.init(timestampMs: 1, connections: 2, messagesInPerSecond: 3, messagesOutPerSecond: 4,
                              bytesInPerSecond: 5, bytesOutPerSecond: 6,
                              topTalkers: [.init(clientId: "dev-9", messagesPerSecond: 120, bytesPerSecond: 4096)])),
            .interestSnapshot(.init(epoch: 1, sequence: 0, isLast: true, filters: ["a/+", "b/#", "#"])),
            .interestDelta(.init(epoch: 1, sequence: 1, added: ["s/1"], removed: ["a/+"])),
            .remoteInterest(.snapshot(.init(epoch: 9, sequence: 0, isLast: false, filters: ["+/x"]))),
            .remoteInterest(.delta(.init(epoch: 9, sequence: 1, added: ["y"], removed: ["+/x"]))),
            .forward(.init(originGatewayId: "gw-2", sequence: 42, topic: "s/t", qos: .exactlyOnce, retain: true,
                           properties: props, payload: [0x7B, 0x7D])),
            .deliveryAck(.init(originGatewayId: "gw-1", upToSequence: 40, sequences: [42, 45])),
            .durableInterest(.snapshot(.init(epoch: 1, sequence: 0, isLast: true, filters: ["d/+/t"]))),
            .durableInterest(.delta(.init(epoch: 1, sequence: 1, added: ["e/#"], removed: ["d/+/t"]))),
            .replay(.init(fromSequence: 1_700_000_000_000_000)),
            // Socket peering (issue #15).
            .peerReport(.init(isFirst: true, isLast: true, links: [
                .init(socketId: "gw-1-7", peerSocketId: "gw-2-3", peerGateway: "gw-2", waitingFor: "", state: .linked, bytesToPeer: 5, bytesFromPeer: 9),
                .init(socketId: "gw-1-8", peerSocketId: "", peerGateway: "", waitingFor: "room", state: .waiting, bytesToPeer: 0, bytesFromPeer: 0),
            ])),
            .socketClose(.init(socketId: "gw-1-7", reason: "admin")),
            .peerAsk(.init(socketId: "gw-1-7", peer: "room", address: "10.0.0.1:7000")),
            .peerMatch(.init(socketId: "gw-1-7", peerSocketId: "gw-2-3", peerGateway: "gw-2", role: .dial, address: "10.0.0.2:7000",
                             secret: Array(0...15))),
            .peerGone(.init(socketId: "gw-1-7")),
            .unknown(kind: 0xF001, flags: 0x03, body: [0xAA, 0xBB]),
        ]
    }
}
