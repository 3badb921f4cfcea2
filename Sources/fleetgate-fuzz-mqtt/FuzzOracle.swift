import FleetProtocol

/// The property the fuzzer checks on every input: decoding never traps, and any packet that
/// decodes (with either version) re-encodes to bytes that decode to the same packet.
/// Every packet in the input is tried, so inputs can chain several.
enum FuzzOracle {
    static func check(_ data: UnsafeRawBufferPointer) {
        for version in [MQTTVersion.v311, .v5] {
            let decoder = MQTTDecoder(version: version)
            var offset = 0
            while offset < data.count {  // bounded: every decoded packet consumes >= 2 bytes
                let rest = UnsafeRawBufferPointer(rebasing: data[offset...])
                guard let result = try? decoder.decode(rest) else { break }
                guard result.consumed >= 2, result.consumed <= rest.count else {
                    fatalError("consumed \(result.consumed) of \(rest.count) bytes")
                }
                offset += result.consumed
                checkRoundTrip(result.packet, decoder: decoder)
            }
        }
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
