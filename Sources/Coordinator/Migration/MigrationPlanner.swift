import FleetCore

/// Decides which clients move to which gateway, and why (issue #12's policy; DESIGN.md §3
/// "Connection migration"). Pure and single-threaded: fed the agents' load reports and the
/// gateways' state with the loop's clock, it returns decisions; the fabric carries them out.
///
/// - A client is **hot** once its rate (messages or bytes in per second, from its gateway's top
///   talkers) has been at or above a threshold in every report for `sustain_s`; a report below
///   `threshold × release_ratio` (or a report that no longer lists it) makes it calm again;
///   between the two its timer neither starts nor resets (hysteresis).
/// - A hot client moves to the least-loaded eligible gateway (load per capacity weight, same
///   region first): active, connected, not its own, capacity weight > 0, and not pushed past
///   `gateway_max_msgs_per_s` by the client. None eligible: no decision (recorded as skipped).
/// - A gateway above `gateway_max_msgs_per_s` moves its top talkers first, until the rest fits.
/// - A moved client is not moved again for `cooldown_s`; at most `max_concurrent` migrations are
///   in progress fleet-wide (the caller says how many are).
public struct MigrationPlanner: Sendable {
    public enum Reason: String, Sendable, Equatable, Codable {
        case messageRate = "message_rate"
        case byteRate = "byte_rate"
        case gatewayOverload = "gateway_overload"
        case noEligibleTarget = "no_eligible_target"
    }

    /// One decision with the inputs it was made from.
    public struct Decision: Sendable, Equatable {
        public var clientId: String
        public var from: String
        /// nil when no gateway was eligible (reason `noEligibleTarget`).
        public var to: String?
        public var reason: Reason
        public var messagesPerSecond: Double
        public var bytesPerSecond: Double
        public var sourceLoad: Double
        public var targetLoad: Double?
        public var atMs: UInt64
    }

    /// A gateway as the planner sees it.
    public struct Gateway: Sendable, Equatable {
        public var id: String
        public var region: String
        /// Active and connected: may take clients.
        public var eligible: Bool
        public var capacityWeight: Double
        public var messagesInPerSecond: Double
        public init(id: String, region: String = "", eligible: Bool = true, capacityWeight: Double = 1, messagesInPerSecond: Double = 0) {
            self.id = id
            self.region = region
            self.eligible = eligible
            self.capacityWeight = capacityWeight
            self.messagesInPerSecond = messagesInPerSecond
        }
    }

    /// A client's rate in one load report.
    public struct Talker: Sendable, Equatable {
        public var clientId: String
        public var messagesPerSecond: Double
        public var bytesPerSecond: Double
        public init(_ clientId: String, messagesPerSecond: Double, bytesPerSecond: Double = 0) {
            self.clientId = clientId
            self.messagesPerSecond = messagesPerSecond
            self.bytesPerSecond = bytesPerSecond
        }
    }

    struct ClientState: Sendable {
        var gateway: String
        var messagesPerSecond: Double = 0
        var bytesPerSecond: Double = 0
        /// Since when it has been above a threshold without a calm report (nil = calm).
        var hotSinceMs: UInt64?
        var hotReason: Reason?
    }

    public var policy: MigrationPolicy
    private var clients: [String: ClientState] = [:]
    /// Client -> when it was last moved (cooldown).
    private var movedAtMs: [String: UInt64] = [:]
    /// Client -> when a "no eligible target" was last reported (at most once a minute each).
    private var skippedAtMs: [String: UInt64] = [:]
    static let skipReportIntervalMs: UInt64 = 60_000

    public init(policy: MigrationPolicy) { self.policy = policy }

    /// A gateway's load report: its top talkers now. Clients of that gateway it no longer lists
    /// are calm.
    public mutating func observe(gateway: String, talkers: [Talker], nowMs: UInt64) {
        let listed = Set(talkers.map(\.clientId))
        for (id, state) in clients where state.gateway == gateway && !listed.contains(id) { clients[id] = nil }
        for t in talkers {
            var s = clients[t.clientId] ?? ClientState(gateway: gateway)
            if s.gateway != gateway { s = ClientState(gateway: gateway) }  // it moved: start over
            s.messagesPerSecond = t.messagesPerSecond
            s.bytesPerSecond = t.bytesPerSecond
            switch heat(t) {
            case .hot(let reason):
                if s.hotSinceMs == nil { s.hotSinceMs = nowMs }
                s.hotReason = reason
            case .calm:
                s.hotSinceMs = nil
                s.hotReason = nil
            case .between:
                break
            }
            clients[t.clientId] = s
        }
    }

    /// The gateway whose load reports last listed the client, if any.
    public func gateway(of clientId: String) -> String? { clients[clientId]?.gateway }

    /// A gateway left: its clients' state is forgotten (they will be reported again where they are).
    public mutating func forget(gateway: String) {
        for (id, s) in clients where s.gateway == gateway { clients[id] = nil }
    }

