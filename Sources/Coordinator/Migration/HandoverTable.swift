import FleetProtocol

/// The coordinator's part of every connection-migration handover (Protocol/agent-coordinator.md §5.14-§5.18),
/// as a pure type: inputs are frames from gateways, gateway up/down, the clock and requests to
/// start; outputs are actions (frames to send, records to persist) that the fabric carries out.
///
/// The rules it keeps:
/// - **One owner.** `commit` goes to the source only after the target said `imported`; a
///   migration that has not reached `commit` is aborted when a step misses its deadline, when
///   either gateway's link goes down, or when the coordinator restarts (`restored`). After
///   `commit` nothing aborts it: the decision is re-sent to a source that reconnects.
/// - **Fencing.** Each migration carries the session's next ownership epoch, above every epoch
///   this coordinator gave that client before (persisted with the records).
/// - **One at a time per client**, and never to the gateway the client is on.
///
/// Single-threaded (the coordinator's loop); times are the loop's milliseconds.
public struct HandoverTable: Sendable {
    public enum State: String, Sendable, Codable, CaseIterable {
        /// MIGRATE sent; waiting for the source's SESSION_TRANSFER.
        case exporting
        /// SESSION_TRANSFER relayed to the target; waiting for `imported`.
        case importing
        /// `commit` sent: the target owns the session. Waiting for the source's `released`.
        case committed
        /// The source let go; waiting for the target's `done`.
        case released
        case done
        case aborted

        public var isFinal: Bool { self == .done || self == .aborted }
        /// Before the point of no return.
        public var isAbortable: Bool { self == .exporting || self == .importing }
    }

    /// One migration, as persisted and as `GET /v1/migrations` shows it.
    public struct Handover: Sendable, Codable, Equatable {
        public let id: UInt64
        public let clientId: String
        public let from: String
        public let to: String
        public let epoch: UInt64
        /// The target's advertised MQTT address (Server Reference).
        public let serverReference: String
        /// Why it was started: a planner reason, "operator" or "drain".
        public let reason: String
        /// How the client is taken to the target (the policy's `mode` when it started); nil in
        /// records written before relays existed, which meant redirect.
        public var mode: MigrationPolicy.Mode?
        public internal(set) var state: State
        public let startedMs: UInt64
        /// When the current step must be answered by (abortable states only).
        public internal(set) var deadlineMs: UInt64
        /// When the source stopped serving the client (export) until `commit` was sent: the
        /// stall a device sees, before its reconnect.
        public internal(set) var committedMs: UInt64?
        public internal(set) var finishedMs: UInt64?
        /// The last HANDOFF index the source sent (its `released`), for a target that reconnects.
        public internal(set) var handoffCount: UInt64?
        public internal(set) var outcome: String?
    }

    public enum Action: Equatable, Sendable {
        case send(gateway: String, FleetFrame)
        /// Write this record (new or changed) before sending what follows it.
        case persist(Handover)
    }

    public enum StartError: Error, Equatable, Sendable {
        case sameGateway
        case alreadyMoving(UInt64)
    }

    /// How long each step before `commit` may take.
    public var stepTimeoutMs: UInt64
    public private(set) var handovers: [UInt64: Handover] = [:]
    /// Highest epoch given to each client (fencing).
    public private(set) var epochs: [String: UInt64] = [:]
    private var nextId: UInt64 = 1
    /// Client -> its unfinished migration.
    private var active: [String: UInt64] = [:]

    public init(stepTimeoutMs: UInt64 = 10_000) {
        self.stepTimeoutMs = stepTimeoutMs
    }

