import FleetProtocol

// Checks a config loader runs before using a PolicySet. ConnectionPolicy copes with everything
// reported here (allow filters drop, deny filters fail closed), but silently: refuse instead.

extension PolicySet {
    /// Problems, one line each, naming the rule ("groups[sensors][1]") and filter: rules without
    /// actions or filters, filters that are not valid MQTT filters once their variables are
    /// substituted (checked with a placeholder value), unknown variables ("${foo}"), a "${"
    /// without "}" in its level, shared-subscription filters ("$share/..."), and groups that
    /// have rules but no entry in `groupMembers`. Empty when the set is usable. Ordered by
    /// section, then name, then rule.
    public func validate() -> [String] {
        var problems: [String] = []
        func check(_ rules: [PolicyRule], _ place: String) {
            for (i, rule) in rules.enumerated() {
                let at = "\(place)[\(i)]"
                if rule.actions.isEmpty { problems.append("\(at): no actions") }
                if rule.filters.isEmpty { problems.append("\(at): no filters") }
                for filter in rule.filters {
                    problems += Self.filterProblems(filter).map { "\(at) filter '\(filter)': \($0)" }
                }
            }
        }
        check(everyone, "everyone")
        for name in identities.keys.sorted() { check(identities[name]!, "identities[\(name)]") }
        for group in groups.keys.sorted() {
            check(groups[group]!, "groups[\(group)]")
            if groupMembers[group] == nil { problems.append("groups[\(group)]: no entry in groupMembers") }
        }
        return problems
    }

    /// The problems of one template filter.
    static func filterProblems(_ filter: String) -> [String] {
        var problems: [String] = []
        var placeholder: [UInt8] = []
        for (i, level) in PolicyTemplate.levels(filter).enumerated() {
            if i > 0 { placeholder.append(UInt8(ascii: "/")) }
            for token in PolicyTemplate.tokens(level) {
                switch token {
                case .text(let text):
                    placeholder += text
                case .variable(let name):
                    if PolicyTemplate.variable(named: name) == nil {
                        let known = PolicyVariable.allCases.map { "${\($0.rawValue)}" }.joined(separator: ", ")
                        problems.append("unknown variable ${\(String(decoding: name, as: UTF8.self))} (known: \(known))")
                    }
                    placeholder += "x".utf8
                case .unterminated(let text):
                    problems.append("'\(String(decoding: text, as: UTF8.self))' has no closing '}' in its level")
                    placeholder += "x".utf8
                }
            }
        }
        let substituted = String(decoding: placeholder, as: UTF8.self)
        if !MQTTTopic.isValidFilter(substituted) {
            problems.append("not a valid MQTT topic filter ('+' and '#' must be whole levels, '#' last, not empty)")
        } else if !PolicyTemplate.isValidPolicyFilter(substituted) {
            problems.append("shared-subscription filters ($share/...) are not allowed in policies")
        }
        return problems
    }
}
