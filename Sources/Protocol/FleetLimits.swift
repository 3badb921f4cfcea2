/// Limits of the agent-coordinator frame codec (Protocol/agent-coordinator.md §6), in one place. Each bound is
/// checked by the decoder before anything is allocated for the field or list it guards.
public enum FleetLimits {
    /// Frame header: kind (2) + flags (1) + body length (4).
    public static let headerBytes = 7
    /// Default largest whole frame (header included) a decoder accepts: a forwarded MQTT packet of
    /// the agent's default 1 MiB maximum plus 64 KiB for the origin id and the FORWARD fields.
    /// A peer announces its own limit in HELLO / HELLO_ACK; the sender must stay under it.
    public static let defaultMaximumFrameSize = 1_048_576 + 65_536
    /// What a coordinator accepts before a HELLO is authenticated: an unauthenticated peer must not
    /// make it buffer a megabyte. A HELLO with every field at its limit fits.
    public static let maximumHelloFrameSize = 16_384
    /// The body length field is a u32; frames above this cannot be expressed at all.
    public static let maximumEncodableBodySize = Int(UInt32.max)

    /// Protocol versions this codec speaks (HELLO min/max, HELLO_ACK chosen).
    public static let supportedVersions: ClosedRange<UInt16> = 1...1

    /// Gateway and coordinator identifiers: 1...128 UTF-8 bytes.
    public static let maxIdentifierBytes = 128
    /// HELLO auth token (opaque bytes; may be empty when mutual TLS authenticates).
    public static let maxTokenBytes = 4_096
    /// Advertised MQTT address "host:port" (a DNS name is at most 253 bytes).
    public static let maxAddressBytes = 260
    /// Region, label keys, software version.
    public static let maxShortStringBytes = 64
    /// Label values.
    public static let maxLabelValueBytes = 256
    /// Managed sockets (MAPPINGS, SOCKET_REPORT): entries per frame and their sizes.
    public static let maxMappingsPerFrame = 256
    public static let maxMappingDocumentBytes = 16_384
    public static let maxSocketsPerReport = 1_024
    /// "<gateway id>-<n>": the gateway's id (128) and a decimal counter.
    public static let maxSocketIdBytes = 160
    public static let maxSocketClientIdBytes = 256
    /// SOCKET_CLOSE's reason, for the agent's log (issue #15).
    public static let maxSocketCloseReasonBytes = 200
    /// Upper bounds (ms) of the endpoint-call latency histogram of SOCKET_REPORT, +Inf after.
    public static let callLatencyBoundsMs: [UInt64] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000]
    /// The last output lines of a maintenance operation (MAINTENANCE_RESULT).
    public static let maxOutputTailBytes = 4_096
    /// Labels in one HELLO.
    public static let maxLabels = 32
    /// Top talkers in one LOAD_REPORT.
    public static let maxTopTalkers = 100
    /// Topic filters in one INTEREST_SNAPSHOT part or REMOTE_INTEREST snapshot part, and in each of
    /// the added/removed lists of a delta. Larger tables are split over several parts.
    public static let maxFiltersPerFrame = 4_096
    /// Filter bytes per snapshot part when a table is split (`InterestSnapshot.parts`): interest
    /// frames are control frames and stay small, so one never holds the connection for long (Protocol/agent-coordinator.md §8).
    public static let snapshotPartBytes = 65_536
    /// Individually acknowledged sequences in one DELIVERY_ACK.
    public static let maxSelectiveAcks = 1_024
    /// User properties on one FORWARD: the MQTT decoder's bound (`ProtocolLimits.maxUserProperties`),
    /// so whatever a device may publish can cross the fabric, and nothing more.
    public static let maxUserProperties = ProtocolLimits.maxUserProperties
    /// ERROR message text.
    public static let maxErrorMessageBytes = 1_024
    /// Client ids per SESSION_LIST part: parts stay far below the frame limit for ordinary ids
    /// (the sender also cuts a part at 256 KiB).
    public static let maxClientIdsPerList = 4_096
}
