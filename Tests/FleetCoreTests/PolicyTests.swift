import Testing
@testable import FleetCore

/// Table-driven checks of `ConnectionPolicy`: allow/deny/default, deny wins, identities, groups,
/// everyone, each substitution variable, missing and unusable values, subscribe containment.
struct PolicyTests {
    static func rule(_ effect: PolicyEffect, _ actions: Set<PolicyAction>, _ filters: String...) -> PolicyRule {
        PolicyRule(effect: effect, actions: actions, filters: filters)
    }

    static let all = Set(PolicyAction.allCases)

    /// A fleet with default deny.
    static let fleet = PolicySet(
        everyone: [
            rule(.allow, [.publish, .receive], "public/#"),
            rule(.deny, [.publish], "public/readonly/#"),
            rule(.allow, all, "devices/${clientid}/#"),
            rule(.allow, [.publish], "home/${username}/#", "mixed/${username}-${clientid}"),
        ],
        identities: [
            "alice": [rule(.allow, all, "users/${username}/#", "shared/alice")],
            "sensor-7.example": [rule(.allow, [.publish], "telemetry/${cn}/+")],
            "mallory": [rule(.deny, all, "#")],
        ],
        groups: [
            "ops": [rule(.allow, all, "ops/#", "$SYS/#")],
            "sensors": [
                rule(.allow, [.publish], "sensors/${cn}/data", "sensors/all/announce"),
                rule(.deny, [.publish], "sensors/${cn}/config"),
            ],
        ],
        groupMembers: ["ops": ["alice"], "sensors": ["sensor-7.example", "sensor-8.example"]],
        defaultEffect: .deny
    )

    /// A development profile: default allow, a few denials, some of them per identity.
    static let dev = PolicySet(
        everyone: [
            rule(.deny, all, "private/${username}/#"),
            rule(.deny, [.publish], "dev-${cn}/ctl"),
            rule(.deny, [.receive], "${cn}/inbox"),
            rule(.allow, [.publish], "private/${username}/#"),  // allow under default allow: no effect
        ],
        defaultEffect: .allow
    )

