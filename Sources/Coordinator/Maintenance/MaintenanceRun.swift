import Foundation

/// One maintenance run and each of its hosts, as persisted and as `GET /v1/maintenance/{id}`
/// shows it. A value: `MaintenanceScheduler` is the only thing that changes it, and the runtime
/// writes it (`encoded()`) before carrying out the actions that came with a change, so a
/// coordinator killed at any step reloads (`decoded(from:)`) exactly what it had promised.
public struct MaintenanceRun: Sendable, Equatable, Codable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Created; no host started yet (a window may be closed).
        case scheduled
        case running
        /// Starts nothing new; hosts already out go on.
        case paused
        /// Every host done, failed within `max_errors`, or skipped.
        case done
        /// Past `max_errors`: starts nothing new (`reason` says why); hosts already out go on.
        case stopped
        /// By the operator: starts nothing new; hosts already running their operation go on.
        case cancelled

        /// The run may still start hosts.
        public var startsHosts: Bool { self == .scheduled || self == .running }
        /// Nothing will ever start again (hosts already out may still be finishing).
        public var isEnded: Bool { self == .done || self == .stopped || self == .cancelled }
    }

    /// One host's part of the run: pending -> querying -> scheduled -> draining -> running ->
    /// rejoining -> verifying -> done | failed | skipped. A busy answer sends a host back to
    /// pending until it may be asked again.
    public struct Host: Sendable, Equatable, Codable {
        public enum State: String, Sendable, Codable, CaseIterable {
            /// Not asked yet, or told to wait (busy, no answer, gateway down): see `note`.
            case pending
            /// Asked for its availability; waiting for the answer.
            case querying
            /// Said it is available; waiting for a slot, the window, or `min_active`.
            case scheduled
            /// Its clients are moving away (connection migration's drain).
            case draining
            /// Told to run the operation (with its fencing number).
            case running
            /// The operation exited 0; waiting for the gateway to take clients again.
            case rejoining
            /// Back; must stay healthy for `verify.healthy_s`.
            case verifying
            case done
            case failed
            /// Never started: the run was stopped or cancelled first.
            case skipped

            public var isFinal: Bool { self == .done || self == .failed || self == .skipped }
            /// Between the start of its drain and the end of its verification.
            public var isStarted: Bool { self == .draining || self == .running || self == .rejoining || self == .verifying }
        }

        public let gateway: String
        public internal(set) var state: State = .pending
        /// The fencing number of this host's one start (nil until it starts). Never changes after.
        public internal(set) var fencing: UInt64?
        /// Held from the start until the host is known not to be running the operation: while it
        /// is held the host counts against `max_concurrent` (see `Lease`).
        public internal(set) var lease: Lease?
        public internal(set) var startedMs: UInt64?
        public internal(set) var finishedMs: UInt64?
        public internal(set) var exitStatus: Int32?
        public internal(set) var outputTail: String?
        /// Why the host failed or was skipped.
        public internal(set) var error: String?
        /// Why a host that has not started waits (busy and its reason, gateway down, min_active).
        public internal(set) var note: String?
        /// Not to be asked again before this (a busy answer or an unanswered query).
        public internal(set) var notBeforeMs: UInt64?
        /// When its current step began: the query sent, the drain's deadline counted from.
        public internal(set) var stepSinceMs: UInt64?
        /// When it last said it was available.
        public internal(set) var availableAtMs: UInt64?
        /// false: its operation runs without draining the gateway first (the agent's `drain:
        /// false`); nil: drain first.
        public internal(set) var drainFirst: Bool?

        public init(gateway: String) { self.gateway = gateway }

        /// Counts against `max_concurrent`.
        public var isOut: Bool { lease != nil }
    }

    /// A host's claim on a concurrency slot. It expires only when nothing has been heard or seen
    /// of the host for the TTL, and even then the slot stays taken (`expired`): a host that
    /// vanished may still be running its operation, and freeing its slot on a timer is how kured's
    /// lock TTL let dozens of nodes reboot at once. The slot comes back when the host is seen
    /// connected again or the operator releases it.
    public struct Lease: Sendable, Equatable, Codable {
        public let fencing: UInt64
        public internal(set) var expiresAtMs: UInt64
        public internal(set) var expired = false
    }

    /// Bumped when the stored form changes incompatibly; `decoded(from:)` refuses newer ones.
    public static let formatVersion = 1

    public let id: String
    public let operation: String
    public let policy: MaintenancePolicy
    public let createdMs: UInt64
    public internal(set) var state: State = .scheduled
    /// Why the run stopped or was cancelled.
    public internal(set) var reason: String?
    public internal(set) var finishedMs: UInt64?
    /// In the order given: hosts start in this order when they are equally ready.
    public internal(set) var hosts: [Host]
    /// The highest fencing number given in this run; each start takes the next one, and it is
    /// persisted with the start, so no number is ever given twice, not across restarts either.
    public internal(set) var lastFencing: UInt64 = 0

    public init(id: String, operation: String, gateways: [String], policy: MaintenancePolicy, createdMs: UInt64) {
        self.id = id
        self.operation = operation
        self.policy = policy
        self.createdMs = createdMs
        var seen: Set<String> = []
        self.hosts = gateways.filter { seen.insert($0).inserted }.map(Host.init(gateway:))
    }

    public func host(_ gateway: String) -> Host? { hosts.first { $0.gateway == gateway } }

    /// Hosts holding a slot.
    public var outCount: Int { hosts.reduce(0) { $0 + ($1.isOut ? 1 : 0) } }
    public var failedCount: Int { hosts.reduce(0) { $0 + ($1.state == .failed ? 1 : 0) } }

    // MARK: Stored form

    struct Stored: Codable {
        var version: Int
        var run: MaintenanceRun
    }

    public enum StoredFormError: Error, Equatable, Sendable {
        case unsupportedVersion(Int)
    }

    /// The versioned JSON the runtime keeps (one row per run). Keys are the Swift names (no key
    /// strategy: the policy inside keeps its own snake_case keys, which a strategy would mangle).
    public func encoded() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return try e.encode(Stored(version: Self.formatVersion, run: self))
    }

    public static func decoded(from data: Data) throws -> MaintenanceRun {
        let d = JSONDecoder()
        struct Version: Codable { var version: Int }
        let version = try d.decode(Version.self, from: data).version
        guard version <= formatVersion else { throw StoredFormError.unsupportedVersion(version) }
        return try d.decode(Stored.self, from: data).run
    }
}
