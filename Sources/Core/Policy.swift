// Authorization policies: values only. The agent parses them from its config (YAML) and builds a
// `ConnectionPolicy` per connection (Policy+Connection.swift); `validate()` lists the problems a
// config loader should refuse to start with (Policy+Validate.swift).

/// What a client does with a topic: publish to it, subscribe with a filter, or be delivered a
/// message published on it; or, for `socket`, open a managed socket with a mapping (the filters
/// name mappings, each a one-level name, so `+` or `#` allow every mapping).
public enum PolicyAction: String, Sendable, Hashable, CaseIterable {
    case publish, subscribe, receive, socket
}

public enum PolicyEffect: String, Sendable {
    case allow, deny
}

public struct PolicyRule: Sendable, Equatable {
    public var effect: PolicyEffect
    public var actions: Set<PolicyAction>
    /// Topic filters; may contain ${clientid}, ${username}, ${cn} which are substituted per
    /// connection (see `ConnectionPolicy` for values that are missing or unusable).
    public var filters: [String]

    public init(effect: PolicyEffect, actions: Set<PolicyAction>, filters: [String]) {
        self.effect = effect
        self.actions = actions
        self.filters = filters
    }
}

public struct PolicySet: Sendable, Equatable {
    /// Rules for everybody, for named identities (username or certificate CN), and for groups.
    public var everyone: [PolicyRule]
    public var identities: [String: [PolicyRule]]
    public var groups: [String: [PolicyRule]]
    /// group -> identities (usernames or certificate CNs).
    public var groupMembers: [String: Set<String>]
    /// What happens when no rule matches (default deny; the agent's dev profile sets allow).
    public var defaultEffect: PolicyEffect

    public init(
        everyone: [PolicyRule] = [],
        identities: [String: [PolicyRule]] = [:],
        groups: [String: [PolicyRule]] = [:],
        groupMembers: [String: Set<String>] = [:],
        defaultEffect: PolicyEffect = .deny
    ) {
        self.everyone = everyone
        self.identities = identities
        self.groups = groups
        self.groupMembers = groupMembers
        self.defaultEffect = defaultEffect
    }

    /// The rules that apply to `identity`, unsubstituted: `everyone`, then the rules of each of its
    /// names (username, certificate CN), then those of every group one of its names belongs to.
    /// A rule reached twice (a name that is both username and CN) is listed once per way it applies;
    /// duplicates do not change the outcome.
    public func rules(for identity: ClientIdentity) -> [PolicyRule] {
        let names = identity.policyNames
        var rules = everyone
        for name in names.sorted() { rules += identities[name] ?? [] }
        for group in groups.keys.sorted() where !(groupMembers[group] ?? []).isDisjoint(with: names) {
            rules += groups[group] ?? []
        }
        return rules
    }
}
