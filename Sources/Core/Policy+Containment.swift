// Filter containment for subscribe checks: is every topic a subscription filter can match also
// matched by a policy filter? Decided on the filters' levels as literal byte strings, without
// enumerating topics.

enum PolicyContainment {
    /// A filter's levels as bytes (byte-exact like the trie: no Unicode normalization).
    static func levels(_ filter: String) -> [[UInt8]] {
        Array(filter.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Array.init)
    }

    private static let plus: [UInt8] = [UInt8(ascii: "+")]
    private static let hash: [UInt8] = [UInt8(ascii: "#")]

    /// Whether the filter with levels `inner` lies inside the filter with levels `outer`:
    /// - a '#' level of `outer` contains whatever follows in `inner`, and `inner` ending just
    ///   before it (the parent: "a" is inside "a/#");
    /// - a '+' level of `outer` contains any level of `inner` but '#' ("a/#" is not inside "a/+");
    /// - a literal level contains only the same literal ("a/+" is not inside "a/b");
    /// - an `inner` whose first level starts with '$' is inside no `outer` starting with a
    ///   wildcard, as a '$' topic is matched by none (MQTT 5 §4.7.2).
    /// Both filters are assumed valid.
    static func contains(_ outer: [[UInt8]], _ inner: [[UInt8]]) -> Bool {
        if let first = inner.first?.first, first == UInt8(ascii: "$"), outer[0] == plus || outer[0] == hash {
            return false
        }
        for i in outer.indices {
            let level = outer[i]
            if level == hash { return true }
            guard i < inner.count else { return false }
            if level == plus {
                if inner[i] == hash { return false }
            } else if inner[i] != level {
                return false
            }
        }
        return inner.count == outer.count
    }
}
