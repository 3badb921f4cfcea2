@testable import FleetProtocol

/// SplitMix64: a tiny seeded generator so random tests are reproducible.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What a connection does: append what arrived, decode until nil, drop what was consumed.
struct Accumulator {
    var decoder: MQTTDecoder
    var buffer: [UInt8] = []
    var packets: [MQTTPacket] = []

    init(version: MQTTVersion) { decoder = MQTTDecoder(version: version) }

    mutating func feed<C: Collection>(_ chunk: C) throws(MQTTDecodeError) where C.Element == UInt8 {
        buffer.append(contentsOf: chunk)
        // Bounded: each successful turn consumes at least 2 bytes.
        for _ in 0...buffer.count {
            guard let (packet, consumed) = try decoder.decode(buffer) else { return }
            precondition(consumed >= 2 && consumed <= buffer.count)
            packets.append(packet)
            buffer.removeFirst(consumed)
        }
    }
}

/// Decodes with `version`, expecting an error; returns it (nil when none was thrown).
func decodeError(_ bytes: [UInt8], version: MQTTVersion = .v5, limit: Int = ProtocolLimits.maxPacketSize) -> MQTTDecodeError? {
    do {
        _ = try MQTTDecoder(version: version, maximumPacketSize: limit).decode(bytes)
        return nil
    } catch {
        return error
    }
}

extension MQTTDecodeError {
    /// The case without its message, so tests can compare kinds.
    var kind: String {
        switch self {
        case .malformedVariableByteInteger: "malformedVariableByteInteger"
        case .packetTooLarge: "packetTooLarge"
        case .malformed: "malformed"
        case .invalidFlags: "invalidFlags"
        case .invalidUTF8: "invalidUTF8"
        case .protocolError: "protocolError"
        case .invalidProtocolName: "invalidProtocolName"
        case .unsupportedProtocolVersion: "unsupportedProtocolVersion"
        case .invalidTopicName: "invalidTopicName"
        case .invalidTopicFilter: "invalidTopicFilter"
        case .limitExceeded: "limitExceeded"
        }
    }
}
