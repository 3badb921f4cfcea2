import Testing
@testable import FleetCoordinator

/// The migration policy (issue #12) with a mock clock: each row is a sequence of load reports and
/// decide() calls at given times, and the moves expected from each.
@Suite struct MigrationPlannerTests {
    typealias T = MigrationPlanner.Talker
    typealias G = MigrationPlanner.Gateway

    enum Step {
        /// A load report from `gateway` at `t` seconds.
        case report(Double, String, [T])
        /// decide() at `t` seconds: expected (client, from, to?) in order; `busy` migrations in progress.
        case decide(Double, busy: Int = 0, [(String, String, String?)])
        case gateways([G])
    }

    struct Row: CustomTestStringConvertible {
        let name: String
        var policy: MigrationPolicy
        let steps: [Step]
        var testDescription: String { name }
    }

    static func policy(_ edit: (inout MigrationPolicy) -> Void = { _ in }) -> MigrationPolicy {
        var p = MigrationPolicy()
        p.enabled = true
        p.thresholdMsgsPerSecond = 500
        p.sustainSeconds = 3
        p.releaseRatio = 0.8
        p.cooldownSeconds = 60
        edit(&p)
        return p
    }

    static let twoGateways: [G] = [G(id: "gw-a"), G(id: "gw-b")]

