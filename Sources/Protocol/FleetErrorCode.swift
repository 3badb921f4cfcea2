/// An ERROR frame code (Protocol/agent-coordinator.md §5.11). A struct, not an enum, so a code a newer peer
/// sends that we do not know still decodes; an unknown code is treated as fatal.
public struct FleetErrorCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    public init(_ rawValue: UInt16) { self.rawValue = rawValue }

    // 0x00xx: framing. The sender closes the connection after the ERROR.
    public static let malformedFrame = FleetErrorCode(0x0001)
    public static let frameTooLarge = FleetErrorCode(0x0002)
    public static let unknownFrameKind = FleetErrorCode(0x0003)
    public static let unexpectedFrame = FleetErrorCode(0x0004)
    public static let limitExceeded = FleetErrorCode(0x0005)
    // 0x01xx: handshake and session. Fatal.
    public static let unsupportedVersion = FleetErrorCode(0x0101)
    public static let notAuthorized = FleetErrorCode(0x0102)
    public static let handshakeTimeout = FleetErrorCode(0x0103)
    public static let sessionReplaced = FleetErrorCode(0x0104)
    public static let heartbeatTimeout = FleetErrorCode(0x0105)
    /// A HELLO for a gateway id whose session is connected and alive: refused, not replacing it.
    public static let gatewayIdInUse = FleetErrorCode(0x0106)
    // 0x02xx: state. Not fatal: the connection stays up and the receiver repairs.
    public static let interestOutOfSync = FleetErrorCode(0x0201)
    public static let forwardRejected = FleetErrorCode(0x0202)
    // 0x03xx: the peer itself. Fatal; reconnect with backoff.
    public static let overloaded = FleetErrorCode(0x0301)
    public static let shuttingDown = FleetErrorCode(0x0302)
    public static let internalError = FleetErrorCode(0x03FF)

    /// Whether the sender closes the connection after sending this code. Only the 0x02xx state
    /// codes keep it open; unknown codes are fatal.
    public var isFatal: Bool { rawValue >> 8 != 0x02 }

    public var description: String { "0x" + String(rawValue, radix: 16, uppercase: true) }
}

/// Everything that makes bytes an invalid fleet frame. Thrown only for malformed input; a frame
/// that is not complete yet is `nil`, not an error.
public enum FleetFrameError: Error, Equatable, Sendable {
    /// The whole frame (header included) is larger than the decoder's limit. Thrown from the
    /// 7-byte header alone.
    case frameTooLarge(size: Int, limit: Int)
    /// A kind this codec does not know, without the IGNORABLE flag. Thrown from the header alone.
    case unknownKind(UInt16)
    /// Reserved header flag bits set. Thrown from the header alone.
    case reservedFlags(kind: UInt16, flags: UInt8)
    /// A list count or string length over its limit in `FleetLimits`, checked before allocating.
    case limitExceeded(String)
    /// Truncated field, trailing bytes, bad magic, value out of range, reserved body bits.
    case malformed(String)
    /// Ill-formed UTF-8, or U+0000, in a string.
    case invalidUTF8(field: String)
    /// A FORWARD topic that is not a valid MQTT topic name, or an interest entry that is not a
    /// valid (non-shared) topic filter.
    case invalidTopic(String)
    /// The MQTT 5 property block of a FORWARD failed the MQTT property codec.
    case invalidProperties(MQTTDecodeError)

    /// The ERROR frame code to send back before closing.
    public var errorCode: FleetErrorCode {
        switch self {
        case .frameTooLarge: .frameTooLarge
        case .unknownKind: .unknownFrameKind
        case .limitExceeded: .limitExceeded
        case .reservedFlags, .malformed, .invalidUTF8, .invalidTopic, .invalidProperties: .malformedFrame
        }
    }
}
