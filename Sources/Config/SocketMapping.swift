import FleetCore

/// A client-defined function mapping of the managed-socket service (issue #14): where a socket's
/// events go, how its bytes become chunks, and what comes back. Registered at the coordinator
/// (`PUT /v1/mappings/{name}`), pushed to agents as `canonicalJSON` (MAPPINGS), or read from an
/// agent's config file (`mappings:`); every side validates with `init(json:)` / `init(object:)`.
///
/// Here, not in FleetCore, because reading the JSON text uses Foundation's JSONSerialization and
/// FleetCore imports FleetProtocol only (DESIGN.md §2); FleetConfig is already shared by both
/// processes and already depends on Foundation (through Yams).
///
/// Defaults of fields left out (the canonical form spells every one of them out):
/// - `events`: all three, `["open", "data", "close"]`.
/// - `receive`: `{"idle_ms": 100, "max_bytes": 65536}`, bytes as they come.
/// - `reply`: `write`. The design writes the endpoint's answer back; an endpoint with nothing to say
///   answers with an empty body. For an MQTT endpoint, `write` means what is published to
///   `<prefix>/<socket-id>/tx` reaches the socket, `discard` that it does not.
/// - `on_error`: `close`: a failing endpoint is seen at once, and no data is silently dropped.
/// - `max_concurrency`: 64; `endpoint.timeout_ms`: 5000; `endpoint.headers`: none.
public struct SocketMapping: Equatable, Hashable, Sendable {
    public enum Event: String, Sendable, CaseIterable {
        case open, data, close
    }

    public enum Reply: String, Sendable, CaseIterable {
        case write, discard
    }

    public enum OnError: String, Sendable, CaseIterable {
        case close
        case `continue`
    }

    /// An HTTP(S) webhook: each event is a POST to `url`.
    public struct Webhook: Equatable, Hashable, Sendable {
        /// `http` or `https`, with a host; no user name or password (they belong in `headers`).
        public var url: String
        /// Sent with every call. Names are HTTP tokens, unique ignoring case; not Host,
        /// Content-Length, Transfer-Encoding, Connection, nor `X-Fleetgate-*` (the agent's own).
        public var headers: [String: String]
        public var timeoutMs: Int
        /// CA bundle (PEM) to verify an https endpoint with, an absolute path on the agent's host;
        /// nil: the system's.
        public var caFile: String?

        public init(url: String, headers: [String: String] = [:], timeoutMs: Int = SocketMapping.defaultTimeoutMs, caFile: String? = nil) {
            self.url = url; self.headers = headers; self.timeoutMs = timeoutMs; self.caFile = caFile
        }
    }

    public enum Endpoint: Equatable, Hashable, Sendable {
        case webhook(Webhook)
        /// Chunks to `<prefix>/<socket-id>/rx`, events to `.../events`, `.../tx` to the socket.
        case mqtt(prefix: String)
    }

    public var endpoint: Endpoint
    public var events: Set<Event>
    public var receive: ReceiveCriteria
    public var reply: Reply
    public var onError: OnError
    /// Endpoint calls in flight at once per gateway for this mapping.
    public var maxConcurrency: Int
    /// Peering (issue #15): how long a socket whose open answer named a peer waits for it.
    public var peerWaitMs: UInt64 = SocketLimits.defaultPeerWaitMs
    /// Peering: a linked socket still has its receive criteria and data events (a copy of what
    /// flows to the peer goes to the endpoint); by default they stop once linked.
    public var peerAndData = false

    /// Builds a mapping without checking it; `init(json:)` is the checked way in.
    public init(endpoint: Endpoint, events: Set<Event> = Set(Event.allCases), receive: ReceiveCriteria = .passThrough,
                reply: Reply = .write, onError: OnError = .close, maxConcurrency: Int = SocketMapping.defaultMaxConcurrency) {
        self.endpoint = endpoint; self.events = events; self.receive = receive; self.reply = reply
        self.onError = onError; self.maxConcurrency = maxConcurrency
    }

    public static let defaultTimeoutMs = 5_000
    public static let defaultMaxConcurrency = 64

    // Bounds, each a 400 naming the field when broken.
    public static let timeoutRangeMs = 1...60_000
    public static let concurrencyRange = 1...10_000
    public static let maxHeaders = 32
    public static let maxHeaderNameBytes = 64
    public static let maxHeaderValueBytes = 1_024
    /// All header names and values together.
    public static let maxHeaderBytes = 8_192
    public static let maxURLBytes = 2_048
    public static let maxCAFileBytes = 4_096
    public static let maxTopicPrefixBytes = 256
    public static let peerWaitRangeMs = 1...Int(SocketLimits.maxPeerWaitMs)
    /// A mapping document, as given and in its canonical form: a MAPPINGS entry
    /// (FleetLimits.maxMappingDocumentBytes).
    public static let maxDocumentBytes = 16_384
}

/// A mapping refused: the field (`endpoint.url`, `receive.length_prefix`, `events[2]`; `name` for
/// the mapping's name, `(document)` for the whole) and what is wrong with it.
public struct SocketMappingError: Error, Equatable, Sendable, CustomStringConvertible {
    public var path: String
    public var message: String
    public init(_ path: String, _ message: String) { self.path = path; self.message = message }
    public var description: String { "\(path): \(message)" }
}

extension SocketMapping {
    /// Mapping names: 1-128 bytes of [A-Za-z0-9._-], as in the handshake.
    public static func checkName(_ name: String) throws(SocketMappingError) {
        guard SocketHandshake.isMappingName(name) else {
            throw SocketMappingError("name", "must be 1-\(SocketLimits.maxMappingNameBytes) bytes of A-Z a-z 0-9 . _ -")
        }
    }
}
