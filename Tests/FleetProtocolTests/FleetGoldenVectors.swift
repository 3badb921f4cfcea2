@testable import FleetProtocol

/// A fleet frame and its wire bytes, typed by hand from Protocol/agent-coordinator.md (§3 header, §5 bodies).
/// Never produced by our encoder: every length is counted by hand and the comment shows the sum.
/// `a("...")` (GoldenVectors.swift) only spells ASCII; every length prefix is written out.
struct FleetGoldenVector: Sendable, CustomStringConvertible {
    let name: String
    let bytes: [UInt8]
    let frame: FleetFrame
    var description: String { name }
}

enum FleetGolden {
    static let t1700: [UInt8] = [0x00, 0x00, 0x01, 0x8B, 0xCF, 0xE5, 0x68, 0x00]  // 1,700,000,000,000 ms

    /// Big-endian u64, for vectors with many of them.
    private static func u64be(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }

/// §5.1. Body: magic 4 + versions 4 + id 6 + token 5 + max frame 4 + address 15 + region 4
    /// + labels 2 + (6 + 4) + weight 4 + software 7 = 65 = 0x41.
    static let hello = FleetGoldenVector(
        name: "HELLO",
        bytes: [0x00, 0x01,              // kind HELLO
                0x00,                    // flags: control, not ignorable
                0x00, 0x00, 0x00, 0x41,  // body length 65
                0x46, 0x4C, 0x47, 0x54,  // magic "FLGT"
                0x00, 0x01,              // min version 1
                0x00, 0x01,              // max version 1
                0x00, 0x04] + a("gw-1") + [
                0x00, 0x03] + a("tok") + [       // auth token
                0x00, 0x11, 0x00, 0x00,          // maximum frame size 1,114,112
                0x00, 0x0D] + a("10.0.0.1:1883") + [
                0x00, 0x02] + a("eu") + [        // region
                0x00, 0x01,                      // 1 label
                0x00, 0x04] + a("rack") + [0x00, 0x02] + a("r7") + [
                0x00, 0x00, 0x00, 0x0A,          // capacity weight 10
                0x00, 0x05] + a("0.1.0"),        // software version
        frame: .hello(.init(minVersion: 1, maxVersion: 1, gatewayId: "gw-1", authToken: a("tok"),
                            maximumFrameSize: 1_114_112, mqttAddress: "10.0.0.1:1883", region: "eu",
                            labels: [.init("rack", "r7")], capacityWeight: 10, softwareVersion: "0.1.0")))

    /// §5.1 with a version range, empty token, address, region, software and no labels.
    /// Body: 4 + 4 + id 4 + token 2 + 4 + address 2 + region 2 + labels 2 + weight 4 + software 2 = 30 = 0x1E.
    static let helloMinimal = FleetGoldenVector(
        name: "HELLO minimal",
        bytes: [0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x1E,
                0x46, 0x4C, 0x47, 0x54,
                0x00, 0x01, 0x00, 0x03,          // versions 1...3
                0x00, 0x02] + a("g9") + [
                0x00, 0x00,                      // empty token (mutual TLS)
                0x00, 0x00, 0x40, 0x00,          // maximum frame size 16,384
                0x00, 0x00,                      // no MQTT address
                0x00, 0x00,                      // no region
                0x00, 0x00,                      // no labels
                0x00, 0x00, 0x00, 0x00,          // weight 0
                0x00, 0x00],                     // no software version
        frame: .hello(.init(minVersion: 1, maxVersion: 3, gatewayId: "g9", authToken: [], maximumFrameSize: 16_384,
                            mqttAddress: "", region: "", labels: [], capacityWeight: 0, softwareVersion: "")))

    /// §5.2. Body: magic 4 + version 2 + epoch 8 + heartbeat 4 + max frame 4 + id 4 = 26 = 0x1A.
    static let helloAck = FleetGoldenVector(
        name: "HELLO_ACK",
        bytes: [0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x1A,
                0x46, 0x4C, 0x47, 0x54,
                0x00, 0x01,                                      // version 1
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,  // session epoch 7
                0x00, 0x00, 0x13, 0x88,                          // heartbeat 5000 ms
                0x00, 0x11, 0x00, 0x00,                          // maximum frame size 1,114,112
                0x00, 0x02] + a("c1"),
        frame: .helloAck(.init(version: 1, sessionEpoch: 7, heartbeatIntervalMs: 5000, maximumFrameSize: 1_114_112,
                               coordinatorId: "c1")))

