import FleetProtocol

// The policy of one connection, compiled once at CONNECT: substitutions done (Policy+Template.swift),
// publish and receive filters in one trie each, so a check is one walk (or none).

/// The rules that apply to one connection, substitutions done, compiled into tries: checking a
/// publish or a delivery is ONE trie walk.
///
/// A rule applies when it is in `everyone`, or is listed under one of the connection's names
/// (username, certificate CN), or under a group one of those names belongs to. For a topic:
/// if any applicable deny filter matches, the answer is no; else if any allow filter matches,
/// yes; else the set's `defaultEffect`. Missing or unusable variables: see Policy+Template.swift
/// (allow filters drop, deny levels widen to '+').
///
/// Owned by the loop thread of its connection, like the tries it holds; not Sendable.
public final class ConnectionPolicy {
    /// The connection this policy was compiled for.
    public let identity: ClientIdentity
    let publishCheck: PolicyTopicCheck
    let receiveCheck: PolicyTopicCheck
    let subscribeCheck: PolicyFilterCheck
    let socketCheck: PolicyTopicCheck

    public init(policies: PolicySet, identity: ClientIdentity) {
        self.identity = identity
        var filters: [PolicyAction: (allow: [String], deny: [String])] = [:]
        for rule in policies.rules(for: identity) {
            for template in rule.filters {
                guard let filter = PolicyTemplate.resolve(template, effect: rule.effect, { identity.value(of: $0) }) else {
                    continue
                }
                for action in rule.actions {
                    switch rule.effect {
                    case .allow: filters[action, default: ([], [])].allow.append(filter)
                    case .deny: filters[action, default: ([], [])].deny.append(filter)
                    }
                }
            }
        }
        let defaultAllows = policies.defaultEffect == .allow
        func lists(_ action: PolicyAction) -> (allow: [String], deny: [String]) { filters[action] ?? ([], []) }
        publishCheck = PolicyTopicCheck(lists(.publish), defaultAllows: defaultAllows)
        receiveCheck = PolicyTopicCheck(lists(.receive), defaultAllows: defaultAllows)
        subscribeCheck = PolicyFilterCheck(lists(.subscribe), defaultAllows: defaultAllows)
        socketCheck = PolicyTopicCheck(lists(.socket), defaultAllows: defaultAllows)
    }

    /// Whether the client may open a managed socket with `mapping` (issue #14).
    public func mayOpenSocket(_ mapping: String) -> Bool {
        MQTTTopic.isValidName(mapping) && socketCheck.allows(mapping)
    }

    /// Whether the client may publish on `topic` (a valid topic name).
    public func mayPublish(_ topic: String) -> Bool { publishCheck.allows(topic) }

    /// Whether a message on `topic` may be delivered to the client. Called on every delivery:
    /// a constant when the rules make it one, else one trie walk.
    public func mayReceive(_ topic: String) -> Bool { receiveCheck.allows(topic) }

    /// A subscription filter is allowed when it lies inside an allowed subscribe filter and inside
    /// no denied one, comparing filters as literal level strings (so "a/+" is inside "a/#", "#" is
    /// not inside "a/#"); deny wins; a filter inside neither gets the default. A shared
    /// subscription "$share/{group}/{filter}" is judged by its filter. An invalid filter is refused.
    ///
    /// Only containment is checked: "#" is not inside a denied "secret/#", so it passes when "#"
    /// is allowed; keeping "secret/..." messages from it is the job of `receive` rules.
    public func maySubscribe(_ filter: String) -> Bool {
        guard MQTTTopic.isValidFilter(filter) else { return false }
        return subscribeCheck.allows(MQTTTopic.parseShared(filter)?.filter ?? filter)
    }

    /// True when the default is allow and no deny filter applies to this connection: every check
    /// answers yes, so the broker can skip them. (Allow rules under a default of allow change
    /// nothing, so they do not restrict.)
    public var isUnrestricted: Bool {
        publishCheck.constant == true && receiveCheck.constant == true && subscribeCheck.constant == true && socketCheck.constant == true
    }
}

/// Publish or receive checks for one action: allow and deny filters in one trie, the effect as the
/// "subscriber", so one walk sees both.
struct PolicyTopicCheck {
    typealias Trie = SubscriptionTrie<PolicyEffect, Void>

    enum Mode {
        /// No filter can change the answer (no trie allocated: memory per connection counts).
        case constant(Bool)
        /// Default deny, allow filters only: yes iff some filter matches (first match ends the walk).
        case anyMatchAllows(Trie)
        /// Default allow, deny filters only: no iff some filter matches.
        case anyMatchDenies(Trie)
        /// Default deny, allow and deny filters: a full walk; deny wins, then allow, else no.
        case full(Trie)
    }

    let mode: Mode

    init(_ filters: (allow: [String], deny: [String]), defaultAllows: Bool) {
        func trie(allow: [String], deny: [String]) -> Trie {
            let trie = Trie()
            for f in allow { trie.insert(filter: f, subscriber: .allow, entry: ()) }
            for f in deny { trie.insert(filter: f, subscriber: .deny, entry: ()) }
            return trie
        }
        if defaultAllows {
            // Allow filters only confirm the default.
            mode = filters.deny.isEmpty ? .constant(true) : .anyMatchDenies(trie(allow: [], deny: filters.deny))
        } else if filters.allow.isEmpty {
            mode = .constant(false)  // deny filters only confirm the default
        } else if filters.deny.isEmpty {
            mode = .anyMatchAllows(trie(allow: filters.allow, deny: []))
        } else {
            mode = .full(trie(allow: filters.allow, deny: filters.deny))
        }
    }

    /// The answer for every topic, when there is one.
    var constant: Bool? {
        if case .constant(let answer) = mode { return answer }
        return nil
    }

    func allows(_ topic: String) -> Bool {
        switch mode {
        case .constant(let answer):
            return answer
        case .anyMatchAllows(let trie):
            return trie.hasMatch(topic: topic)
        case .anyMatchDenies(let trie):
            return !trie.hasMatch(topic: topic)
        case .full(let trie):
            var allowed = false, denied = false
            trie.forEachMatch(topic: topic) { effect, _ in
                if effect == .deny { denied = true } else { allowed = true }
            }
            return allowed && !denied
        }
    }
}

/// Subscribe checks: filters compared by containment (Policy+Containment.swift). Subscribing is
/// rare next to publishing, so the filters are scanned.
struct PolicyFilterCheck {
    let allow: [[[UInt8]]]
    let deny: [[[UInt8]]]
    let defaultAllows: Bool

    init(_ filters: (allow: [String], deny: [String]), defaultAllows: Bool) {
        // Under a default of allow, allow filters change nothing; under deny, deny filters.
        allow = defaultAllows ? [] : filters.allow.map(PolicyContainment.levels)
        deny = filters.deny.map(PolicyContainment.levels)
        self.defaultAllows = defaultAllows
    }

    var constant: Bool? {
        if defaultAllows { return deny.isEmpty ? true : nil }
        return allow.isEmpty ? false : nil
    }

    func allows(_ filter: String) -> Bool {
        if let constant { return constant }
        let levels = PolicyContainment.levels(filter)
        if deny.contains(where: { PolicyContainment.contains($0, levels) }) { return false }
        if allow.contains(where: { PolicyContainment.contains($0, levels) }) { return true }
        return defaultAllows
    }
}
