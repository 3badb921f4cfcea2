import Testing
@testable import FleetProtocol

func fleetDecodeError(_ bytes: [UInt8], limit: Int = FleetLimits.defaultMaximumFrameSize) -> FleetFrameError? {
    do {
        _ = try FleetFrameDecoder(maximumFrameSize: limit).decode(bytes)
        return nil
    } catch {
        return error
    }
}

/// A frame with `kind` and `body`, the header typed here, not by the encoder.
func rawFrame(_ kind: UInt16, flags: UInt8 = 0, _ body: [UInt8]) -> [UInt8] {
    let n = body.count
    return [UInt8(kind >> 8), UInt8(kind & 0xFF), flags,
            UInt8(n >> 24 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n & 0xFF)] + body
}

extension FleetFrameError {
    var kind: String {
        switch self {
        case .frameTooLarge: "frameTooLarge"
        case .unknownKind: "unknownKind"
        case .reservedFlags: "reservedFlags"
        case .limitExceeded: "limitExceeded"
        case .malformed: "malformed"
        case .invalidUTF8: "invalidUTF8"
        case .invalidTopic: "invalidTopic"
        case .invalidProperties: "invalidProperties"
        }
    }
}

@Suite("Fleet frames: malformed input, one case per rule of Protocol/agent-coordinator.md")
struct FleetMalformedTests {
    @Test("oversize is thrown from the 7-byte header alone")
    func oversizeFromHeader() {
        let header: [UInt8] = [0x00, 0x20, 0x02, 0x00, 0x10, 0x00, 0x00]  // FORWARD, body 1 MiB
        #expect(fleetDecodeError(header, limit: 65_536) == .frameTooLarge(size: 7 + 1_048_576, limit: 65_536))
        #expect(fleetDecodeError(Array(header.prefix(6)), limit: 65_536) == nil)  // not known yet
        let maxLength: [UInt8] = [0x00, 0x04, 0x00, 0xFF, 0xFF, 0xFF, 0xFF]
        #expect(fleetDecodeError(maxLength)?.kind == "frameTooLarge")
        // Exactly at the limit is fine.
        let hb = FleetGolden.heartbeat.bytes
        #expect(fleetDecodeError(hb, limit: hb.count) == nil)
        #expect(fleetDecodeError(hb, limit: hb.count - 1) == .frameTooLarge(size: hb.count, limit: hb.count - 1))
    }

    @Test("unknown kind: without IGNORABLE an error from the header, with it skipped")
    func unknownKinds() throws {
        #expect(fleetDecodeError([0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05]) == .unknownKind(0x0100))
        #expect(fleetDecodeError([0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00]) == .unknownKind(0))
        let skipped = try #require(try FleetFrameDecoder().decode(rawFrame(0x0100, flags: 0x01, [1, 2, 3]) + [0xFF]))
        #expect(skipped.frame == .unknown(kind: 0x0100, flags: 0x01, body: [1, 2, 3]))
        #expect(skipped.consumed == 10)
        // An ignorable unknown frame still has to fit.
        #expect(fleetDecodeError(rawFrame(0x0100, flags: 0x01, Array(repeating: 0, count: 100)), limit: 50)?.kind == "frameTooLarge")
    }

    @Test("REPLAY from 0 and DURABLE_INTEREST with an unknown form are malformed")
    func newKindsRejectBadBodies() {
        #expect(fleetDecodeError(rawFrame(FleetFrameKind.replay.rawValue, [0, 0, 0, 0, 0, 0, 0, 0]))?.kind == "malformed")
        let badForm: [UInt8] = [2] + [UInt8](repeating: 0, count: 16) + [0, 0, 0]
        #expect(fleetDecodeError(rawFrame(FleetFrameKind.durableInterest.rawValue, badForm))?.kind == "malformed")
    }

    @Test("reserved header flag bits", arguments: [0x04, 0x08, 0x80, 0xFC] as [UInt8])
    func reservedHeaderFlags(_ bit: UInt8) {
        var bytes = FleetGolden.heartbeat.bytes
        bytes[2] |= bit
        #expect(fleetDecodeError(bytes) == .reservedFlags(kind: 4, flags: bit))
    }