    /// §5.3. Body: code 2 + related 2 + message 2 + 9 = 15 = 0x0F.
    static let error = FleetGoldenVector(
        name: "ERROR notAuthorized",
        bytes: [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x0F,
                0x01, 0x02,                      // notAuthorized
                0x00, 0x01,                      // related: HELLO
                0x00, 0x09] + a("bad token"),
        frame: .error(.init(code: .notAuthorized, relatedKind: .hello, message: "bad token")))

    /// §5.3 without a related kind and with an empty message. Body 6.
    static let errorBare = FleetGoldenVector(
        name: "ERROR interestOutOfSync, no related kind",
        bytes: [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x06,
                0x02, 0x01,                      // interestOutOfSync
                0x00, 0x00,                      // related: none
                0x00, 0x00],                     // empty message
        frame: .error(.init(code: .interestOutOfSync)))

    /// §5.4. Body: 8 + 8 = 16.
    static let heartbeat = FleetGoldenVector(
        name: "HEARTBEAT",
        bytes: [0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x10,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03] + t1700,  // sequence 3, timestamp
        frame: .heartbeat(.init(sequence: 3, timestampMs: 1_700_000_000_000)))

    /// §5.5. Body: 8 + 4 + 4 + 4 + 8 + 8 + count 2 + talker (2 + 5 + 4 + 8 = 19) = 57 = 0x39.
    static let loadReport = FleetGoldenVector(
        name: "LOAD_REPORT",
        bytes: [0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x39] + t1700 + [
                0x00, 0x00, 0x04, 0xB0,                          // 1200 connections
                0x00, 0x00, 0x01, 0x5E,                          // 350 msgs in/s
                0x00, 0x00, 0x03, 0x84,                          // 900 msgs out/s
                0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,  // 65,536 bytes in/s
                0x00, 0x00, 0x00, 0x00, 0x00, 0x0F, 0x42, 0x40,  // 1,000,000 bytes out/s
                0x00, 0x01,                                      // 1 top talker
                0x00, 0x05] + a("dev-9") + [
                0x00, 0x00, 0x00, 0x78,                          // 120 msgs/s
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00], // 4096 bytes/s
        frame: .loadReport(.init(timestampMs: 1_700_000_000_000, connections: 1200, messagesInPerSecond: 350,
                                 messagesOutPerSecond: 900, bytesInPerSecond: 65_536, bytesOutPerSecond: 1_000_000,
                                 topTalkers: [.init(clientId: "dev-9", messagesPerSecond: 120, bytesPerSecond: 4096)])))

    /// §5.5 with its optional trailing field. Body: 8 + 4 + 4 + 4 + 8 + 8 + count 2 + relayed 8 = 46 = 0x2E.
    static let loadReportRelayed = FleetGoldenVector(
        name: "LOAD_REPORT with relayed bytes",
        bytes: [0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x2E] + t1700 + [
                0x00, 0x00, 0x00, 0x01,                          // 1 connection
                0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x00, 0x00,                                      // no top talkers
                0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00], // 65,536 bytes relayed
        frame: .loadReport(.init(timestampMs: 1_700_000_000_000, connections: 1, messagesInPerSecond: 0, messagesOutPerSecond: 0,
                                 bytesInPerSecond: 0, bytesOutPerSecond: 0, relayedBytes: 65_536)))

    /// §5.6. Body: epoch 8 + sequence 8 + flags 1 + count 2 + 5 + 5 = 29 = 0x1D.
    static let interestSnapshot = FleetGoldenVector(
        name: "INTEREST_SNAPSHOT last part",
        bytes: [0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x1D,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // epoch 1
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // sequence 0
                0x01,                                            // LAST
                0x00, 0x02,
                0x00, 0x03] + a("a/+") + [0x00, 0x03] + a("b/#"),
        frame: .interestSnapshot(.init(epoch: 1, sequence: 0, isLast: true, filters: ["a/+", "b/#"])))

    /// §5.6, an empty part that is not the last. Body: 8 + 8 + 1 + 2 = 19 = 0x13.
    static let interestSnapshotPart = FleetGoldenVector(
        name: "INTEREST_SNAPSHOT empty middle part",
        bytes: [0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x13,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  // epoch 2
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,  // sequence 5
                0x00,                                            // not last
                0x00, 0x00],                                     // no filters
        frame: .interestSnapshot(.init(epoch: 2, sequence: 5, isLast: false, filters: [])))