    /// Rebuilds the table from persisted records after a coordinator restart: what had not reached
    /// `commit` is aborted (the agents hear it when they reconnect, `gatewayUp`).
    public mutating func restored(_ records: [Handover], nowMs: UInt64) -> [Action] {
        var actions: [Action] = []
        for var h in records.sorted(by: { $0.id < $1.id }) {
            nextId = max(nextId, h.id + 1)
            epochs[h.clientId] = max(epochs[h.clientId] ?? 0, h.epoch)
            if h.state.isAbortable {
                h.outcome = "coordinator restarted during \(h.state.rawValue)"
                h.state = .aborted
                h.finishedMs = nowMs
                actions.append(.persist(h))
            }
            handovers[h.id] = h
            if !h.state.isFinal { active[h.clientId] = h.id }
        }
        return actions
    }

    public func migration(of clientId: String) -> Handover? { active[clientId].flatMap { handovers[$0] } }

    public var inProgress: Int { active.count }

    /// Unfinished migrations away from `gateway` started for `reason` (a drain's in-flight count):
    /// a walk over the unfinished ones only, not the finished records.
    public func inProgress(from gateway: String, reason: String) -> Int {
        active.values.reduce(0) { n, id in handovers[id].map { $0.from == gateway && $0.reason == reason ? n + 1 : n } ?? n }
    }

    /// Starts moving `clientId` from `from` to `to`.
    public mutating func start(clientId: String, from: String, to: String, serverReference: String, reason: String,
                               mode: MigrationPolicy.Mode = .auto, nowMs: UInt64) -> Result<[Action], StartError> {
        guard from != to else { return .failure(.sameGateway) }
        if let id = active[clientId] { return .failure(.alreadyMoving(id)) }
        let epoch = (epochs[clientId] ?? 0) + 1
        epochs[clientId] = epoch
        let h = Handover(id: nextId, clientId: clientId, from: from, to: to, epoch: epoch, serverReference: serverReference,
                         reason: reason, mode: mode, state: .exporting, startedMs: nowMs, deadlineMs: nowMs + stepTimeoutMs)
        nextId += 1
        handovers[h.id] = h
        active[clientId] = h.id
        return .success([.persist(h), .send(gateway: from, .migrate(.init(migrationId: h.id, clientId: clientId, epoch: epoch,
                                                                          targetGatewayId: to, serverReference: serverReference,
                                                                          mode: mode.wire)))])
    }

    /// A migration frame from gateway `gateway`. Frames that do not fit (an unknown id, the wrong
    /// gateway or state) change nothing: a late or repeated frame is harmless.
    public mutating func received(_ frame: FleetFrame, from gateway: String, nowMs: UInt64) -> [Action] {
        switch frame {
        case .sessionTransfer(let t):
            guard var h = handovers[t.migrationId], h.state == .exporting, gateway == h.from, t.clientId == h.clientId else { return [] }
            h.state = .importing
            h.deadlineMs = nowMs + stepTimeoutMs
            handovers[h.id] = h
            return [.persist(h), .send(gateway: h.to, frame)]
        case .handoff(let f):
            // Relayed as it came. The source's `released` (control) may overtake its HANDOFFs (bulk).
            guard let h = handovers[f.migrationId], h.state == .committed || h.state == .released, gateway == h.from else { return [] }
            return [.send(gateway: h.to, frame)]
        case .migrationStep(let s):
            return step(s, from: gateway, nowMs: nowMs)
        default:
            return []
        }
    }

    private mutating func step(_ s: FleetFrame.MigrationStep, from gateway: String, nowMs: UInt64) -> [Action] {
        guard var h = handovers[s.migrationId], !h.state.isFinal else { return [] }
        switch s.step {
        case .imported:
            guard h.state == .importing, gateway == h.to else { return [] }
            h.state = .committed
            h.committedMs = nowMs
            handovers[h.id] = h
            return [.persist(h), .send(gateway: h.from, .migrationStep(.init(migrationId: h.id, step: .commit)))]
        case .refused:
            guard h.state.isAbortable, gateway == h.from || gateway == h.to else { return [] }
            return abort(h.id, because: "\(gateway) refused: \(s.reason)", nowMs: nowMs)
        case .released:
            guard h.state == .committed, gateway == h.from else { return [] }
            h.state = .released
            h.handoffCount = s.count
            handovers[h.id] = h
            return [.persist(h), .send(gateway: h.to, .migrationStep(s))]
        case .handoffAck:
            guard h.state == .committed, gateway == h.to else { return [] }
            return [.send(gateway: h.from, .migrationStep(s))]
        case .done:
            guard h.state == .released, gateway == h.to else { return [] }
            h.state = .done
            h.finishedMs = nowMs
            h.outcome = "moved"
            handovers[h.id] = h
            active[h.clientId] = nil
            // The source keeps its HANDOFFs for a re-send until it hears this.
            return [.persist(h), .send(gateway: h.from, .migrationStep(.init(migrationId: h.id, step: .done)))]
        case .commit, .abort:
            return []  // coordinator -> agent only
        }
    }

