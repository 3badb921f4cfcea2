import FleetCore
import FleetProtocol
import FleetRuntime

/// Carrying out migrations (issue #12): the pure `HandoverTable` decides, this persists its
/// records before anything they announce leaves (`perform`), sends its frames on the gateways'
/// links, and feeds it frames, gateway ups and downs, the clock and start requests. Loop-thread only.
extension Fabric {
    /// Reads the persisted migrations after a restart: what had not committed is aborted now, and
    /// each gateway hears the outcome after its HELLO (`handoverGatewayUp`).
    func restoreHandovers() throws {
        perform(handovers.restored(try store.loadMigrations(), nowMs: loop.now))
    }

    /// A SESSION_TRANSFER, MIGRATION_STEP or HANDOFF from an established gateway.
    func handoverFrame(_ frame: FleetFrame, from gateway: String) {
        perform(handovers.received(frame, from: gateway, nowMs: loop.now))
    }

    /// Starts moving a client. The source is where its gateway's load reports last listed it,
    /// unless the caller knows better; the target is the caller's, or the planner's choice.
    enum StartOutcome<Started: Sendable>: Sendable {
        case started(Started)
        case unknownClientLocation
        case unknownGateway(String)
        case targetNotEligible(String)
        case refused(String)

        func map<T>(_ transform: (Started) -> T) -> StartOutcome<T> {
            switch self {
            case .started(let s): .started(transform(s))
            case .unknownClientLocation: .unknownClientLocation
            case .unknownGateway(let id): .unknownGateway(id)
            case .targetNotEligible(let why): .targetNotEligible(why)
            case .refused(let why): .refused(why)
            }
        }
    }

    func startMigration(clientId: String, from: String?, to: String?, reason: String) -> StartOutcome<HandoverTable.Handover> {
        guard let source = from ?? migrationPlanner.gateway(of: clientId) else { return .unknownClientLocation }
        guard gateways[source] != nil else { return .unknownGateway(source) }
        guard let target = to ?? leastLoadedTarget(excluding: source) else { return .targetNotEligible("no eligible gateway") }
        guard let record = gateways[target] else { return .unknownGateway(target) }
        guard record.state == .active, gatewayConnections[target] != nil else {
            return .targetNotEligible("\(target) is \(record.state.rawValue)\(gatewayConnections[target] == nil ? " and not connected" : "")")
        }
        guard record.capacityWeight > 0 else { return .targetNotEligible("\(target) has capacity weight 0") }
        guard !AdvertisedAddress.isWildcard(record.mqttAddress) else {
            return .targetNotEligible("\(target) advertises '\(record.mqttAddress)', which a redirected device cannot connect to (start it with --advertise HOST:PORT)")
        }
        guard gatewayConnections[source] != nil else { return .refused("\(source) is not connected") }
        switch handovers.start(clientId: clientId, from: source, to: target, serverReference: record.mqttAddress, reason: reason,
                               mode: migrationPlanner.policy.mode, nowMs: loop.now) {
        case .failure(.sameGateway): return .refused("\(clientId) is already on \(target)")
        case .failure(.alreadyMoving(let id)): return .refused("\(clientId) is already moving (migration \(id))")
        case .success(let actions):
            perform(actions)
            guard let h = handovers.migration(of: clientId) else { return .refused("aborted at once") }
            counters.migrationsStarted[reason, default: 0] += 1
            log.notice("migration \(h.id): client \(clientId) \(source) -> \(target) (\(reason)), epoch \(h.epoch)")
            return .started(h)
        }
    }

    /// The active, connected gateway with the least load per capacity weight, other than `source`.
    private func leastLoadedTarget(excluding source: String) -> String? {
        gateways.values
            .filter { $0.id != source && $0.state == .active && $0.capacityWeight > 0 && gatewayConnections[$0.id] != nil
                && !AdvertisedAddress.isWildcard($0.mqttAddress) }
            .min { a, b in
                let la = Double(a.load?.messagesInPerSecond ?? 0) / Double(a.capacityWeight)
                let lb = Double(b.load?.messagesInPerSecond ?? 0) / Double(b.capacityWeight)
                return la != lb ? la < lb : a.id < b.id
            }?.id
    }

    /// From the sweep: steps past their deadline are aborted, old finished records pruned.
    func tickHandovers() {
        perform(handovers.tick(nowMs: loop.now))
        let dropped = handovers.prune(keep: CoordinatorLimits.handoverRecordsKept)
        if !dropped.isEmpty {
            do { try store.deleteMigrations(dropped) } catch { log.error("cannot prune migration records: \(error)") }
        }
    }

    func handoverGatewayDown(_ gateway: String) { perform(handovers.gatewayDown(gateway, nowMs: loop.now)) }

    func handoverGatewayUp(_ gateway: String) { perform(handovers.gatewayUp(gateway, nowMs: loop.now)) }

    /// Persist first, then send: a decision is never announced that a restart could forget.
    /// A frame for a gateway that is not connected is dropped; the table's rules cover it (an
    /// abort before commit, a re-sent decision after the gateway's HELLO).
    func perform(_ actions: [HandoverTable.Action]) {
        var drainSlotFreed = false
        for action in actions {
            switch action {
            case .persist(let h):
                do { try store.saveMigration(h) } catch {
                    log.error("cannot store migration \(h.id) (\(h.state.rawValue)): \(error)")
                }
                if h.state.isFinal {
                    finished(h)
                    drainSlotFreed = drainSlotFreed || h.reason == "drain"
                }
            case .send(let gateway, let frame):
                gatewayConnections[gateway]?.send(frame)
            }
        }
        // A drain refills its in-flight slots as they free, not only on the sweep: once per
        // sweep (100 ms) the drain started its whole allowance at once, and those handovers
        // queued behind each other at the source (the stall), then the pipe sat empty.
        if drainSlotFreed && !drains.isEmpty { tickDrains() }
    }

    private func finished(_ h: HandoverTable.Handover) {
        let outcome = h.state == .done ? "moved" : "aborted"
        counters.migrationsFinished["\(h.reason)/\(outcome)", default: 0] += 1
        if h.state == .done, let committed = h.committedMs {
            counters.recordHandoverStall(ms: committed &- h.startedMs)
            migrationPlanner.moved(h.clientId, to: h.to, nowMs: loop.now)
        }
        log.notice("migration \(h.id): client \(h.clientId) \(h.from) -> \(h.to) \(outcome)\(h.state == .aborted ? ": \(h.outcome ?? "")" : "")")
    }
}