    @Test("a length that cuts a field short is malformed; one that leaves bytes over is trailing bytes",
          arguments: FleetGolden.all.filter { $0.frame.kind.isKnown && $0.frame.kind != .forward && $0.frame.kind != .handoff })
    func badLength(_ v: FleetGoldenVector) {
        let body = Array(v.bytes[7...])
        // Body one byte short (with the length saying so): a truncated field.
        let short = rawFrame(v.frame.kind.rawValue, Array(body.dropLast()))
        #expect(fleetDecodeError(short)?.kind == "malformed", "\(v)")
        // One byte more inside the frame.
        let long = rawFrame(v.frame.kind.rawValue, body + [0x00])
        let e = fleetDecodeError(long)
        #expect(e?.kind == "malformed", "\(v): \(String(describing: e))")
    }

    @Test("FORWARD: the payload is the rest, so a longer body is a longer payload; a cut header field is malformed")
    func forwardLengths() throws {
        let body = Array(FleetGolden.forward.bytes[7...])
        let longer = try #require(try FleetFrameDecoder().decode(rawFrame(0x0020, body + [0x21])))
        guard case .forward(let f) = longer.frame else { Issue.record("not a FORWARD"); return }
        #expect(f.payload == a("hi!"))
        #expect(fleetDecodeError(rawFrame(0x0020, Array(body.prefix(10))))?.kind == "malformed")
        #expect(fleetDecodeError(rawFrame(0x0020, Array(body.prefix(18))))?.kind == "invalidProperties")  // no property length
    }

