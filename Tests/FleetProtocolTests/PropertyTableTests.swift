import Testing
@testable import FleetProtocol

/// MQTT 5 §2.2.2.2, typed row by row (identifier: where it may appear), checked against the
/// decoder's per-packet masks, which are written column by column.
@Suite("Property placement table")
struct PropertyTableTests {
    static let specRows: [(UInt8, [PropertyContext])] = [
        (0x01, [.publish, .will]), (0x02, [.publish, .will]), (0x03, [.publish, .will]),
        (0x08, [.publish, .will]), (0x09, [.publish, .will]), (0x0B, [.publish, .subscribe]),
        (0x11, [.connect, .connack, .disconnect]), (0x12, [.connack]), (0x13, [.connack]),
        (0x15, [.connect, .connack, .auth]), (0x16, [.connect, .connack, .auth]), (0x17, [.connect]),
        (0x18, [.will]), (0x19, [.connect]), (0x1A, [.connack]), (0x1C, [.connack, .disconnect]),
        (0x1F, [.connack, .pubAck, .suback, .unsuback, .disconnect, .auth]),
        (0x21, [.connect, .connack]), (0x22, [.connect, .connack]), (0x23, [.publish]), (0x24, [.connack]),
        (0x25, [.connack]),
        (0x26, [.connect, .connack, .publish, .will, .pubAck, .subscribe, .suback, .unsubscribe, .unsuback, .disconnect, .auth]),
        (0x27, [.connect, .connack]), (0x28, [.connack]), (0x29, [.connack]), (0x2A, [.connack]),
    ]
    static let contexts: [PropertyContext] =
        [.connect, .will, .connack, .publish, .pubAck, .subscribe, .suback, .unsubscribe, .unsuback, .disconnect, .auth]

    @Test("every identifier is allowed exactly where the spec says")
    func table() throws {
        #expect(Self.specRows.count == PropertyID.allCases.count)
        for (raw, places) in Self.specRows {
            let id = try #require(PropertyID(rawValue: raw))
            for context in Self.contexts {
                let allowed = context.allowed & id.bit != 0
                #expect(allowed == places.contains(where: { "\($0)" == "\(context)" }), "0x\(String(raw, radix: 16)) in \(context)")
            }
        }
    }
}
