// Maintenance frames: AVAILABILITY_QUERY, AVAILABILITY, MAINTENANCE_RUN, MAINTENANCE_RESULT
// (Protocol/agent-coordinator.md §5.21-§5.24). Issue #13: the coordinator asks a gateway whether it may be
// maintained now, tells it to run a named operation under a fencing number, and hears the result.

extension FleetFrame {
    /// AVAILABILITY_QUERY (0x0201), coordinator -> agent: may this gateway run `operation` now?
    public struct AvailabilityQuery: Hashable, Sendable {
        /// Echoed in the answer; >= 1.
        public var queryId: UInt64
        public var operation: String
        public init(queryId: UInt64, operation: String) { self.queryId = queryId; self.operation = operation }
    }

    /// AVAILABILITY (0x0202), agent -> coordinator: the answer, with what the gateway holds now.
    public struct Availability: Hashable, Sendable {
        public enum Answer: UInt8, Sendable, CaseIterable {
            case available = 0
            /// Its availability command said no, or an operation is running: ask again later.
            case busy = 1
            /// The operation is not configured on this gateway.
            case unknownOperation = 2
        }
        public var queryId: UInt64
        public var answer: Answer
        /// Why busy (the availability command's output), or empty.
        public var reason: String
        public var connections: UInt32
        public var sessions: UInt32
        public var messagesInPerSecond: UInt32
        /// The operation wants the gateway's clients moved away first (its `drain:` config).
        public var drainFirst: Bool

        public init(queryId: UInt64, answer: Answer, reason: String = "", connections: UInt32 = 0, sessions: UInt32 = 0,
                    messagesInPerSecond: UInt32 = 0, drainFirst: Bool = true) {
            self.queryId = queryId; self.answer = answer; self.reason = reason
            self.connections = connections; self.sessions = sessions; self.messagesInPerSecond = messagesInPerSecond
            self.drainFirst = drainFirst
        }
    }

    /// MAINTENANCE_RUN (0x0203), coordinator -> agent: run `operation` for run `runId` under
    /// `fencing`. An agent runs a (run, fencing) pair at most once, also across its restarts, and
    /// answers a repeat with MAINTENANCE_RESULT for what it has.
    public struct MaintenanceRun: Hashable, Sendable {
        public var runId: String
        public var operation: String
        /// >= 1; raised by the coordinator at every start of a host.
        public var fencing: UInt64
        public init(runId: String, operation: String, fencing: UInt64) {
            self.runId = runId; self.operation = operation; self.fencing = fencing
        }
    }

    /// MAINTENANCE_RESULT (0x0204), agent -> coordinator: where a MAINTENANCE_RUN stands.
    public struct MaintenanceResult: Hashable, Sendable {
        public enum State: UInt8, Sendable, CaseIterable {
            /// Started (or still running, to a repeat).
            case running = 1
            /// Ended: `exitStatus` and `outputTail` say how.
            case finished = 2
            /// Not run: `reason` says why (unknown operation, another one running).
            case refused = 3
        }
        public var runId: String
        public var fencing: UInt64
        public var state: State
        /// The command's exit status; a process ended by a signal or its timeout reports -1.
        public var exitStatus: Int32
        /// The output's last lines (at most `FleetLimits.maxOutputTailBytes`).
        public var outputTail: String
        public var reason: String

        public init(runId: String, fencing: UInt64, state: State, exitStatus: Int32 = 0, outputTail: String = "", reason: String = "") {
            self.runId = runId; self.fencing = fencing; self.state = state; self.exitStatus = exitStatus
            self.outputTail = outputTail; self.reason = reason
        }
    }
}

extension FleetFrame.AvailabilityQuery {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.u64("query id")
        guard id > 0 else { throw .malformed("AVAILABILITY_QUERY: query id 0") }
        let operation = try r.string("operation", 1...FleetLimits.maxIdentifierBytes)
        try r.expectEnd()
        return Self(queryId: id, operation: operation)
    }

    public var limitProblem: String? {
        if queryId == 0 { return "query id 0" }
        let n = operation.utf8.count
        return n < 1 || n > FleetLimits.maxIdentifierBytes ? "operation of \(n) bytes" : nil
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(queryId)
        w.writeString(operation, limit: FleetLimits.maxIdentifierBytes)
    }
}

extension FleetFrame.Availability {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let id = try r.u64("query id")
        guard id > 0 else { throw .malformed("AVAILABILITY: query id 0") }
        guard let answer = Answer(rawValue: try r.u8("answer")) else { throw .malformed("AVAILABILITY: unknown answer") }
        let reason = try r.string("reason", 0...FleetLimits.maxErrorMessageBytes)
        let connections = try r.u32("connections")
        let sessions = try r.u32("sessions")
        let rate = try r.u32("messages in per second")
        let flags = try r.u8("flags")
        guard flags & ~1 == 0 else { throw .malformed("AVAILABILITY: reserved flags 0x\(String(flags, radix: 16))") }
        try r.expectEnd()
        return Self(queryId: id, answer: answer, reason: reason, connections: connections, sessions: sessions, messagesInPerSecond: rate,
                    drainFirst: flags & 1 != 0)
    }

    func encode(into w: inout ByteWriter) {
        w.writeU64(queryId)
        w.writeU8(answer.rawValue)
        w.writeString(reason, limit: FleetLimits.maxErrorMessageBytes)
        w.writeU32(connections)
        w.writeU32(sessions)
        w.writeU32(messagesInPerSecond)
        w.writeU8(drainFirst ? 1 : 0)
    }
}

extension FleetFrame.MaintenanceRun {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let run = try r.string("run id", 1...FleetLimits.maxIdentifierBytes)
        let operation = try r.string("operation", 1...FleetLimits.maxIdentifierBytes)
        let fencing = try r.u64("fencing")
        guard fencing > 0 else { throw .malformed("MAINTENANCE_RUN: fencing 0") }
        try r.expectEnd()
        return Self(runId: run, operation: operation, fencing: fencing)
    }

    func encode(into w: inout ByteWriter) {
        w.writeString(runId, limit: FleetLimits.maxIdentifierBytes)
        w.writeString(operation, limit: FleetLimits.maxIdentifierBytes)
        w.writeU64(fencing)
    }
}

extension FleetFrame.MaintenanceResult {
    static func decode(_ r: inout FleetBodyReader) throws(FleetFrameError) -> Self {
        let run = try r.string("run id", 1...FleetLimits.maxIdentifierBytes)
        let fencing = try r.u64("fencing")
        guard fencing > 0 else { throw .malformed("MAINTENANCE_RESULT: fencing 0") }
        guard let state = State(rawValue: try r.u8("state")) else { throw .malformed("MAINTENANCE_RESULT: unknown state") }
        let exit = Int32(bitPattern: try r.u32("exit status"))
        let tail = try r.string("output tail", 0...FleetLimits.maxOutputTailBytes)
        let reason = try r.string("reason", 0...FleetLimits.maxErrorMessageBytes)
        try r.expectEnd()
        return Self(runId: run, fencing: fencing, state: state, exitStatus: exit, outputTail: tail, reason: reason)
    }

    func encode(into w: inout ByteWriter) {
        w.writeString(runId, limit: FleetLimits.maxIdentifierBytes)
        w.writeU64(fencing)
        w.writeU8(state.rawValue)
        w.writeU32(UInt32(bitPattern: exitStatus))
        w.writeString(outputTail, limit: FleetLimits.maxOutputTailBytes)
        w.writeString(reason, limit: FleetLimits.maxErrorMessageBytes)
    }
}
