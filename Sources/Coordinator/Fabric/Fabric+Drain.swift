import FleetCore
import FleetProtocol

/// Draining a gateway (issue #12, and the drain step of maintenance, #13): every client it holds
/// moves away by the handover, at a rate, while the gateway takes no migrated clients. The gateway
/// lists its sessions (DRAIN -> SESSION_LIST); `DrainScheduler` paces the handovers; when a list
/// has been worked through the gateway is asked again, until it lists none. Which gateways drain,
/// and at what rate, is stored, so a drain outlives a coordinator restart. Loop-thread only.
extension Fabric {
    enum DrainOutcome: Sendable {
        case draining(DrainView)
        case notFound
        case notConnected
    }

    /// `POST /v1/gateways/{id}/drain`: starts (or re-paces) a drain.
    func startDrain(_ id: String, rate: Double) -> DrainOutcome {
        guard var g = gateways[id] else { return .notFound }
        guard let c = gatewayConnections[id] else { return .notConnected }
        if var d = drains[id] {
            d.setRate(rate)
            drains[id] = d
        } else {
            drains[id] = DrainScheduler(gateway: id, rate: rate, maxInFlight: Self.drainMaxInFlight(rate), nowMs: loop.now)
            c.send(.drain(.init(rate: UInt32(min(rate, Double(UInt32.max))))))
        }
        g.state = .draining
        gateways[id] = g
        persist(g)
        persistDrains()
        log.notice("gateway \(id): draining at \(Int(rate)) clients/s")
        return .draining(drainView(id)!)
    }

    /// `POST /v1/gateways/{id}/resume`: ends a drain; the gateway takes clients again.
    func resumeGateway(_ id: String) -> Bool {
        guard var g = gateways[id] else { return false }
        if drains.removeValue(forKey: id) != nil {
            gatewayConnections[id]?.send(.drain(.init(rate: 0)))
            persistDrains()
        }
        if g.state == .draining {
            g.state = gatewayConnections[id] == nil ? .down : .active
            gateways[id] = g
            persist(g)
            log.notice("gateway \(id): drain ended, \(g.state.rawValue)")
        }
        return true
    }

    /// Drains outlive a coordinator restart: the gateway and rate of each, in `settings`.
    private func persistDrains() {
        do { try store.saveSetting("drains", json: drains.mapValues(\.rate)) } catch {
            log.error("drains could not be stored (a restart would end them): \(error)")
        }
    }

    /// At start: the stored drains go on; each gateway is asked for its list when it says HELLO
    /// (`drainGatewayUp`), and comes back draining, not active.
    func restoreDrains() throws {
        let stored: [String: Double]? = try store.loadSetting("drains")
        for (id, rate) in stored ?? [:] where gateways[id] != nil {
            drains[id] = DrainScheduler(gateway: id, rate: rate, maxInFlight: Self.drainMaxInFlight(rate), nowMs: loop.now)
        }
        if let stored, !stored.isEmpty { log.info("drains resume: \(stored.keys.sorted().joined(separator: ", "))") }
    }

    /// A part of the gateway's session list.
    func drainListed(_ list: FleetFrame.SessionList, by id: String) {
        guard var d = drains[id] else { return }
        d.add(clients: list.clientIds, last: list.last)
        drains[id] = d
    }

    /// From the sweep: start what is due; ask again once a list is worked through.
    func tickDrains() {
        for id in drains.keys.sorted() {
            guard var d = drains[id] else { continue }
            guard gatewayConnections[id] != nil else { continue }  // back later: it lists again
            let inFlight = handovers.inProgress(from: id, reason: "drain")
            for client in d.due(nowMs: loop.now, inFlight: inFlight) {
                switch startMigration(clientId: client, from: id, to: nil, reason: "drain") {
                case .started: break
                case let other:
                    d.failed += 1
                    log.notice("drain of \(id): \(client) not moved: \(other)")
                }
            }
            if d.listComplete && d.waiting == 0 && inFlight == 0 && d.sinceListMs(loop.now) >= CoordinatorLimits.drainRelistIntervalMs {
                d.relist(nowMs: loop.now)
                gatewayConnections[id]?.send(.drain(.init(rate: UInt32(min(d.rate, Double(UInt32.max))))))
            }
            drains[id] = d
        }
    }

    /// A drained gateway that reconnects is asked for its list again.
    func drainGatewayUp(_ id: String) {
        guard var d = drains[id], let c = gatewayConnections[id] else { return }
        d.relist(nowMs: loop.now)
        drains[id] = d
        c.send(.drain(.init(rate: UInt32(min(d.rate, Double(UInt32.max))))))
    }

    /// A drain's handovers at once: 20 ms of the asked rate, at least 16. A client's stall is its
    /// own round trips plus its wait behind the handovers in flight before it, so the cap bounds
    /// the stall; refilling each slot as it frees (`perform`) keeps the pipe full, which makes the
    /// rate. A tenth of a second's worth (500 at 5,000/s asked), started in bursts per sweep, gave
    /// a p99 stall of 56-69 ms at 3,000 sessions/s (BENCHMARKS.md drain row).
    static func drainMaxInFlight(_ rate: Double) -> Int { max(16, Int(rate / 50)) }

    func drainView(_ id: String) -> DrainView? {
        guard let d = drains[id] else { return nil }
        let moved = handovers.handovers.values.filter { $0.from == id && $0.reason == "drain" && $0.state == .done }.count
        return DrainView(gateway: id, rate: d.rate, listed_complete: d.listComplete, waiting: d.waiting, started: d.started,
                         moved: moved, not_started: d.failed)
    }
}

/// `POST /v1/gateways/{id}/drain` and the `drain` part of `GET /v1/gateways/{id}`.
public struct DrainView: Codable, Sendable, Equatable {
    public var gateway: String
    public var rate: Double
    /// The gateway's latest session list has come in whole.
    public var listed_complete: Bool
    /// Listed clients not started yet.
    public var waiting: Int
    public var started: Int
    /// Handovers of this drain that completed (the recent ones kept in the record).
    public var moved: Int
    /// Clients whose handover could not start (no eligible gateway, already moving, ...).
    public var not_started: Int
}