    /// §5.7. Body: 8 + 8 + added (2 + 5) + removed (2 + 5 + 3) = 33 = 0x21.
    static let interestDelta = FleetGoldenVector(
        name: "INTEREST_DELTA",
        bytes: [0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x21,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // epoch 1
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // sequence 1
                0x00, 0x01, 0x00, 0x03] + a("s/1") + [           // added
                0x00, 0x02, 0x00, 0x03] + a("a/+") + [0x00, 0x01] + a("x"),  // removed
        frame: .interestDelta(.init(epoch: 1, sequence: 1, added: ["s/1"], removed: ["a/+", "x"])))

    /// §5.8 form 0. Body: form 1 + 8 + 8 + flags 1 + count 2 + 3 = 23 = 0x17.
    static let remoteInterestSnapshot = FleetGoldenVector(
        name: "REMOTE_INTEREST snapshot",
        bytes: [0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x17,
                0x00,                                            // form: snapshot
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,  // epoch 9
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // sequence 0
                0x01,                                            // LAST
                0x00, 0x01, 0x00, 0x01] + a("#"),
        frame: .remoteInterest(.snapshot(.init(epoch: 9, sequence: 0, isLast: true, filters: ["#"]))))

    /// §5.8 form 1. Body: 1 + 8 + 8 + added 2 + removed (2 + 3) = 24 = 0x18.
    static let remoteInterestDelta = FleetGoldenVector(
        name: "REMOTE_INTEREST delta",
        bytes: [0x00, 0x12, 0x00, 0x00, 0x00, 0x00, 0x18,
                0x01,                                            // form: delta
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09,  // epoch 9
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // sequence 1
                0x00, 0x00,                                      // added: none
                0x00, 0x01, 0x00, 0x01] + a("#"),                // removed
        frame: .remoteInterest(.delta(.init(epoch: 9, sequence: 1, added: [], removed: ["#"]))))

    /// §5.9, QoS 0, no properties. Body: origin 6 + sequence 8 + flags 1 + topic 3 + properties 1
    /// + payload 2 = 21 = 0x15.
    static let forward = FleetGoldenVector(
        name: "FORWARD QoS 0",
        bytes: [0x00, 0x20,
                0x02,                                            // flags: BULK
                0x00, 0x00, 0x00, 0x15,
                0x00, 0x04] + a("gw-1") + [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A,  // sequence 42
                0x00,                                            // QoS 0, no retain
                0x00, 0x01] + a("t") + [
                0x00,                                            // property length 0
                0x68, 0x69],                                     // payload "hi"
        frame: .forward(.init(originGatewayId: "gw-1", sequence: 42, topic: "t", qos: .atMostOnce, payload: a("hi"))))

    static var forwardProperties: MQTTProperties {
        var p = MQTTProperties()
        p.payloadFormatIndicator = 1
        p.messageExpiryInterval = 60
        p.contentType = "json"
        p.responseTopic = "r/1"
        p.correlationData = [0xCA, 0xFE]
        p.userProperties = [UserProperty("k", "v")]
        return p
    }

    /// §5.9, QoS 1 retained with every allowed property. Properties: 2 + 5 + 7 + 6 + 5 + 7 = 32.
    /// Body: origin 6 + 8 + 1 + topic 5 + (1 + 32) + payload 2 = 55 = 0x37.
    static let forwardFull = FleetGoldenVector(
        name: "FORWARD QoS 1 retained with properties",
        bytes: [0x00, 0x20, 0x02, 0x00, 0x00, 0x00, 0x37,
                0x00, 0x04] + a("gw-2") + [
                0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,  // sequence 0x0102030405060708
                0x05,                                            // QoS 1 | retain 0x04
                0x00, 0x03] + a("s/t") + [
                0x20,                                            // property length 32
                0x01, 0x01,                                      // payload format indicator 1
                0x02, 0x00, 0x00, 0x00, 0x3C,                    // message expiry 60
                0x03, 0x00, 0x04] + a("json") + [                // content type
                0x08, 0x00, 0x03] + a("r/1") + [                 // response topic
                0x09, 0x00, 0x02, 0xCA, 0xFE,                    // correlation data
                0x26, 0x00, 0x01] + a("k") + [0x00, 0x01] + a("v") + [  // user property
                0x7B, 0x7D],                                     // payload "{}"
        frame: .forward(.init(originGatewayId: "gw-2", sequence: 0x0102_0304_0506_0708, topic: "s/t", qos: .atLeastOnce,
                              retain: true, properties: forwardProperties, payload: a("{}"))))

