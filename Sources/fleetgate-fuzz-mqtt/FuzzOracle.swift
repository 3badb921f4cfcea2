import FleetCore
import FleetObservability
import FleetProtocol

/// The property the fuzzer checks on every input: decoding never traps, and any packet or frame
/// that decodes re-encodes to bytes that decode to the same value. Every packet or frame in the
/// input is tried, so inputs can chain several.
///
/// The first byte selects the codec, by its remainder mod 4: 0 = MQTT (both versions), 1 = fleet
/// frames (Protocol/agent-coordinator.md), 2 = the managed-socket handshake line (issue #14), 3 = the agent's
/// /metrics request head (issue #16); the rest is the stream. Seeds are written with that byte
/// in front.
enum FuzzOracle {
    static let mqttSelector: UInt8 = 0x00
    static let fleetSelector: UInt8 = 0x01
    static let socketSelector: UInt8 = 0x02
    static let httpSelector: UInt8 = 0x03

    static func check(_ input: UnsafeRawBufferPointer) {
        guard let selector = input.first else { return }
        let data = UnsafeRawBufferPointer(rebasing: input[1...])
        switch selector % 4 {
        case 0: checkMQTT(data)
        case 1: checkFleet(data)
        case 2: checkSocketHandshake(data)
        default: checkHTTPHead(data)
        }
    }

    /// The metrics endpoint's request head: reading it never traps; whole, a byte at a time and
    /// in two halves it reads the same; it never holds more than its bound; and a head it
    /// accepts is answered with a well-formed response (status line, Content-Length that
    /// matches the body).
    static func checkHTTPHead(_ data: UnsafeRawBufferPointer) {
        func read(_ chunks: [UnsafeRawBufferPointer]) -> Result<HTTPRequestHead, HTTPHeadError>? {
            var parser = HTTPRequestHeadParser(maxHeadBytes: 512)
            for chunk in chunks {
                do throws(HTTPHeadError) {
                    if let head = try parser.feed(chunk) { return .success(head) }
                } catch { return .failure(error) }
                guard parser.bufferedCount < 512 else { fatalError("holds \(parser.bufferedCount) bytes, past its bound of 512") }
            }
            return nil
        }
        let whole = read([data])
        let bytewise = read((0..<data.count).map { UnsafeRawBufferPointer(rebasing: data[$0..<($0 + 1)]) })
        let half = data.count / 2
        let halves = read([UnsafeRawBufferPointer(rebasing: data[..<half]), UnsafeRawBufferPointer(rebasing: data[half...])])
        guard whole == bytewise, whole == halves else {
            fatalError("whole: \(String(describing: whole)), a byte at a time: \(String(describing: bytewise)), halves: \(String(describing: halves))")
        }
        guard let whole else { return }
        let answer = MetricsRoute.response(to: whole, exposition: { "# fuzz\n" })
        let bytes = answer.bytes
        guard let end = bytes.firstRange(of: Array("\r\n\r\n".utf8)) else { fatalError("response without a head end") }
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
        guard head.hasPrefix("HTTP/1.1 \(answer.status.rawValue) "), head.contains("Content-Length: \(answer.body.count)\r\n"),
              answer.omitBody || bytes.count - end.upperBound == answer.body.count else { fatalError("malformed response \(head)") }
    }

    /// The handshake line: reading it never traps, whole or a byte at a time it reads the same and
    /// loses no byte after the line, a refusal's answer is one printable line, and an accepted line
    /// written again (`SocketOpenRequest.line`) reads to the same request.
    static func checkSocketHandshake(_ data: UnsafeRawBufferPointer) {
        var whole = SocketHandshake()
        let outcome = whole.feed(data)
        var stepwise = SocketHandshake()
        var stepOutcome = SocketHandshake.Outcome.needMore
        var after: [UInt8] = []
        for i in 0..<data.count {
            if case .needMore = stepOutcome {
                stepOutcome = stepwise.feed(UnsafeRawBufferPointer(rebasing: data[i..<(i + 1)]))
            } else {
                after.append(data[i])
            }
        }
        switch (outcome, stepOutcome) {
        case (.needMore, .needMore):
            guard data.count < SocketLimits.maxHandshakeBytes else { fatalError("\(data.count) bytes and still no outcome") }
        case (.refused(let a), .refused(let b)):
            guard a == b else { fatalError("whole: \(a), a byte at a time: \(b)") }
            let answer = SocketAnswer.error(a)
            guard answer.last == UInt8(ascii: "\n"), answer.dropLast().allSatisfy({ (0x20...0x7E).contains($0) }),
                  answer.count <= 4 + 16 + 1 + SocketLimits.maxReasonBytes + 1 else { fatalError("bad ERR line \(answer)") }
        case (.complete(let request, let rest), .complete(let stepRequest, let stepRest)):
            guard request == stepRequest, rest == stepRest + after else {
                fatalError("whole: \(request) + \(rest.count) bytes, a byte at a time: \(stepRequest) + \(stepRest.count + after.count)")
            }
            guard data.count - rest.count <= SocketLimits.maxHandshakeBytes, Array(data.suffix(rest.count)) == rest else {
                fatalError("\(request): rest is not what followed a line of at most 1 KiB")
            }
            var again = SocketHandshake()
            guard again.feed(request.line) == .complete(request, rest: []) else {
                fatalError("\(request) written as a line does not read back")
            }
        default:
            fatalError("whole: \(outcome), a byte at a time: \(stepOutcome)")
        }
    }

