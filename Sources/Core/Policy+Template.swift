import FleetProtocol

// Policy filters as templates: "${name}" inside a level is replaced per connection.
//
// Resolution rules (the security-relevant part, documented once here):
// - A variable is unavailable when the connection lacks it (no username, no certificate), when
//   its value is empty or holds '/', '+', '#' or U+0000 (`ClientIdentity.isUsableSubstitution`),
//   when its name is unknown ("${foo}"), or when "${" is not closed within the level.
// - ALLOW: a filter with an unavailable variable is dropped for this connection. Its other
//   filters still apply. Nothing is ever substituted by an empty string or a guess.
// - DENY: a level holding an unavailable variable becomes '+' (the whole level, whatever else
//   it holds: "dev-${cn}" -> "+"), so the deny covers every value the variable could have taken.
//   Caveat (MQTT 5 §4.7.2): when that level is the first one, the '+' does not match topics
//   starting with '$'.
// - A filter that is not a valid policy filter after substitution (`isValidPolicyFilter`) is
//   dropped from an allow rule and turns a deny rule into a deny of "#" for its actions: fail
//   closed. `PolicySet.validate()` reports such filters so a config loader can refuse them first.

/// The variables a policy filter may use.
enum PolicyVariable: String, CaseIterable {
    case clientid, username, cn
}

enum PolicyTemplate {
    /// A piece of one level of a template filter, as UTF-8 bytes. Templates are handled as bytes,
    /// never Characters: "/" followed by a combining mark is one Character but still a separator.
    enum Token: Equatable {
        case text(ArraySlice<UInt8>)
        /// "${name}", with the name's bytes (known or not).
        case variable(ArraySlice<UInt8>)
        /// "${..." without a closing brace in the level.
        case unterminated(ArraySlice<UInt8>)
    }

    private static let dollar = UInt8(ascii: "$"), open = UInt8(ascii: "{"), close = UInt8(ascii: "}")

    /// Splits a filter into levels on '/' (empty levels kept).
    static func levels(_ filter: String) -> [ArraySlice<UInt8>] {
        Array(filter.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    }

    /// The tokens of one level.
    static func tokens(_ level: ArraySlice<UInt8>) -> [Token] {
        var tokens: [Token] = []
        var textStart = level.startIndex
        var i = level.startIndex
        while i < level.endIndex {
            guard level[i] == dollar, i + 1 < level.endIndex, level[i + 1] == open else {
                i += 1
                continue
            }
            if i > textStart { tokens.append(.text(level[textStart..<i])) }
            guard let end = level[(i + 2)...].firstIndex(of: close) else {
                tokens.append(.unterminated(level[i...]))
                return tokens
            }
            tokens.append(.variable(level[(i + 2)..<end]))
            i = end + 1
            textStart = i
        }
        if textStart < level.endIndex { tokens.append(.text(level[textStart...])) }
        return tokens
    }

    /// Whether `filter` uses "${" at all (most do not; they skip resolution work).
    static func hasVariables(_ filter: String) -> Bool {
        var previous: UInt8 = 0
        for byte in filter.utf8 {
            if previous == dollar && byte == open { return true }
            previous = byte
        }
        return false
    }

    /// The variable a token names, if it is a known one.
    static func variable(named name: ArraySlice<UInt8>) -> PolicyVariable? {
        PolicyVariable.allCases.first { $0.rawValue.utf8.elementsEqual(name) }
    }

    /// One level with its variables replaced by `value(variable)`, or nil if any is unavailable.
    static func substitute(level: ArraySlice<UInt8>, _ value: (PolicyVariable) -> String?) -> [UInt8]? {
        var result: [UInt8] = []
        for token in tokens(level) {
            switch token {
            case .text(let text):
                result += text
            case .variable(let name):
                guard let variable = variable(named: name), let v = value(variable) else { return nil }
                result += v.utf8
            case .unterminated:
                return nil
            }
        }
        return result
    }

    /// The filter `template` stands for on a connection whose variables are `value`, under
    /// `effect` (see the rules at the top of this file). nil: the filter is dropped.
    static func resolve(_ template: String, effect: PolicyEffect, _ value: (PolicyVariable) -> String?) -> String? {
        var filter = template
        if hasVariables(template) {
            var out: [UInt8] = []
            for (i, level) in levels(template).enumerated() {
                if i > 0 { out.append(UInt8(ascii: "/")) }
                if let substituted = substitute(level: level, value) {
                    out += substituted
                } else if effect == .deny {
                    out.append(UInt8(ascii: "+"))
                } else {
                    return nil
                }
            }
            filter = String(decoding: out, as: UTF8.self)
        }
        if isValidPolicyFilter(filter) { return filter }
        return effect == .deny ? "#" : nil
    }

    /// A valid MQTT filter that is not a shared subscription ("$share/..." names a delivery
    /// mode, not a part of the topic space).
    static func isValidPolicyFilter(_ filter: String) -> Bool {
        MQTTTopic.isValidFilter(filter) && !filter.utf8.starts(with: "$share/".utf8)
    }
}