    /// §5.10. Body: origin 6 + up-to 8 + count 2 + 8 + 8 = 32 = 0x20.
    static let deliveryAck = FleetGoldenVector(
        name: "DELIVERY_ACK",
        bytes: [0x00, 0x21, 0x00, 0x00, 0x00, 0x00, 0x20,
                0x00, 0x04] + a("gw-1") + [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x28,  // up to 40
                0x00, 0x02,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2A,  // 42
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2D], // 45
        frame: .deliveryAck(.init(originGatewayId: "gw-1", upToSequence: 40, sequences: [42, 45])))

    /// §5.13, the REMOTE_INTEREST body under kind 0x0013. Body: 1 + 8 + 8 + added (2 + 2 + 5) +
    /// removed 2 = 28 = 0x1C.
    static let durableInterestDelta = FleetGoldenVector(
        name: "DURABLE_INTEREST delta",
        bytes: [0x00, 0x13, 0x01, 0x00, 0x00, 0x00, 0x1C,               // flags: IGNORABLE
                0x01,                                            // form: delta
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  // epoch 2
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,  // sequence 3
                0x00, 0x01, 0x00, 0x05] + a("a/+/b") + [         // added
                0x00, 0x00],                                     // removed: none
        frame: .durableInterest(.delta(.init(epoch: 2, sequence: 3, added: ["a/+/b"], removed: []))))

    /// §5.12. Body: from sequence 8 = 0x08.
    static let replay = FleetGoldenVector(
        name: "REPLAY",
        bytes: [0x00, 0x22, 0x01, 0x00, 0x00, 0x00, 0x08,               // flags: IGNORABLE
                0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01], // from 65537
        frame: .replay(.init(fromSequence: 65_537)))

    /// §5.14. Body: id 8 + client 6 + epoch 8 + target 6 + server reference 15 + mode 1 = 44 = 0x2C.
    static let migrate = FleetGoldenVector(
        name: "MIGRATE",
        bytes: [0x01, 0x01, 0x01, 0x00, 0x00, 0x00, 0x2C,               // flags: IGNORABLE
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,  // migration 7
                0x00, 0x04] + a("dev1") + [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  // epoch 2
                0x00, 0x04] + a("gw-2") + [
                0x00, 0x0D] + a("10.0.0.2:1883") + [
                0x01],                                           // mode: relay
        frame: .migrate(.init(migrationId: 7, clientId: "dev1", epoch: 2, targetGatewayId: "gw-2", serverReference: "10.0.0.2:1883",
                              mode: .relay)))

    /// §5.15. Body: id 8 + client 6 + session length 4 + session 3 = 21 = 0x15.
    static let sessionTransfer = FleetGoldenVector(
        name: "SESSION_TRANSFER",
        bytes: [0x01, 0x02, 0x02, 0x00, 0x00, 0x00, 0x15,               // flags: BULK
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
                0x00, 0x04] + a("dev1") + [
                0x00, 0x00, 0x00, 0x03, 0x01, 0x02, 0x03],
        frame: .sessionTransfer(.init(migrationId: 7, clientId: "dev1", session: [1, 2, 3])))

    /// §5.16, `refused` with a reason. Body: id 8 + step 1 + count 8 + reason 6 = 23 = 0x17.
    static let migrationStepRefused = FleetGoldenVector(
        name: "MIGRATION_STEP refused",
        bytes: [0x01, 0x03, 0x01, 0x00, 0x00, 0x00, 0x17,               // flags: IGNORABLE
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
                0x04,                                            // step 4: refused
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // count 0
                0x00, 0x04] + a("busy"),
        frame: .migrationStep(.init(migrationId: 7, step: .refused, count: 0, reason: "busy")))

    /// §5.16, `released` after 3 HANDOFFs. Body: 8 + 1 + 8 + reason 2 = 19 = 0x13.
    static let migrationStepReleased = FleetGoldenVector(
        name: "MIGRATION_STEP released",
        bytes: [0x01, 0x03, 0x01, 0x00, 0x00, 0x00, 0x13,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
                0x05,                                            // step 5: released
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,  // count 3
                0x00, 0x00],
        frame: .migrationStep(.init(migrationId: 7, step: .released, count: 3)))

