import Testing
@testable import FleetCore

/// Seeded random policy sets, identities and topics: `mayPublish`/`mayReceive` against a reference
/// written here from the rules' text, independently of the module (it iterates every rule,
/// substitutes by plain replacement and matches with `TopicMatch.matches`).
struct PolicyPropertyTests {
    /// SplitMix64: deterministic across platforms and runs.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Values an identity may carry: usable ones that also appear as topic levels, and unusable
    /// ones (empty, wildcards, '/').
    static let values: [String?] = [nil, "d1", "d2", "a", "", "a/b", "+", "#", "x#"]
    /// Template levels (the last one may also be '#').
    static let templateLevels = ["a", "b", "d1", "+", "${clientid}", "${username}", "${cn}", "x${cn}", "${username}-${clientid}", "${foo}"]
    /// Topic levels: literals, values substituted, combinations, a '$' level.
    static let topicLevels = ["a", "b", "d1", "d2", "xd1", "xa", "d1-d1", "d2-d1", "$SYS", "z"]
    static let names = ["d1", "d2", "a", "ops"]

    static func randomTemplate(_ rng: inout SeededGenerator) -> String {
        let n = Int.random(in: 1...3, using: &rng)
        return (0..<n).map { i in
            if i == n - 1 && Int.random(in: 0..<4, using: &rng) == 0 { return "#" }
            return templateLevels.randomElement(using: &rng)!
        }.joined(separator: "/")
    }

    static func randomRules(_ rng: inout SeededGenerator) -> [PolicyRule] {
        (0..<Int.random(in: 0...3, using: &rng)).map { _ in
            let effect: PolicyEffect = Int.random(in: 0..<3, using: &rng) == 0 ? .deny : .allow
            let actions = Set(PolicyAction.allCases.filter { _ in Bool.random(using: &rng) })
            let filters = (0..<Int.random(in: 1...2, using: &rng)).map { _ in randomTemplate(&rng) }
            return PolicyRule(effect: effect, actions: actions, filters: filters)
        }
    }

    static func randomSet(_ rng: inout SeededGenerator) -> PolicySet {
        var set = PolicySet(defaultEffect: Bool.random(using: &rng) ? .allow : .deny)
        set.everyone = randomRules(&rng)
        for name in names where Bool.random(using: &rng) { set.identities[name] = randomRules(&rng) }
        for group in ["g1", "g2"] {
            set.groups[group] = randomRules(&rng)
            set.groupMembers[group] = Set(names.filter { _ in Int.random(in: 0..<3, using: &rng) == 0 })
        }
        return set
    }

    static func randomTopic(_ rng: inout SeededGenerator) -> String {
        (0..<Int.random(in: 1...4, using: &rng)).map { _ in topicLevels.randomElement(using: &rng)! }.joined(separator: "/")
    }

    // MARK: Reference

    /// Replaces every occurrence of `pattern` in `bytes`.
    static func replace(_ bytes: [UInt8], _ pattern: [UInt8], with replacement: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < bytes.count {
            if i + pattern.count <= bytes.count && Array(bytes[i..<(i + pattern.count)]) == pattern {
                out += replacement
                i += pattern.count
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// The reference substitution: per level, replace each known variable by its value; a level
    /// that needs a missing or unusable value, or still holds "${", cannot be substituted: the
    /// filter is dropped for an allow and the level becomes '+' for a deny.
    static func referenceFilter(_ template: String, _ effect: PolicyEffect, _ identity: ClientIdentity) -> String? {
        let vars: [(String, String?)] = [("${clientid}", identity.clientId), ("${username}", identity.username), ("${cn}", identity.certificateCN)]
        func usable(_ v: String?) -> [UInt8]? {
            guard let v, !v.isEmpty, !v.contains("/"), !v.contains("+"), !v.contains("#") else { return nil }
            return Array(v.utf8)
        }
        var levels: [[UInt8]] = []
        for level in Array(template.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
            var bytes = Array(level)
            var ok = true
            for (name, value) in vars where bytes.count >= name.utf8.count && replace(bytes, Array(name.utf8), with: []) != bytes {
                if let v = usable(value) { bytes = replace(bytes, Array(name.utf8), with: v) } else { ok = false }
            }
            if replace(bytes, Array("${".utf8), with: []) != bytes { ok = false }
            if !ok {
                if effect == .allow { return nil }
                bytes = Array("+".utf8)
            }
            levels.append(bytes)
        }
        return String(decoding: Array(levels.joined(separator: [UInt8(ascii: "/")])), as: UTF8.self)
    }

    static func referenceAllows(_ set: PolicySet, _ identity: ClientIdentity, _ action: PolicyAction, _ topic: String) -> Bool {
        let names = [identity.username, identity.certificateCN].compactMap { $0 }
        var rules = set.everyone
        for name in names { rules += set.identities[name] ?? [] }
        for (group, groupRules) in set.groups where names.contains(where: { set.groupMembers[group]?.contains($0) == true }) {
            rules += groupRules
        }
        var allowed = false, denied = false
        for rule in rules where rule.actions.contains(action) {
            for template in rule.filters {
                guard let filter = referenceFilter(template, rule.effect, identity),
                      TopicMatch.matches(filter: filter, topic: topic) else { continue }
                if rule.effect == .deny { denied = true } else { allowed = true }
            }
        }
        if denied { return false }
        if allowed { return true }
        return set.defaultEffect == .allow
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func agreesWithReference(seed: UInt64) {
        var rng = SeededGenerator(state: seed)
        var checked = 0, allowedCount = 0
        for _ in 0..<150 {
            let set = Self.randomSet(&rng)
            let identity = ClientIdentity(
                clientId: Self.values.randomElement(using: &rng)! ?? "c",
                username: Self.values.randomElement(using: &rng)!,
                certificateCN: Self.values.randomElement(using: &rng)!)
            let policy = ConnectionPolicy(policies: set, identity: identity)
            var everyAnswerYes = true
            for _ in 0..<40 {
                let topic = Self.randomTopic(&rng)
                let publish = Self.referenceAllows(set, identity, .publish, topic)
                let receive = Self.referenceAllows(set, identity, .receive, topic)
                #expect(policy.mayPublish(topic) == publish, "publish \(topic) for \(identity) under \(set)")
                #expect(policy.mayReceive(topic) == receive, "receive \(topic) for \(identity) under \(set)")
                everyAnswerYes = everyAnswerYes && publish && receive
                checked += 2
                allowedCount += (publish ? 1 : 0) + (receive ? 1 : 0)
            }
            if policy.isUnrestricted { #expect(everyAnswerYes) }
        }
        // The generator exercises both outcomes substantially.
        #expect(allowedCount > checked / 10 && allowedCount < checked * 9 / 10, "\(allowedCount) of \(checked)")
    }
}