    /// Aborts an unfinished migration before its commit (the operator's or the clock's call).
    public mutating func abort(_ id: UInt64, because reason: String, nowMs: UInt64) -> [Action] {
        guard var h = handovers[id], h.state.isAbortable else { return [] }
        h.state = .aborted
        h.outcome = reason
        h.finishedMs = nowMs
        handovers[id] = h
        active[h.clientId] = nil
        let frame = FleetFrame.migrationStep(.init(migrationId: id, step: .abort, reason: reason))
        return [.persist(h), .send(gateway: h.from, frame), .send(gateway: h.to, frame)]
    }

    /// Steps past their deadline are aborted.
    public mutating func tick(nowMs: UInt64) -> [Action] {
        let late = handovers.values.filter { $0.state.isAbortable && nowMs >= $0.deadlineMs }.sorted { $0.id < $1.id }
        return late.flatMap { abort($0.id, because: "no answer to \($0.state.rawValue) within \(stepTimeoutMs) ms", nowMs: nowMs) }
    }

    /// A gateway's link went down: its migrations before `commit` are off.
    public mutating func gatewayDown(_ gateway: String, nowMs: UInt64) -> [Action] {
        let hit = handovers.values.filter { $0.state.isAbortable && ($0.from == gateway || $0.to == gateway) }.sorted { $0.id < $1.id }
        return hit.flatMap { abort($0.id, because: "\(gateway) went down during \($0.state.rawValue)", nowMs: nowMs) }
    }

    /// A gateway completed its handshake: it hears again every decision it may have missed
    /// (agents take each idempotently). A source waits for its decision, never decides itself.
    public func gatewayUp(_ gateway: String, recentAbortsWithinMs window: UInt64 = 600_000, nowMs: UInt64) -> [Action] {
        var actions: [Action] = []
        for h in handovers.values.sorted(by: { $0.id < $1.id }) {
            switch h.state {
            case .committed where h.from == gateway:
                actions.append(.send(gateway: gateway, .migrationStep(.init(migrationId: h.id, step: .commit))))
            case .released where h.from == gateway || h.to == gateway:
                // The HANDOFFs may have been lost with a link: the source sends them again when it
                // hears the commit again, then `released`, which is relayed as before.
                actions.append(.send(gateway: h.from, .migrationStep(.init(migrationId: h.id, step: .commit))))
            case .aborted where (h.from == gateway || h.to == gateway) && nowMs <= (h.finishedMs ?? 0) + window:
                actions.append(.send(gateway: gateway, .migrationStep(.init(migrationId: h.id, step: .abort, reason: h.outcome ?? ""))))
            default:
                break
            }
        }
        return actions
    }

    /// Forgets finished records beyond the newest `keep` (the persisted log is pruned likewise).
    public mutating func prune(keep: Int) -> [UInt64] {
        // Cheap while below the bound (the sweep asks ten times a second).
        guard handovers.count - active.count > keep else { return [] }
        let finished = handovers.values.filter { $0.state.isFinal }.map(\.id).sorted()
        guard finished.count > keep else { return [] }
        let dropped = Array(finished.prefix(finished.count - keep))
        for id in dropped { handovers[id] = nil }
        return dropped
    }
}
