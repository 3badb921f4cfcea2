import Testing
@testable import FleetProtocol

@Suite("Fleet frames: golden vectors typed from Protocol/agent-coordinator.md")
struct FleetGoldenTests {
    @Test("Protocol/vectors/agent-coordinator reads whole: every file parses, every field belongs to its frame")
    func vectorFilesRead() {
        #expect(FleetGolden.loaded.problems.isEmpty, "\(FleetGolden.loaded.problems.joined(separator: "\n"))")
        let vectors = FleetGolden.all
        // 33 vectors when they moved out of Swift into Protocol/vectors (issue #16); none may get lost.
        #expect(vectors.count >= 33)
        #expect(Set(vectors.map(\.name)).count == vectors.count, "vector names are unique")
    }

    @Test("decode(golden) == expected", arguments: FleetGolden.all)
    func decodesGolden(_ v: FleetGoldenVector) throws {
        let result = try #require(try FleetFrameDecoder().decode(v.bytes))
        #expect(result.frame == v.frame)
        #expect(result.consumed == v.bytes.count)
    }

    @Test("encode(expected) == golden", arguments: FleetGolden.all)
    func encodesGolden(_ v: FleetGoldenVector) {
        #expect(FleetFrameEncoder.encode(v.frame) == v.bytes)
    }

    @Test("every version-1 kind has a golden vector, and so does an unknown ignorable one")
    func coverage() {
        let kinds = Set(FleetGolden.all.map(\.frame.kind))
        for k in FleetFrameKind.known { #expect(kinds.contains(k), "no golden vector for \(k)") }
        #expect(FleetGolden.all.contains { if case .unknown = $0.frame { true } else { false } })
        #expect(FleetGolden.all.contains { if case .remoteInterest(.snapshot) = $0.frame { true } else { false } })
        #expect(FleetGolden.all.contains { if case .remoteInterest(.delta) = $0.frame { true } else { false } })
    }

    @Test("IGNORABLE and BULK on a known kind change nothing for the receiver (§3.2)", arguments: FleetGolden.all)
    func flagsOnKnownKinds(_ v: FleetGoldenVector) throws {
        guard v.frame.kind.isKnown else { return }
        for flags: UInt8 in [0x00, 0x01, 0x02, 0x03] {
            var bytes = v.bytes
            bytes[2] = flags
            #expect(try FleetFrameDecoder().decode(bytes)?.frame == v.frame)
        }
    }

    @Test("messages and sessions are bulk, only the optional kinds are sent IGNORABLE; nothing else is flagged")
    func priorityClass() {
        // Protocol/agent-coordinator.md §4's table, typed out: the code's own sets are what is under test.
        let bulk: [FleetFrameKind] = [.forward, .sessionTransfer, .handoff]
        let optional: [FleetFrameKind] = [.durableInterest, .replay, .migrate, .migrationStep, .drain, .sessionList,
                                          .availabilityQuery, .availability, .maintenanceRun, .maintenanceResult, .mappings, .socketReport,
                                          .peerReport, .socketClose, .peerAsk, .peerMatch, .peerGone]
        for v in FleetGolden.all where v.frame.kind.isKnown {
            #expect(v.frame.isBulk == bulk.contains(v.frame.kind))
            let ignorable = optional.contains(v.frame.kind)
            #expect(v.bytes[2] == (v.frame.isBulk ? FleetFrameFlags.bulk : 0) | (ignorable ? FleetFrameFlags.ignorable : 0))
        }
        #expect(FleetGolden.unknownIgnorable.frame.isBulk)
    }

    @Test("several frames back to back decode one by one")
    func backToBack() throws {
        let stream = FleetGolden.all.flatMap(\.bytes)
        var offset = 0
        var frames: [FleetFrame] = []
        while offset < stream.count {
            let (frame, consumed) = try #require(try FleetFrameDecoder().decode(Array(stream[offset...])))
            frames.append(frame)
            offset += consumed
        }
        #expect(frames == FleetGolden.all.map(\.frame))
    }

    @Test("error codes: only 0x02xx keep the connection; decode errors map to the table of §5.11")
    func errorCodes() {
        #expect(!FleetErrorCode.interestOutOfSync.isFatal)
        #expect(!FleetErrorCode.forwardRejected.isFatal)
        for c in [FleetErrorCode.malformedFrame, .frameTooLarge, .notAuthorized, .unsupportedVersion, .overloaded, FleetErrorCode(0x7777)] {
            #expect(c.isFatal)
        }
        #expect(FleetFrameError.frameTooLarge(size: 9, limit: 8).errorCode == .frameTooLarge)
        #expect(FleetFrameError.unknownKind(0x99).errorCode == .unknownFrameKind)
        #expect(FleetFrameError.limitExceeded("x").errorCode == .limitExceeded)
        #expect(FleetFrameError.invalidUTF8(field: "x").errorCode == .malformedFrame)
    }

    @Test("ERROR messages are cut at a character boundary to the limit")
    func errorMessageTruncation() throws {
        let long = String(repeating: "é", count: 600)  // 1200 bytes
        let e = FleetFrame.ErrorReport(code: .internalError, message: long)
        #expect(e.message.utf8.count == 1024)
        #expect(try FleetFrameDecoder().decode(FleetFrameEncoder.encode(.error(e)))?.frame == .error(e))
    }

    @Test("a HELLO with every field at its limit fits the pre-authentication frame size")
    func maximalHelloFits() throws {
        let s = { (n: Int) in String(repeating: "x", count: n) }
        let hello = FleetFrame.Hello(
            gatewayId: s(FleetLimits.maxIdentifierBytes), authToken: Array(repeating: 7, count: FleetLimits.maxTokenBytes),
            mqttAddress: s(FleetLimits.maxAddressBytes), region: s(FleetLimits.maxShortStringBytes),
            labels: Array(repeating: .init(s(FleetLimits.maxShortStringBytes), s(FleetLimits.maxLabelValueBytes)), count: FleetLimits.maxLabels),
            capacityWeight: 1, softwareVersion: s(FleetLimits.maxShortStringBytes))
        let bytes = FleetFrameEncoder.encode(.hello(hello))
        #expect(bytes.count <= FleetLimits.maximumHelloFrameSize)
        let decoder = FleetFrameDecoder(maximumFrameSize: FleetLimits.maximumHelloFrameSize)
        #expect(try decoder.decode(bytes)?.frame == .hello(hello))
    }

    @Test("snapshot parts: cut by count and bytes, numbered, last flagged, empty table = one empty last part")
    func snapshotParts() {
        let filters = (0..<10).map { "f/\($0)" }  // 3 bytes each, 5 on the wire
        let byCount = FleetFrame.InterestSnapshot.parts(epoch: 4, firstSequence: 0, filters: filters, maxFiltersPerFrame: 4)
        #expect(byCount.map(\.filters.count) == [4, 4, 2])
        #expect(byCount.map(\.sequence) == [0, 1, 2])
        #expect(byCount.map(\.isLast) == [false, false, true])
        #expect(byCount.flatMap(\.filters) == filters)
        let byBytes = FleetFrame.InterestSnapshot.parts(epoch: 4, filters: filters, maxBodyBytes: 12)
        #expect(byBytes.map(\.filters.count) == [2, 2, 2, 2, 2])
        #expect(FleetFrame.InterestSnapshot.parts(epoch: 1, filters: []) == [.init(epoch: 1, sequence: 0, isLast: true, filters: [])])
    }
}