    @Test("HANDOFF: the payload is the rest, as in FORWARD; a cut header field fails, none traps")
    func handoffLengths() throws {
        let body = Array(FleetGolden.handoff.bytes[7...])
        let longer = try #require(try FleetFrameDecoder().decode(rawFrame(0x0104, body + [0x21])))
        guard case .handoff(let h) = longer.frame else { Issue.record("not a HANDOFF"); return }
        #expect(h.payload == a("hi!"))
        // Up to the property block every cut is an error (after it, a shorter payload is valid).
        for n in 0..<(body.count - 3) { #expect(fleetDecodeError(rawFrame(0x0104, Array(body.prefix(n)))) != nil, "cut at \(n)") }
    }

    @Test("migration frames: id 0, index 0, an unknown step, origin without sequence, a session length that disagrees")
    func migrationRules() {
        var migrate = Array(FleetGolden.migrate.bytes[7...])
        migrate[7] = 0  // migration id 7 -> 0
        #expect(fleetDecodeError(rawFrame(0x0101, migrate))?.kind == "malformed")
        var step = Array(FleetGolden.migrationStepRefused.bytes[7...])
        step[8] = 8     // no step 8
        #expect(fleetDecodeError(rawFrame(0x0103, step))?.kind == "malformed")
        step[8] = 0
        #expect(fleetDecodeError(rawFrame(0x0103, step))?.kind == "malformed")
        var handoff = Array(FleetGolden.handoff.bytes[7...])
        handoff[15] = 0  // index 1 -> 0
        #expect(fleetDecodeError(rawFrame(0x0104, handoff))?.kind == "malformed")
        var noSequence = Array(FleetGolden.handoff.bytes[7...])
        noSequence[28] = 0; noSequence[29] = 0  // origin "gw-3" with sequence 0
        #expect(fleetDecodeError(rawFrame(0x0104, noSequence))?.kind == "malformed")
        var transfer = Array(FleetGolden.sessionTransfer.bytes[7...])
        transfer[17] = 4  // session length 4, 3 bytes follow
        #expect(fleetDecodeError(rawFrame(0x0102, transfer))?.kind == "malformed")
    }

    @Test("maintenance frames: ids and fencing numbers >= 1, known answers and states (§5.21-§5.24)")
    func maintenanceRules() {
        var query = Array(FleetGolden.availabilityQuery.bytes[7...])
        query[7] = 0  // query 3 -> 0
        #expect(fleetDecodeError(rawFrame(0x0201, query))?.kind == "malformed")
        var answer = Array(FleetGolden.availability.bytes[7...])
        answer[8] = 3  // no such answer
        #expect(fleetDecodeError(rawFrame(0x0202, answer))?.kind == "malformed")
        var run = Array(FleetGolden.maintenanceRun.bytes[7...])
        run[run.count - 1] = 0  // fencing 5 -> 0
        #expect(fleetDecodeError(rawFrame(0x0203, run))?.kind == "malformed")
        var result = Array(FleetGolden.maintenanceResult.bytes[7...])
        result[13] = 0  // state 0
        #expect(fleetDecodeError(rawFrame(0x0204, result))?.kind == "malformed")
        let longTail = FleetFrame.MaintenanceResult(runId: "r", fencing: 1, state: .finished,
                                                    outputTail: String(repeating: "x", count: FleetLimits.maxOutputTailBytes))
        var tooLong = FleetFrameEncoder.encode(.maintenanceResult(longTail))
        // One byte more in the tail (its length prefix and the frame length raised to match).
        tooLong.insert(0x78, at: 7 + 2 + 1 + 8 + 1 + 4 + 2)
        tooLong[7 + 2 + 1 + 8 + 1 + 4 + 1] &+= 1
        tooLong[6] &+= 1
        #expect(fleetDecodeError(tooLong)?.kind == "limitExceeded")
    }

    @Test("managed-socket frames: no deletion in a replacing set, known flags and states (§5.25-§5.26)")
    func socketRules() {
        // MAPPINGS replacing with an empty document: malformed.
        let deletion = [0x03, 0x00, 0x01, 0x00, 0x04] + Array("echo".utf8) + [0x00, 0x00]
        #expect(fleetDecodeError(rawFrame(0x0301, deletion))?.kind == "malformed")
        var flags = Array(FleetGolden.mappings.bytes[7...])
        flags[0] = 0x07
        #expect(fleetDecodeError(rawFrame(0x0301, flags))?.kind == "malformed")
        var state = Array(FleetGolden.socketReport.bytes[7...])
        state[3 + 8 + 6 + 4 + 2 + 40] = 9  // the socket's state byte
        #expect(fleetDecodeError(rawFrame(0x0302, state))?.kind == "malformed")
    }

    @Test("peering frames: known flags and link states, bounded strings (§5.27-§5.28)")
    func peeringRules() {
        var flags = Array(FleetGolden.peerReport.bytes[7...])
        flags[0] = 0x04
        #expect(fleetDecodeError(rawFrame(0x0303, flags))?.kind == "malformed")
        for bad: UInt8 in [0, 4, 0xFF] {
            var state = Array(FleetGolden.peerReport.bytes[7...])
            state[3 + 8 + 8 + 6 + 2] = bad  // the link's state byte
            #expect(fleetDecodeError(rawFrame(0x0303, state))?.kind == "malformed")
        }
        // A reason over 200 bytes.
        let long = [0x00, 0x01, 0x61, 0x00, 0xC9] + Array(repeating: UInt8(0x61), count: 201)
        #expect(fleetDecodeError(rawFrame(0x0304, long)) != nil)
        // An empty socket id.
        #expect(fleetDecodeError(rawFrame(0x0304, [0x00, 0x00, 0x00, 0x00])) != nil)
        // PEER_MATCH: an unknown role, a dialer without an address, a short secret.
        let match = Array(FleetGolden.peerMatch.bytes[7...])
        var role = match
        role[8 + 8 + 6] = 3
        #expect(fleetDecodeError(rawFrame(0x0306, role))?.kind == "malformed")
        let noAddress = Array(match[..<(8 + 8 + 6 + 1)]) + [0x00, 0x00] + Array(match[(8 + 8 + 6 + 1 + 15)...])
        #expect(fleetDecodeError(rawFrame(0x0306, noAddress))?.kind == "malformed")
        let shortSecret = Array(match[..<(match.count - 18)]) + [0x00, 0x0F] + Array(repeating: 0, count: 15)
        #expect(fleetDecodeError(rawFrame(0x0306, shortSecret))?.kind == "malformed")
    }

    @Test("truncated inside every field: every shorter length with the same bytes fails, none traps",
          arguments: FleetGolden.all.filter { $0.frame.kind.isKnown && $0.frame.kind != .forward && $0.frame.kind != .handoff })
    func truncatedEverywhere(_ v: FleetGoldenVector) {
        let body = Array(v.bytes[7...])
        // LOAD_REPORT's relayed bytes are an optional trailing field (§5.5): cut right before it
        // the report is whole, with 0.
        let optionalTail = v.name == FleetGolden.loadReportRelayed.name ? body.count - 8 : nil
        for n in 0..<body.count {
            if n == optionalTail {
                guard case .loadReport(let r)? = try? FleetFrameDecoder().decode(rawFrame(v.frame.kind.rawValue, Array(body.prefix(n))))?.frame
                else { Issue.record("LOAD_REPORT without its optional field does not decode"); continue }
                #expect(r.relayedBytes == 0)
                continue
            }
            #expect(fleetDecodeError(rawFrame(v.frame.kind.rawValue, Array(body.prefix(n)))) != nil, "\(v) cut at \(n)")
        }
    }

    @Test("bad UTF-8 and U+0000 in strings")
    func badUTF8() {
        // HEARTBEAT has no strings; use ERROR's message and HELLO's gateway id.
        let overlong = rawFrame(0x0003, [0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0xC0, 0xAF])
        #expect(fleetDecodeError(overlong)?.kind == "invalidUTF8")
        let nul = rawFrame(0x0003, [0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00])
        #expect(fleetDecodeError(nul)?.kind == "invalidUTF8")
        var hello = FleetGolden.hello.bytes
        hello[17] = 0xFF  // inside "gw-1"
        #expect(fleetDecodeError(hello)?.kind == "invalidUTF8")
    }

    @Test("list counts over the limit are refused before anything is allocated")
    func listCounts() {
        // Labels: count 33 > 32, with no label bytes following at all.
        var hello = Array(FleetGolden.helloMinimal.bytes[7...])
        hello[22] = 0x00; hello[23] = 0x21
        #expect(fleetDecodeError(rawFrame(0x0001, hello))?.kind == "limitExceeded")
        // Filters: 0xFFFF.
        let snapshot: [UInt8] = Array(repeating: 0, count: 16) + [0x01, 0xFF, 0xFF]
        #expect(fleetDecodeError(rawFrame(0x0010, snapshot))?.kind == "limitExceeded")
        // Top talkers: 101.
        let load: [UInt8] = Array(repeating: 0, count: 36) + [0x00, 0x65]
        #expect(fleetDecodeError(rawFrame(0x0005, load))?.kind == "limitExceeded")
        // Selective acks: 1025.
        let ack: [UInt8] = [0x00, 0x01] + a("g") + Array(repeating: 0, count: 8) + [0x04, 0x01]
        #expect(fleetDecodeError(rawFrame(0x0021, ack))?.kind == "limitExceeded")
        // Within the limit but more than the body can hold: malformed, still before allocating.
        let ack2: [UInt8] = [0x00, 0x01] + a("g") + Array(repeating: 0, count: 8) + [0x04, 0x00]
        #expect(fleetDecodeError(rawFrame(0x0021, ack2))?.kind == "malformed")
    }

    @Test("string lengths outside their range")
    func stringLimits() {
        // Empty gateway id.
        var hello = FleetGolden.helloMinimal.bytes
        hello[15] = 0x00; hello[16] = 0x00
        #expect(fleetDecodeError(hello)?.kind == "limitExceeded")
        // Coordinator id of 129 bytes.
        let ack: [UInt8] = FleetFrame.magic + [0x00, 0x01] + Array(repeating: 0, count: 7) + [1, 0, 0, 0x13, 0x88,
                                                              0x00, 0x11, 0x00, 0x00, 0x00, 0x81] + Array(repeating: 0x61, count: 129)
        #expect(fleetDecodeError(rawFrame(0x0002, ack))?.kind == "limitExceeded")
        // ERROR message of 1025 bytes.
        let err: [UInt8] = [0x00, 0x01, 0x00, 0x00, 0x04, 0x01] + Array(repeating: 0x61, count: 1025)
        #expect(fleetDecodeError(rawFrame(0x0003, err))?.kind == "limitExceeded")
    }

    @Test("values out of range")
    func outOfRange() {
        var hello = FleetGolden.hello.bytes
        hello[7] = 0x47  // bad magic
        #expect(fleetDecodeError(hello)?.kind == "malformed")
        var versions = FleetGolden.hello.bytes
        versions[12] = 0x02  // min version 2 > max 1
        #expect(fleetDecodeError(versions)?.kind == "malformed")
        var heartbeat0 = FleetGolden.helloAck.bytes
        heartbeat0[23] = 0; heartbeat0[24] = 0  // heartbeat interval 0
        #expect(fleetDecodeError(heartbeat0)?.kind == "malformed")
        var snapshotFlags = FleetGolden.interestSnapshot.bytes
        snapshotFlags[23] = 0x03
        #expect(fleetDecodeError(snapshotFlags)?.kind == "malformed")
        var form = FleetGolden.remoteInterestDelta.bytes
        form[7] = 0x02
        #expect(fleetDecodeError(form)?.kind == "malformed")
        var qos3 = FleetGolden.forward.bytes
        qos3[21] = 0x03
        #expect(fleetDecodeError(qos3)?.kind == "malformed")
        var forwardReserved = FleetGolden.forward.bytes
        forwardReserved[21] = 0x08
        #expect(fleetDecodeError(forwardReserved)?.kind == "malformed")
        var acks = FleetGolden.deliveryAck.bytes
        acks[38] = 0x28  // second selective = 40, not above 42
        #expect(fleetDecodeError(acks)?.kind == "malformed")
    }

    @Test("topics, filters and properties")
    func topicsAndProperties() {
        var wildcardTopic = FleetGolden.forward.bytes
        wildcardTopic[24] = UInt8(ascii: "#")
        #expect(fleetDecodeError(wildcardTopic)?.kind == "invalidTopic")
        var badFilter = FleetGolden.interestDelta.bytes
        badFilter[27] = UInt8(ascii: "#")  // "#/1"
        #expect(fleetDecodeError(badFilter)?.kind == "invalidTopic")
        let shared = rawFrame(0x0011, Array(repeating: 0, count: 16) + [0x00, 0x01, 0x00, 0x09] + a("$share/g/") + [0x00, 0x00])
        #expect(fleetDecodeError(shared)?.kind == "invalidTopic")
        let sharedFull = rawFrame(0x0011, Array(repeating: 0, count: 16) + [0x00, 0x01, 0x00, 0x0A] + a("$share/g/a") + [0x00, 0x00])
        #expect(fleetDecodeError(sharedFull)?.kind == "invalidTopic")
        // A topic alias (0x23) in the FORWARD properties.
        let alias = rawFrame(0x0020, [0x00, 0x01] + a("g") + Array(repeating: 0, count: 8) + [0x00, 0x00, 0x01] + a("t")
                             + [0x03, 0x23, 0x00, 0x01])
        #expect(fleetDecodeError(alias)?.kind == "malformed")
        // A CONNECT-only property (session expiry 0x11) is the MQTT codec's error.
        let connectOnly = rawFrame(0x0020, [0x00, 0x01] + a("g") + Array(repeating: 0, count: 8) + [0x00, 0x00, 0x01] + a("t")
                                   + [0x05, 0x11, 0x00, 0x00, 0x00, 0x01])
        #expect(fleetDecodeError(connectOnly)?.kind == "invalidProperties")
        // A property length past the end of the body.
        let past = rawFrame(0x0020, [0x00, 0x01] + a("g") + Array(repeating: 0, count: 8) + [0x00, 0x00, 0x01] + a("t") + [0x09])
        #expect(fleetDecodeError(past)?.kind == "invalidProperties")
    }

    @Test("user properties over the limit")
    func userPropertyLimit() {
        var props: [UInt8] = []
        for _ in 0...FleetLimits.maxUserProperties { props += [0x26, 0x00, 0x00, 0x00, 0x00] }  // 129 empty pairs
        let n = props.count  // 645: a 2-byte variable byte integer
        let body = [0x00, 0x01] + a("g") + Array(repeating: 0, count: 8) + [0x00, 0x00, 0x01] + a("t")
                 + [UInt8(n & 0x7F) | 0x80, UInt8(n >> 7)] + props
        #expect(fleetDecodeError(rawFrame(0x0020, body))?.kind == "limitExceeded")
    }
}