    enum Check: Sendable {
        case publish(String, Bool)
        case receive(String, Bool)
        case subscribe(String, Bool)
    }

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let policies: PolicySet
        let identity: ClientIdentity
        let checks: [Check]
        var testDescription: String { name }
    }

    static let alice = ClientIdentity(clientId: "c1", username: "alice")
    static let sensor7 = ClientIdentity(clientId: "s7", certificateCN: "sensor-7.example")

    static let cases: [Case] = [
        Case(name: "identity rules, everyone, group, default deny", policies: fleet, identity: alice, checks: [
            .publish("users/alice/x", true),
            .publish("users/alice", true),
            .publish("users/bob/x", false),
            .publish("shared/alice", true),
            .publish("public/a", true),
            .publish("devices/c1/t", true),
            .publish("devices/c2/t", false),
            .publish("ops/a/b", true),
            .publish("$SYS/broker/load", true),
            .publish("other", false),
            .publish("telemetry/alice/t", false),
            .receive("users/alice/x", true),
            .receive("public/a", true),
            .receive("other", false),
        ]),
        Case(name: "deny wins over allow, per action", policies: fleet, identity: alice, checks: [
            .publish("public/readonly/a", false),
            .publish("public/readonly", false),
            .receive("public/readonly/a", true),
            .publish("public/readonlyx", true),
        ]),
        Case(name: "certificate CN names the identity and the group", policies: fleet, identity: sensor7, checks: [
            .publish("telemetry/sensor-7.example/temp", true),
            .publish("telemetry/sensor-7.example/a/b", false),
            .publish("telemetry/sensor-8.example/temp", false),
            .publish("sensors/sensor-7.example/data", true),
            .publish("sensors/sensor-7.example/config", false),
            .publish("sensors/all/announce", true),
            .receive("sensors/sensor-7.example/data", false),
            .publish("ops/a", false),
            .publish("users/alice/x", false),
        ]),
        Case(name: "group membership through the username; missing ${cn} drops the allow",
             policies: fleet, identity: ClientIdentity(clientId: "s8", username: "sensor-8.example"), checks: [
            .publish("sensors/all/announce", true),
            .publish("sensors/sensor-8.example/data", false),
            .publish("sensors//data", false),
            .publish("sensors/${cn}/data", false),
        ]),
        Case(name: "username and CN both name the connection",
             policies: fleet, identity: ClientIdentity(clientId: "b", username: "alice", certificateCN: "sensor-7.example"), checks: [
            .publish("users/alice/x", true),
            .publish("telemetry/sensor-7.example/t", true),
            .publish("ops/x", true),
            .publish("sensors/sensor-7.example/data", true),
            .publish("sensors/sensor-7.example/config", false),
        ]),
        Case(name: "a deny of '#' beats everyone's allows", policies: fleet,
             identity: ClientIdentity(clientId: "m", username: "mallory"), checks: [
            .publish("public/a", false),
            .publish("devices/m/x", false),
            .receive("public/a", false),
            .subscribe("devices/m/#", false),
        ]),
        Case(name: "anonymous: everyone's rules only", policies: fleet, identity: ClientIdentity(clientId: "anon"), checks: [
            .publish("public/a", true),
            .publish("devices/anon/x", true),
            .publish("home/anon/x", false),
            .publish("ops/a", false),
            .subscribe("devices/anon/+", true),
            .subscribe("devices/#", false),
        ]),
        Case(name: "${clientid} ${username} in one level", policies: fleet,
             identity: ClientIdentity(clientId: "c9", username: "bob"), checks: [
            .publish("mixed/bob-c9", true),
            .publish("mixed/bob-c1", false),
            .publish("home/bob/x/y", true),
            .publish("home/alice/x", false),
        ]),
        Case(name: "wildcards or '/' in a substituted value drop the allow", policies: fleet,
             identity: ClientIdentity(clientId: "a/#", username: "x/y"), checks: [
            .publish("devices/a/x", false),
            .publish("devices/a", false),
            .publish("home/x/y/z", false),
            .publish("home/x/y", false),
            .publish("public/ok", true),
        ]),
        Case(name: "'+' as client id drops the allow", policies: fleet, identity: ClientIdentity(clientId: "+"), checks: [
            .publish("devices/x/y", false),
            .subscribe("devices/+/#", false),
        ]),
        Case(name: "empty client id drops the allow", policies: fleet, identity: ClientIdentity(clientId: ""), checks: [
            .publish("devices//x", false),
            .publish("devices/x", false),
        ]),
        Case(name: "default allow with a substituted deny", policies: dev, identity: ClientIdentity(clientId: "c", username: "bob", certificateCN: "7"), checks: [
            .publish("private/bob/x", false),
            .publish("private/bob", false),
            .receive("private/bob/x", false),
            .subscribe("private/bob/#", false),
            .publish("private/carol/x", true),
            .publish("dev-7/ctl", false),
            .publish("dev-8/ctl", true),
            .receive("7/inbox", false),
            .receive("8/inbox", true),
            .publish("anything/else", true),
            .subscribe("#", true),
        ]),
        Case(name: "missing variable in a deny: its level denies as '+'", policies: dev, identity: ClientIdentity(clientId: "c"), checks: [
            .publish("private/carol/x", false),
            .publish("private/x", false),
            .subscribe("private/+/#", false),
            .subscribe("private/carol", false),
            .publish("dev-8/ctl", false),
            .publish("anything/ctl", false),
            .publish("anything/ctl/more", true),
            .receive("a/inbox", false),
            .receive("$SYS/inbox", true),  // documented caveat: '+' as a first level skips '$' topics
            .publish("public/x", true),
        ]),
        Case(name: "unusable value in a deny: its level denies as '+'", policies: dev,
             identity: ClientIdentity(clientId: "c", username: "a/#", certificateCN: "+"), checks: [
            .publish("private/a/x", false),
            .publish("private/other/x", false),
            .publish("other-7/ctl", false),
            .receive("x/inbox", false),
            .publish("public/x", true),
        ]),
        Case(name: "empty username in a deny: its level denies as '+'", policies: dev,
             identity: ClientIdentity(clientId: "c", username: ""), checks: [
            .publish("private//x", false),
            .publish("private/z/x", false),
        ]),
    ]

    @Test(arguments: cases)
    func checks(_ c: Case) {
        let policy = ConnectionPolicy(policies: c.policies, identity: c.identity)
        for check in c.checks {
            switch check {
            case .publish(let topic, let expected):
                #expect(policy.mayPublish(topic) == expected, "publish \(topic)")
            case .receive(let topic, let expected):
                #expect(policy.mayReceive(topic) == expected, "receive \(topic)")
            case .subscribe(let filter, let expected):
                #expect(policy.maySubscribe(filter) == expected, "subscribe \(filter)")
            }
        }
    }

    // MARK: Subscribe containment

    static let subscribePolicy = PolicySet(
        everyone: [
            rule(.allow, [.subscribe], "a/#", "b/+/c", "x/y", "$SYS/broker/#"),
            rule(.deny, [.subscribe], "a/secret/#", "a/+/private"),
        ]
    )

    @Test(arguments: [
        ("a/#", true), ("a", true), ("a/b", true), ("a/+", true), ("a/+/c", true), ("a/+/#", true),
        ("#", false), ("+", false), ("+/b", false), ("+/#", false),
        ("a/secret", false), ("a/secret/x", false), ("a/secret/#", false), ("a/secret/+", false),
        ("a/x/private", false), ("a/+/private", false), ("a/x/private/y", true),
        ("b/x/c", true), ("b/+/c", true), ("b/#", false), ("b/x/d", false), ("b/x/c/d", false), ("b/x", false),
        ("x/y", true), ("x/+", false), ("x", false), ("x/#", false), ("x/y/z", false),
        ("$SYS/broker/load", true), ("$SYS/broker", true), ("$SYS/#", false), ("$SYS/+/load", false),
        ("$share/g/a/b", true), ("$share/g/#", false), ("$share/g/a/secret/x", false), ("$share//a", false),
        ("a/#/b", false), ("", false), ("a+", false),
    ])
    func subscribeContainment(_ filter: String, _ expected: Bool) {
        let policy = ConnectionPolicy(policies: Self.subscribePolicy, identity: ClientIdentity(clientId: "c"))
        #expect(policy.maySubscribe(filter) == expected)
    }

    @Test func subscribeDenyUnderDefaultAllow() {
        let policy = ConnectionPolicy(
            policies: PolicySet(everyone: [Self.rule(.deny, [.subscribe], "#")], defaultEffect: .allow),
            identity: ClientIdentity(clientId: "c"))
        #expect(!policy.maySubscribe("a"))
        #expect(!policy.maySubscribe("+/b"))
        #expect(!policy.maySubscribe("#"))
        #expect(policy.maySubscribe("$SYS/x"))  // '#' covers no '$' topic
        #expect(policy.mayPublish("a"))
    }

    /// Literal containment against its meaning: S lies inside P iff every topic S matches, P
    /// matches too. The topic universe has a level no filter names ("f") and is one level longer
    /// than the longest filter, so a counterexample always exists in it.
    @Test func containmentAgreesWithMatching() {
        var rng = PolicyPropertyTests.SeededGenerator(state: 7)
        let levels = ["a", "b", "$x", "f"]
        var topics: [String] = []
        var frontier = [""]
        for _ in 1...4 {
            frontier = frontier.flatMap { prefix in levels.map { prefix.isEmpty ? $0 : prefix + "/" + $0 } }
            topics += frontier
        }
        func randomFilter() -> String {
            let n = Int.random(in: 1...3, using: &rng)
            return (0..<n).map { i in
                let pool = i == n - 1 ? ["a", "b", "$x", "+", "#"] : ["a", "b", "$x", "+"]
                return pool.randomElement(using: &rng)!
            }.joined(separator: "/")
        }
        for _ in 0..<400 {
            let outer = randomFilter(), inner = randomFilter()
            let semantic = topics.allSatisfy { !TopicMatch.matches(filter: inner, topic: $0) || TopicMatch.matches(filter: outer, topic: $0) }
            let literal = PolicyContainment.contains(PolicyContainment.levels(outer), PolicyContainment.levels(inner))
            #expect(literal == semantic, "\(inner) inside \(outer)")
        }
    }

    /// Issue #14: `socket` rules name mappings; a deny of one mapping restricts the connection
    /// even when every topic is allowed (else the broker would skip the check).
    @Test func socketRulesNameMappings() {
        let id = ClientIdentity(clientId: "c", username: "meter-7")
        let policies = PolicySet(identities: ["meter-7": [Self.rule(.allow, [.socket], "meters")]], defaultEffect: .deny)
        let policy = ConnectionPolicy(policies: policies, identity: id)
        #expect(policy.mayOpenSocket("meters"))
        #expect(!policy.mayOpenSocket("billing"))
        #expect(!policy.mayOpenSocket("a/#"))  // not a mapping name
        let denyOne = PolicySet(everyone: [Self.rule(.deny, [.socket], "billing")], defaultEffect: .allow)
        let restricted = ConnectionPolicy(policies: denyOne, identity: id)
        #expect(!restricted.isUnrestricted)
        #expect(!restricted.mayOpenSocket("billing") && restricted.mayOpenSocket("meters") && restricted.mayPublish("x"))
    }

    // MARK: isUnrestricted

    @Test func unrestricted() {
        let id = ClientIdentity(clientId: "c", username: "u")
        #expect(ConnectionPolicy(policies: PolicySet(defaultEffect: .allow), identity: id).isUnrestricted)
        #expect(!ConnectionPolicy(policies: PolicySet(defaultEffect: .deny), identity: id).isUnrestricted)
        #expect(!ConnectionPolicy(policies: PolicySet(), identity: id).mayPublish("a"))
        // Allow rules under a default of allow restrict nothing.
        let allowOnly = PolicySet(everyone: [Self.rule(.allow, Self.all, "a/#")], defaultEffect: .allow)
        #expect(ConnectionPolicy(policies: allowOnly, identity: id).isUnrestricted)
        // A deny that applies restricts; one for another identity does not.
        let denyOther = PolicySet(identities: ["v": [Self.rule(.deny, [.receive], "a/#")]], defaultEffect: .allow)
        #expect(ConnectionPolicy(policies: denyOther, identity: id).isUnrestricted)
        #expect(!ConnectionPolicy(policies: denyOther, identity: ClientIdentity(clientId: "c", username: "v")).isUnrestricted)
        // A deny with a missing variable still applies (as '+').
        let denyCN = PolicySet(everyone: [Self.rule(.deny, [.publish], "${cn}/x")], defaultEffect: .allow)
        let policy = ConnectionPolicy(policies: denyCN, identity: id)
        #expect(!policy.isUnrestricted)
        #expect(!policy.mayPublish("anyone/x"))
        #expect(policy.mayReceive("anyone/x"))
    }

    // MARK: Resolution details

    struct ResolveCase: CustomTestStringConvertible, Sendable {
        let template: String
        let effect: PolicyEffect
        let clientId: String
        let username: String?
        let cn: String?
        /// nil: the filter is dropped.
        let expected: String?
        var testDescription: String { "\(effect) \(template) -> \(expected ?? "dropped")" }
    }

    static let resolveCases: [ResolveCase] = [
        ResolveCase(template: "d/${clientid}", effect: .allow, clientId: "c", username: nil, cn: nil, expected: "d/c"),
        ResolveCase(template: "d/${username}/#", effect: .allow, clientId: "c", username: "u", cn: nil, expected: "d/u/#"),
        ResolveCase(template: "d/${cn}/+", effect: .allow, clientId: "c", username: nil, cn: "n.example", expected: "d/n.example/+"),
        ResolveCase(template: "d/${cn}/+", effect: .allow, clientId: "c", username: "u", cn: nil, expected: nil),
        ResolveCase(template: "d/${cn}/+", effect: .deny, clientId: "c", username: "u", cn: nil, expected: "d/+/+"),
        ResolveCase(template: "d/p-${cn}-q/x", effect: .deny, clientId: "c", username: nil, cn: nil, expected: "d/+/x"),
        ResolveCase(template: "${username}", effect: .deny, clientId: "c", username: "a/b", cn: nil, expected: "+"),
        ResolveCase(template: "${username}", effect: .allow, clientId: "c", username: "a/b", cn: nil, expected: nil),
        ResolveCase(template: "d/${foo}", effect: .allow, clientId: "c", username: nil, cn: nil, expected: nil),
        ResolveCase(template: "d/${foo}", effect: .deny, clientId: "c", username: nil, cn: nil, expected: "d/+"),
        ResolveCase(template: "d/${cn", effect: .deny, clientId: "c", username: nil, cn: "n", expected: "d/+"),
        ResolveCase(template: "d/${cn", effect: .allow, clientId: "c", username: nil, cn: "n", expected: nil),
        ResolveCase(template: "d/$${cn}}", effect: .allow, clientId: "c", username: nil, cn: "n", expected: "d/$n}"),
        ResolveCase(template: "a/#/b", effect: .allow, clientId: "c", username: nil, cn: nil, expected: nil),
        ResolveCase(template: "a/#/b", effect: .deny, clientId: "c", username: nil, cn: nil, expected: "#"),
        ResolveCase(template: "$share/g/a", effect: .deny, clientId: "c", username: nil, cn: nil, expected: "#"),
        ResolveCase(template: "caf\u{E9}/${clientid}", effect: .allow, clientId: "\u{301}x", username: nil, cn: nil, expected: "caf\u{E9}/\u{301}x"),
    ]

    @Test(arguments: resolveCases)
    func resolve(_ c: ResolveCase) {
        let identity = ClientIdentity(clientId: c.clientId, username: c.username, certificateCN: c.cn)
        #expect(PolicyTemplate.resolve(c.template, effect: c.effect) { identity.value(of: $0) } == c.expected)
    }

    /// A '/' followed by a combining mark is one Character but still a level separator.
    @Test func levelsAreSplitOnBytes() {
        let identity = ClientIdentity(clientId: "c")
        let policy = ConnectionPolicy(
            policies: PolicySet(everyone: [Self.rule(.allow, [.publish], "a/\u{301}${clientid}")]),
            identity: identity)
        #expect(policy.mayPublish("a/\u{301}c"))
        #expect(!policy.mayPublish("a/\u{301}d"))
    }

    // MARK: validate()

    @Test func validateListsProblems() {
        let set = PolicySet(
            everyone: [
                Self.rule(.allow, [.publish], "ok/${clientid}/#"),
                PolicyRule(effect: .allow, actions: [], filters: ["a"]),
                PolicyRule(effect: .deny, actions: [.publish], filters: []),
            ],
            identities: ["bob": [Self.rule(.allow, [.publish], "a/${foo}", "a/#/b", "a/${cn}+", "a/${cn")]],
            groups: ["ghosts": [Self.rule(.allow, [.receive], "$share/g/x")], "ok": [Self.rule(.allow, [.receive], "x")]],
            groupMembers: ["ok": []]
        )
        let problems = set.validate()
        #expect(problems.count == 8, "\(problems)")
        #expect(problems[0] == "everyone[1]: no actions")
        #expect(problems[1] == "everyone[2]: no filters")
        #expect(problems[2].hasPrefix("identities[bob][0] filter 'a/${foo}': unknown variable ${foo}"))
        #expect(problems[3].hasPrefix("identities[bob][0] filter 'a/#/b': not a valid MQTT topic filter"))
        #expect(problems[4].hasPrefix("identities[bob][0] filter 'a/${cn}+': not a valid MQTT topic filter"))
        #expect(problems[5] == "identities[bob][0] filter 'a/${cn': '${cn' has no closing '}' in its level")
        #expect(problems[6].hasPrefix("groups[ghosts][0] filter '$share/g/x': shared-subscription"))
        #expect(problems[7] == "groups[ghosts]: no entry in groupMembers")
        #expect(Self.fleet.validate() == [])
        #expect(Self.dev.validate() == [])
    }
}
