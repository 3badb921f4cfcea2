import FleetProtocol

/// The `maintenance:` section of the agent's config (issue #13): the operations this gateway can
/// run for the coordinator, each a command (an argv, never a shell string), and an optional
/// availability command.
///
/// ```yaml
/// maintenance:
///   availability: ["/usr/local/lib/fleetgate/can-maintain"]     # optional; exit 0 = available
///   operations:
///     os-patch: {command: ["/usr/local/sbin/patch-host", "--reboot"], timeout_s: 900, drain: true}
/// ```
public struct MaintenanceConfig: Sendable, Equatable {
    public struct Operation: Sendable, Equatable {
        /// argv: the program (a path, or a name looked up in PATH) and its arguments.
        public var command: [String]
        /// Required in the file (no default: how long an OS patch may take is the operator's call);
        /// at the timeout the command's whole process group is killed.
        public var timeoutSeconds: UInt32
        /// Whether the coordinator should move this gateway's sessions away first. Default true.
        public var drain: Bool

        public init(command: [String], timeoutSeconds: UInt32, drain: Bool = true) {
            self.command = command; self.timeoutSeconds = timeoutSeconds; self.drain = drain
        }
    }

    /// Asked before a run: exit 0 means available, anything else busy (its output the reason).
    /// nil: always available.
    public var availability: [String]?
    public var operations: [String: Operation] = [:]

    /// `timeout_s` bounds: one second to one day.
    public static let timeoutSecondsRange: ClosedRange<UInt32> = 1...86_400
    /// An operation name is what MAINTENANCE_RUN and AVAILABILITY_QUERY carry (§5.21, §5.23).
    public static let operationNameBytes = 1...FleetLimits.maxIdentifierBytes
    /// The availability command's timeout; past it the gateway counts as busy.
    public static let availabilityTimeoutSeconds: UInt32 = 30

    public init(availability: [String]? = nil, operations: [String: Operation] = [:]) {
        self.availability = availability; self.operations = operations
    }
}
