/// The parser's own limits, in one place. Each one is a spec bound or follows from one; the
/// broker's configurable limits (maximum packet size it accepts, ...) are passed in, not here.
public enum ProtocolLimits {
    /// A Variable Byte Integer has at most 4 bytes (MQTT 5 §1.5.5, 3.1.1 §2.2.3).
    public static let maxVariableByteIntegerBytes = 4
    /// The largest value 4 such bytes can carry: 0x0FFF_FFFF.
    public static let maxVariableByteInteger: UInt32 = 268_435_455
    /// A fixed header is 1 type/flags byte plus at most 4 length bytes.
    public static let maxFixedHeaderBytes = 1 + maxVariableByteIntegerBytes
    /// The biggest packet the wire format can express: fixed header plus the largest remaining length.
    public static let maxPacketSize = maxFixedHeaderBytes + Int(maxVariableByteInteger)
    /// UTF-8 strings and binary data carry a 2-byte length prefix (MQTT 5 §1.5.4, §1.5.6).
    public static let maxStringBytes = Int(UInt16.max)
    /// Subscription Identifier range (MQTT 5 §3.8.2.1.2): 1 ... the largest variable byte integer.
    public static let subscriptionIdentifierRange: ClosedRange<UInt32> = 1...maxVariableByteInteger
    /// Properties are not limited separately: a property length larger than what is left of the
    /// packet is malformed, so the bound is the packet size (itself bounded by the decoder's
    /// `maximumPacketSize`). Likewise the number of user properties, topic filters and reason codes.
    public static let maxPropertyBytes = Int(maxVariableByteInteger)
    /// User properties in one packet. Not a spec bound but a Fleetgate one, shared by every codec
    /// a message crosses: the MQTT decoder refuses more (0x83), so a message that entered through
    /// MQTT always fits a FORWARD frame (`FleetLimits.maxUserProperties` is this same number) and
    /// decoding a packet of tiny properties cannot build hundreds of thousands of strings.
    public static let maxUserProperties = 128
}