    /// The client was moved (by this planner's decision or by an operator): its cooldown starts.
    public mutating func moved(_ clientId: String, to gateway: String, nowMs: UInt64) {
        movedAtMs[clientId] = nowMs
        clients[clientId] = ClientState(gateway: gateway)
    }

    /// The decisions due now, at most `maxConcurrent - inProgress` moves (skips are not counted).
    public mutating func decide(gateways: [Gateway], inProgress: Int, nowMs: UInt64) -> [Decision] {
        guard policy.enabled else { return [] }
        prune(nowMs)
        var room = policy.maxConcurrent - inProgress
        guard room > 0 else { return [] }
        var load = Dictionary(uniqueKeysWithValues: gateways.map { ($0.id, $0.messagesInPerSecond) })
        let byId = Dictionary(uniqueKeysWithValues: gateways.map { ($0.id, $0) })
        var out: [Decision] = []
        var chosen: Set<String> = []

        func consider(_ id: String, _ s: ClientState, _ reason: Reason) {
            guard room > 0, !chosen.contains(id), !inCooldown(id, nowMs), let source = byId[s.gateway] else { return }
            chosen.insert(id)
            let target = bestTarget(for: s, from: source, gateways: gateways, load: load)
            var d = Decision(clientId: id, from: s.gateway, to: target?.id, reason: target == nil ? .noEligibleTarget : reason,
                             messagesPerSecond: s.messagesPerSecond, bytesPerSecond: s.bytesPerSecond,
                             sourceLoad: load[s.gateway] ?? 0, targetLoad: target.map { load[$0.id] ?? 0 }, atMs: nowMs)
            guard let target else {
                if skippedAtMs[id].map({ nowMs &- $0 >= Self.skipReportIntervalMs }) ?? true {
                    skippedAtMs[id] = nowMs
                    out.append(d)
                }
                return
            }
            load[s.gateway, default: 0] -= s.messagesPerSecond
            load[target.id, default: 0] += s.messagesPerSecond
            d.to = target.id
            out.append(d)
            room -= 1
            movedAtMs[id] = nowMs
        }

        // Overloaded gateways first: their top talkers until the rest fits.
        if let limit = policy.gatewayMaxMsgsPerSecond {
            for g in gateways.sorted(by: { $0.id < $1.id }) where (load[g.id] ?? 0) > limit {
                let talkers = clients.filter { $0.value.gateway == g.id }
                    .sorted { ($0.value.messagesPerSecond, $1.key) > ($1.value.messagesPerSecond, $0.key) }
                for (id, s) in talkers where (load[g.id] ?? 0) > limit { consider(id, s, .gatewayOverload) }
            }
        }
        // Then every client hot for long enough, longest first.
        let sustainMs = UInt64(policy.sustainSeconds * 1000)
        let hot = clients.filter { $0.value.hotSinceMs.map { nowMs &- $0 >= sustainMs } ?? false }
            .sorted { ($0.value.hotSinceMs!, $0.key) < ($1.value.hotSinceMs!, $1.key) }
        for (id, s) in hot { consider(id, s, s.hotReason ?? .messageRate) }
        return out
    }

    private enum Heat { case hot(Reason), calm, between }

    private func heat(_ t: Talker) -> Heat {
        var hot: Reason?
        var calm = true
        if let m = policy.thresholdMsgsPerSecond {
            if t.messagesPerSecond >= m { hot = .messageRate }
            if t.messagesPerSecond >= m * policy.releaseRatio { calm = false }
        }
        if let b = policy.thresholdBytesPerSecond {
            if hot == nil && t.bytesPerSecond >= b { hot = .byteRate }
            if t.bytesPerSecond >= b * policy.releaseRatio { calm = false }
        }
        if let hot { return .hot(hot) }
        return calm ? .calm : .between
    }

    /// Cooldowns and skip marks that have run out are forgotten (client ids come and go).
    private mutating func prune(_ nowMs: UInt64) {
        let cooldownMs = UInt64(policy.cooldownSeconds * 1000)
        movedAtMs = movedAtMs.filter { nowMs &- $0.value < cooldownMs }
        skippedAtMs = skippedAtMs.filter { nowMs &- $0.value < Self.skipReportIntervalMs }
    }

    private func inCooldown(_ id: String, _ nowMs: UInt64) -> Bool {
        guard let at = movedAtMs[id] else { return false }
        return nowMs &- at < UInt64(policy.cooldownSeconds * 1000)
    }

    /// The least-loaded eligible gateway (load per capacity weight), same region first.
    private func bestTarget(for s: ClientState, from source: Gateway, gateways: [Gateway], load: [String: Double]) -> Gateway? {
        let candidates = gateways.filter { g in
            g.id != source.id && g.eligible && g.capacityWeight > 0
                && (policy.gatewayMaxMsgsPerSecond.map { (load[g.id] ?? 0) + s.messagesPerSecond <= $0 } ?? true)
        }
        func score(_ g: Gateway) -> (Int, Double, String) {
            (g.region == source.region ? 0 : 1, (load[g.id] ?? 0) / g.capacityWeight, g.id)
        }
        return candidates.min { score($0) < score($1) }
    }
}
