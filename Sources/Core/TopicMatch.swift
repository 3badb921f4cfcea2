/// One-off filter matching, for scans where a trie does not pay (retained messages on subscribe).
/// The hot path matches through `SubscriptionTrie`.
public enum TopicMatch {
    /// MQTT 5 §4.7 rules: '+' one level, '#' the parent and everything below, and a topic starting
    /// with '$' is not matched by a first-level wildcard.
    public static func matches(filter: String, topic: String) -> Bool {
        let t = topic.utf8, f = filter.utf8
        if t.first == UInt8(ascii: "$"), let first = f.first, first == UInt8(ascii: "+") || first == UInt8(ascii: "#") {
            return false
        }
        var fl = f.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        var tl = t.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)[...]
        while let level = fl.popFirst() {
            if level.elementsEqual("#".utf8) { return true }
            guard let topicLevel = tl.popFirst() else { return false }
            if level.elementsEqual("+".utf8) { continue }
            if !level.elementsEqual(topicLevel) { return false }
        }
        return tl.isEmpty
    }
}