    static let rows: [Row] = [
        Row(name: "sustained above the threshold: moved once sustain_s has passed", policy: policy(), steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("hot", messagesPerSecond: 2000)]),
            .decide(2, []),
            .report(2, "gw-a", [T("hot", messagesPerSecond: 2000)]),
            .decide(3, [("hot", "gw-a", "gw-b")]),
            .decide(4, []),  // decided already (cooldown)
        ]),
        Row(name: "a dip below release resets the timer", policy: policy(), steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("c", messagesPerSecond: 600)]),
            .report(2, "gw-a", [T("c", messagesPerSecond: 300)]),   // < 400: calm
            .report(3, "gw-a", [T("c", messagesPerSecond: 600)]),
            .decide(5, []),                                          // hot since 3 only
            .decide(6, [("c", "gw-a", "gw-b")]),
        ]),
        Row(name: "oscillating between release and threshold neither starts nor resets (hysteresis)", policy: policy(), steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("c", messagesPerSecond: 450)]),   // between: never hot
            .report(1, "gw-a", [T("c", messagesPerSecond: 520)]),   // hot since 1
            .report(2, "gw-a", [T("c", messagesPerSecond: 450)]),   // between: keeps the timer
            .report(3, "gw-a", [T("c", messagesPerSecond: 520)]),
            .decide(3.5, []),
            .decide(4, [("c", "gw-a", "gw-b")]),
        ]),
        Row(name: "no ping-pong: hot again on the new gateway, but cooling down", policy: policy(), steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("c", messagesPerSecond: 900)]),
            .decide(3, [("c", "gw-a", "gw-b")]),
            .report(4, "gw-b", [T("c", messagesPerSecond: 900)]),
            .decide(10, []),
            .decide(62, []),   // cooldown over at 63
            .decide(64, [("c", "gw-b", "gw-a")]),
        ]),
        Row(name: "not listed in a report: calm", policy: policy(), steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("c", messagesPerSecond: 900)]),
            .report(2, "gw-a", []),
            .report(2.5, "gw-a", [T("c", messagesPerSecond: 900)]),
            .decide(4, []),
            .decide(5.5, [("c", "gw-a", "gw-b")]),
        ]),
        Row(name: "byte threshold", policy: policy { $0.thresholdMsgsPerSecond = nil; $0.thresholdBytesPerSecond = 1_000_000 }, steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("big", messagesPerSecond: 10, bytesPerSecond: 2_000_000), T("small", messagesPerSecond: 900, bytesPerSecond: 9_000)]),
            .decide(3, [("big", "gw-a", "gw-b")]),
        ]),
        Row(name: "least loaded per capacity weight, same region first, never draining or down", policy: policy(), steps: [
            .gateways([G(id: "gw-a", region: "eu"), G(id: "gw-b", region: "eu", capacityWeight: 1, messagesInPerSecond: 900),
                       G(id: "gw-c", region: "eu", capacityWeight: 4, messagesInPerSecond: 1200),
                       G(id: "gw-d", region: "us", messagesInPerSecond: 0), G(id: "gw-e", region: "eu", eligible: false)]),
            .report(0, "gw-a", [T("c", messagesPerSecond: 900)]),
            .decide(3, [("c", "gw-a", "gw-c")]),   // 1200/4 = 300 < 900/1; gw-d is another region
        ]),
        Row(name: "another region only when none in the same one is eligible", policy: policy(), steps: [
            .gateways([G(id: "gw-a", region: "eu"), G(id: "gw-d", region: "us"), G(id: "gw-e", region: "eu", eligible: false)]),
            .report(0, "gw-a", [T("c", messagesPerSecond: 900)]),
            .decide(3, [("c", "gw-a", "gw-d")]),
        ]),
        Row(name: "no target that the client would push over gateway_max; reported as skipped once", policy: policy { $0.gatewayMaxMsgsPerSecond = 1000 }, steps: [
            .gateways([G(id: "gw-a", messagesInPerSecond: 900), G(id: "gw-b", messagesInPerSecond: 600)]),
            .report(0, "gw-a", [T("c", messagesPerSecond: 900)]),
            .decide(3, [("c", "gw-a", nil)]),
            .decide(4, []),
        ]),
        Row(name: "an overloaded gateway moves its top talkers first, until the rest fits", policy: policy { $0.thresholdMsgsPerSecond = nil; $0.gatewayMaxMsgsPerSecond = 1000 }, steps: [
            .gateways([G(id: "gw-a", messagesInPerSecond: 1500), G(id: "gw-b"), G(id: "gw-c")]),
            .report(0, "gw-a", [T("x", messagesPerSecond: 300), T("y", messagesPerSecond: 400), T("z", messagesPerSecond: 200)]),
            .decide(0, [("y", "gw-a", "gw-b"), ("x", "gw-a", "gw-c")]),   // 1500 -> 1100 -> 800
        ]),
        Row(name: "max_concurrent counts what is in progress", policy: policy { $0.maxConcurrent = 2 }, steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("p", messagesPerSecond: 900), T("q", messagesPerSecond: 800), T("r", messagesPerSecond: 700)]),
            .decide(3, busy: 1, [("p", "gw-a", "gw-b")]),
            .decide(3.1, busy: 2, []),
            .decide(4, busy: 0, [("q", "gw-a", "gw-b"), ("r", "gw-a", "gw-b")]),
        ]),
        Row(name: "disabled: nothing", policy: policy { $0.enabled = false }, steps: [
            .gateways(twoGateways),
            .report(0, "gw-a", [T("c", messagesPerSecond: 9000)]),
            .decide(10, []),
        ]),
    ]

    @Test(arguments: rows)
    func policyRow(_ row: Row) {
        var planner = MigrationPlanner(policy: row.policy)
        var gateways: [G] = []
        for (i, step) in row.steps.enumerated() {
            switch step {
            case .gateways(let g): gateways = g
            case .report(let t, let gateway, let talkers):
                planner.observe(gateway: gateway, talkers: talkers, nowMs: UInt64(t * 1000))
            case .decide(let t, let busy, let expected):
                let got = planner.decide(gateways: gateways, inProgress: busy, nowMs: UInt64(t * 1000))
                let summary = got.map { "\($0.clientId) \($0.from)->\($0.to ?? "none")" }
                #expect(summary == expected.map { "\($0.0) \($0.1)->\($0.2 ?? "none")" }, "step \(i)")
            }
        }
    }

    @Test func decisionsCarryTheirInputs() {
        var planner = MigrationPlanner(policy: Self.policy())
        planner.observe(gateway: "gw-a", talkers: [T("c", messagesPerSecond: 2000, bytesPerSecond: 64_000)], nowMs: 0)
        let d = planner.decide(gateways: [G(id: "gw-a", messagesInPerSecond: 2500), G(id: "gw-b", messagesInPerSecond: 100)], inProgress: 0, nowMs: 3000)
        #expect(d == [MigrationPlanner.Decision(clientId: "c", from: "gw-a", to: "gw-b", reason: .messageRate, messagesPerSecond: 2000,
                                                 bytesPerSecond: 64_000, sourceLoad: 2500, targetLoad: 100, atMs: 3000)])
    }

    @Test func policyProblemsNameTheField() {
        var p = MigrationPolicy()
        p.enabled = true
        #expect(p.problems().map(\.field) == ["enabled"])
        p.thresholdMsgsPerSecond = -1
        p.releaseRatio = 1.5
        p.maxConcurrent = 0
        #expect(Set(p.problems().map(\.field)) == ["threshold_msgs_per_s", "release_ratio", "max_concurrent"])
    }
}