    static func checkFleet(_ data: UnsafeRawBufferPointer) {
        let decoder = FleetFrameDecoder()
        var offset = 0
        while offset < data.count {  // bounded: every decoded frame consumes >= 7 bytes
            let rest = UnsafeRawBufferPointer(rebasing: data[offset...])
            guard let result = try? decoder.decode(rest) else { break }
            guard result.consumed >= FleetLimits.headerBytes, result.consumed <= rest.count else {
                fatalError("consumed \(result.consumed) of \(rest.count) bytes")
            }
            offset += result.consumed
            let bytes = FleetFrameEncoder.encode(result.frame)
            let again: (frame: FleetFrame, consumed: Int)?
            do {
                again = try decoder.decode(bytes)
            } catch {
                fatalError("re-encoded \(result.frame) does not decode: \(error)")
            }
            guard let again, again.frame == result.frame, again.consumed == bytes.count else {
                fatalError("round trip changed \(result.frame) into \(String(describing: again))")
            }
        }
    }

    static func checkMQTT(_ data: UnsafeRawBufferPointer) {
        for version in [MQTTVersion.v311, .v5] {
            let decoder = MQTTDecoder(version: version)
            // The broker's PUBLISH path keeps one topic cache for a connection's whole stream: it
            // must never hand back a topic other than the packet's own.
            var topics = TopicNameCache()
            var offset = 0
            while offset < data.count {  // bounded: every decoded packet consumes >= 2 bytes
                let rest = UnsafeRawBufferPointer(rebasing: data[offset...])
                guard let result = try? decoder.decode(rest) else { break }
                guard result.consumed >= 2, result.consumed <= rest.count else {
                    fatalError("consumed \(result.consumed) of \(rest.count) bytes")
                }
                if case .publish(let p) = result.packet {
                    let fast = try? decoder.decodePublish(UnsafeRawBufferPointer(rebasing: rest[..<result.consumed]), topics: &topics)
                    guard fast == p else { fatalError("decodePublish \(String(describing: fast)) != decode \(p)") }
                    checkCrossing(p)
                }
                offset += result.consumed
                checkRoundTrip(result.packet, decoder: decoder)
                if case .connect(let c) = result.packet, let password = c.password { checkRelayCredential(password) }
            }
        }
    }

    /// The MQTT-to-frame boundary (issue #10 §3.1): whatever PUBLISH the MQTT decoder accepts
    /// must travel as a FORWARD the way the agent builds one (per-hop properties dropped, an
    /// alias resolved to a topic) and arrive unchanged. A PUBLISH with 129 user properties
    /// passed MQTT and trapped in the frame encoder, killing the agent.
    private static func checkCrossing(_ p: PublishPacket) {
        var properties = p.properties
        properties.topicAlias = nil
        properties.subscriptionIdentifiers = []
        let forward = FleetFrame.Forward(originGatewayId: "gw-fuzz", sequence: 1, topic: p.topic.isEmpty ? "aliased" : p.topic,
                                         qos: p.qos, retain: p.retain, properties: properties, payload: p.payload)
        if let problem = forward.limitProblem { fatalError("an accepted PUBLISH cannot cross into a FORWARD: \(problem)") }
        let bytes = FleetFrameEncoder.encode(.forward(forward))
        let back: (frame: FleetFrame, consumed: Int)?
        do { back = try FleetFrameDecoder().decode(bytes) } catch { fatalError("FORWARD of an accepted PUBLISH does not decode: \(error)") }
        guard let back, back.frame == .forward(forward) else { fatalError("FORWARD changed \(forward) into \(String(describing: back))") }
    }

    /// Any CONNECT password may be a relay credential (Protocol/agent-coordinator.md §10) to the target's parser:
    /// reading one never traps, and one that reads re-encodes to the same value.
    private static func checkRelayCredential(_ password: [UInt8]) {
        guard let credential = try? RelayCredential(password: password) else { return }
        guard let bytes = credential.encoded() else { fatalError("a read relay credential does not encode: \(credential)") }
        guard (try? RelayCredential(password: bytes)) == credential else { fatalError("relay credential round trip changed \(credential)") }
    }

    private static func checkRoundTrip(_ packet: MQTTPacket, decoder: MQTTDecoder) {
        var version = decoder.version
        if case .connect(let c) = packet { version = c.version }  // CONNECT carries its own level
        let bytes = MQTTEncoder.encode(packet, version: version)
        let again: (packet: MQTTPacket, consumed: Int)?
        do {
            again = try decoder.decode(bytes)
        } catch {
            fatalError("re-encoded \(packet) does not decode: \(error)")
        }
        guard let again, again.packet == packet, again.consumed == bytes.count else {
            fatalError("round trip changed \(packet) into \(String(describing: again))")
        }
    }
}
