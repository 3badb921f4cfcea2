/// Bounds of the managed-socket service (issue #14) that are part of its contract with devices and
/// mapping authors, in one place. They are not tunables: firmware and tools are written against them.
public enum SocketLimits {
    /// The handshake line, its LF (and CR) included: a device that sends more without a line end
    /// gets `ERR too-long`. Room for a 128-byte mapping and a 256-byte client id and password.
    public static let maxHandshakeBytes = 1_024
    /// Mapping names: 1-128 bytes of [A-Za-z0-9._-] (the MAPPINGS frame's identifier bound).
    public static let maxMappingNameBytes = 128
    /// `client=` and `password=` values: 1-256 printable ASCII bytes without spaces (the client id
    /// bound of SOCKET_REPORT and MQTT's default).
    public static let maxHandshakeValueBytes = 256
    /// Reasons on `ERR` lines are cut to this many bytes: they say why, never echo a device's input.
    public static let maxReasonBytes = 200
    /// Socket ids on `OK` lines ("<gateway id>-<n>", FleetLimits.maxSocketIdBytes).
    public static let maxSocketIdBytes = 160

    /// `receive.max_bytes` when a mapping gives none: the largest chunk (and so the most a socket
    /// buffers) for the delimiter, length-prefix and idle rules.
    public static let defaultMaxChunkBytes = 65_536
    /// Hard limit on any chunk: `max_bytes` and `length` at most 1 MiB (the MQTT packet default, so a
    /// chunk always fits a publish to an MQTT endpoint).
    public static let maxChunkBytes = 1_048_576
    /// `receive.delimiter`: 1-16 bytes.
    public static let maxDelimiterBytes = 16
    /// `receive.prefix`: 1-256 bytes (and not longer than `max_bytes`).
    public static let maxPrefixBytes = 256
    /// `receive.idle_ms`: 1 ms to 1 minute.
    public static let maxIdleMs: UInt64 = 60_000

    // Peering (issue #15).

    /// `id=<name>` in the OPEN line: 1-128 bytes of [A-Za-z0-9._-] (SocketPeerName.isRequestable).
    public static let maxRequestedIdBytes = 128
    /// A peer an endpoint names (a socket id or a rendezvous name): 1-160 printable ASCII bytes
    /// without spaces, like the socket ids of `OK` lines.
    public static let maxPeerNameBytes = 160
    /// `peer_wait_ms` when a mapping gives none, and its bounds: how long a socket named to a peer
    /// waits for it before `ERR peer-timeout`.
    public static let defaultPeerWaitMs: UInt64 = 30_000
    public static let maxPeerWaitMs: UInt64 = 600_000
    /// Bytes a waiting socket holds for its peer-to-be; past it, its reading pauses until linked.
    public static let maxPeerHeldBytes = 256 * 1024
    /// Bytes queued towards one side of a link (its stream's unsent writes) at which the other
    /// side's reading pauses; it resumes when they are written. Bounds a link's memory at about
    /// twice this plus a read buffer, whatever the two devices do.
    public static let maxPeerQueuedBytes = 256 * 1024
}