    /// §5.17, a message that came from gw-3. Body: id 8 + index 8 + origin 6 + sequence 8 + flags 1
    /// + topic 5 + properties 1 + payload 2 = 39 = 0x27.
    static let handoff = FleetGoldenVector(
        name: "HANDOFF",
        bytes: [0x01, 0x04, 0x02, 0x00, 0x00, 0x00, 0x27,               // flags: BULK
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,  // migration 7
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,  // index 1
                0x00, 0x04] + a("gw-3") + [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,  // origin sequence 256
                0x01,                                            // QoS 1, not retained
                0x00, 0x03] + a("s/t") + [
                0x00] + a("hi"),                                 // no properties; payload "hi"
        frame: .handoff(.init(migrationId: 7, index: 1, originGatewayId: "gw-3", originSequence: 256, topic: "s/t",
                              qos: .atLeastOnce, retain: false, payload: a("hi"))))

    /// §5.17, a message that never left the source: empty origin, sequence 0. Body: 8 + 8 + 2 + 8
    /// + 1 + 5 + 1 = 33 = 0x21.
    static let handoffLocal = FleetGoldenVector(
        name: "HANDOFF local",
        bytes: [0x01, 0x04, 0x02, 0x00, 0x00, 0x00, 0x21,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02,  // index 2
                0x00, 0x00,                                      // origin: none
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                0x06,                                            // QoS 2, retained
                0x00, 0x03] + a("s/t") + [
                0x00],                                           // no properties, empty payload
        frame: .handoff(.init(migrationId: 7, index: 2, originGatewayId: "", originSequence: 0, topic: "s/t",
                              qos: .exactlyOnce, retain: true, payload: [])))

    /// §5.19. Body: rate 4 = 0x04.
    static let drain = FleetGoldenVector(
        name: "DRAIN",
        bytes: [0x01, 0x05, 0x01, 0x00, 0x00, 0x00, 0x04,               // flags: IGNORABLE
                0x00, 0x00, 0x01, 0xF4],                          // 500 clients/s
        frame: .drain(.init(rate: 500)))

    /// §5.20. Body: flags 1 + count 2 + (2 + 1) + (2 + 3) = 11 = 0x0B.
    static let sessionList = FleetGoldenVector(
        name: "SESSION_LIST",
        bytes: [0x01, 0x06, 0x01, 0x00, 0x00, 0x00, 0x0B,
                0x01,                                            // last part
                0x00, 0x02,
                0x00, 0x01] + a("a") + [
                0x00, 0x03] + a("b-2"),
        frame: .sessionList(.init(clientIds: ["a", "b-2"], last: true)))

    /// §5.21. Body: query 8 + operation (2 + 8) = 18 = 0x12.
    static let availabilityQuery = FleetGoldenVector(
        name: "AVAILABILITY_QUERY",
        bytes: [0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x12,               // flags: IGNORABLE
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,  // query 3
                0x00, 0x08] + a("os-patch"),
        frame: .availabilityQuery(.init(queryId: 3, operation: "os-patch")))

    /// §5.22. Body: query 8 + answer 1 + reason (2 + 9) + 4 + 4 + 4 + flags 1 = 33 = 0x21.
    static let availability = FleetGoldenVector(
        name: "AVAILABILITY",
        bytes: [0x02, 0x02, 0x01, 0x00, 0x00, 0x00, 0x21,
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03,
                0x01,                                            // busy
                0x00, 0x09] + a("disk full") + [
                0x00, 0x00, 0x00, 0x64,                          // 100 connections
                0x00, 0x00, 0x00, 0xC8,                          // 200 sessions
                0x00, 0x00, 0x01, 0xF4,                          // 500 msgs in/s
                0x01],                                           // drain first
        frame: .availability(.init(queryId: 3, answer: .busy, reason: "disk full", connections: 100, sessions: 200,
                                   messagesInPerSecond: 500, drainFirst: true)))

    /// §5.23. Body: run (2 + 3) + operation (2 + 8) + fencing 8 = 23 = 0x17.
    static let maintenanceRun = FleetGoldenVector(
        name: "MAINTENANCE_RUN",
        bytes: [0x02, 0x03, 0x01, 0x00, 0x00, 0x00, 0x17,
                0x00, 0x03] + a("r-1") + [
                0x00, 0x08] + a("os-patch") + [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05], // fencing 5
        frame: .maintenanceRun(.init(runId: "r-1", operation: "os-patch", fencing: 5)))

    /// §5.24. Body: run 5 + fencing 8 + state 1 + exit 4 + tail (2 + 3) + reason 2 = 25 = 0x19.
    static let maintenanceResult = FleetGoldenVector(
        name: "MAINTENANCE_RESULT",
        bytes: [0x02, 0x04, 0x01, 0x00, 0x00, 0x00, 0x19,
                0x00, 0x03] + a("r-1") + [
                0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05,
                0x02,                                            // finished
                0xFF, 0xFF, 0xFF, 0xFF,                          // exit status -1 (a signal)
                0x00, 0x03] + a("ok\n") + [
                0x00, 0x00],
        frame: .maintenanceResult(.init(runId: "r-1", fencing: 5, state: .finished, exitStatus: -1, outputTail: "ok\n")))

    /// §5.25. Body: flags 1 + count 2 + (2 + 4) + (2 + 2) = 13 = 0x0D.
    static let mappings = FleetGoldenVector(
        name: "MAPPINGS",
        bytes: [0x03, 0x01, 0x01, 0x00, 0x00, 0x00, 0x0D,               // flags: IGNORABLE
                0x03,                                            // replaces, last
                0x00, 0x01,
                0x00, 0x04] + a("echo") + [
                0x00, 0x02] + a("{}"),
        frame: .mappings(.init(replaces: true, isLast: true, entries: [.init(name: "echo", document: "{}")])))

    /// §5.26. Body: flags 1 + count 2 + socket (2+6 + 2+4 + 2+2 + 2+0 + 40 + 1 = 61) + count 2 +
    /// mapping (2+4 + 8 + 8 + 12 x 8 = 118) = 184 = 0xB8.
    static let socketReport = FleetGoldenVector(
        name: "SOCKET_REPORT", bytes: socketReportBytes,
        frame: .socketReport(.init(isFirst: true, isLast: true,
                                   sockets: [.init(socketId: "gw-1-7", mapping: "echo", clientId: "d1", identity: "", openedMs: 1_700_000_000_000,
                                                   bytesIn: 10, bytesOut: 20, calls: 2, errors: 0, state: .open)],
                                   mappings: [.init(mapping: "echo", errors: 1, latencySumMs: 30, buckets: [0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2])])))

    private static let socketReportBytes: [UInt8] = {
        let header: [UInt8] = [0x03, 0x02, 0x01, 0x00, 0x00, 0x00, 0xB8, 0x03]   // IGNORABLE; first, last
        var socket: [UInt8] = [0x00, 0x01, 0x00, 0x06] + a("gw-1-7")
        socket += [0x00, 0x04] + a("echo")
        socket += [0x00, 0x02] + a("d1")
        socket += [0x00, 0x00]                                                    // anonymous
        for v: UInt64 in [1_700_000_000_000, 10, 20, 2, 0] { socket += u64be(v) } // opened, in, out, calls, errors
        socket += [0x01]                                                          // open
        var mapping: [UInt8] = [0x00, 0x01, 0x00, 0x04] + a("echo")
        for v: UInt64 in [1, 30, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2] { mapping += u64be(v) }  // errors, sum, 12 buckets
        return header + socket + mapping
    }()

    /// §3.2: an experimental kind with IGNORABLE | BULK is handed over, not rejected.
    static let unknownIgnorable = FleetGoldenVector(
        name: "unknown kind 0xF001, ignorable",
        bytes: [0xF0, 0x01, 0x03, 0x00, 0x00, 0x00, 0x02, 0xAA, 0xBB],
        frame: .unknown(kind: 0xF001, flags: 0x03, body: [0xAA, 0xBB]))

    static let all: [FleetGoldenVector] = [
        hello, helloMinimal, helloAck, error, errorBare, heartbeat, loadReport, loadReportRelayed, interestSnapshot, interestSnapshotPart,
        interestDelta, remoteInterestSnapshot, remoteInterestDelta, forward, forwardFull, deliveryAck, durableInterestDelta, replay,
        migrate, sessionTransfer, migrationStepRefused, migrationStepReleased, handoff, handoffLocal, drain, sessionList,
        availabilityQuery, availability, maintenanceRun, maintenanceResult, mappings, socketReport,
        unknownIgnorable,
    ]
}
