/// Topic names and filters (MQTT 5 §4.7, §4.8.2; 3.1.1 §4.7).
public enum MQTTTopic {
    private static let slash = UInt8(ascii: "/")
    private static let plus = UInt8(ascii: "+")
    private static let hash = UInt8(ascii: "#")
    private static let sharePrefix = Array("$share/".utf8)

    /// A name a PUBLISH may carry: non-empty, no wildcard, no U+0000, at most 65,535 UTF-8 bytes.
    public static func isValidName(_ topic: String) -> Bool {
        var count = 0
        for b in topic.utf8 {
            if b == plus || b == hash || b == 0 { return false }
            count += 1
        }
        return count > 0 && count <= ProtocolLimits.maxStringBytes
    }

    /// A filter a SUBSCRIBE/UNSUBSCRIBE may carry: non-empty, '#' only as the whole last level,
    /// '+' only as a whole level, no U+0000, at most 65,535 UTF-8 bytes. A filter starting with
    /// "$share/" must be a valid shared subscription "$share/{group}/{filter}".
    public static func isValidFilter(_ filter: String) -> Bool {
        let utf8 = filter.utf8
        guard !utf8.isEmpty, utf8.count <= ProtocolLimits.maxStringBytes else { return false }
        if utf8.starts(with: sharePrefix) {
            guard let shared = parseShared(filter) else { return false }
            return isValidPlainFilter(shared.filter.utf8)
        }
        return isValidPlainFilter(utf8)
    }

    /// Splits "$share/{group}/{filter}" into its group and filter. nil when `filter` does not start
    /// with "$share/", or the group is empty or holds '+' or '#', or the filter part is empty.
    /// The filter part's own wildcards are checked by `isValidFilter`, not here.
    public static func parseShared(_ filter: String) -> (group: String, filter: String)? {
        let utf8 = filter.utf8
        guard utf8.starts(with: sharePrefix) else { return nil }
        let afterPrefix = utf8.index(utf8.startIndex, offsetBy: sharePrefix.count)
        guard let groupEnd = utf8[afterPrefix...].firstIndex(of: slash) else { return nil }
        let group = utf8[afterPrefix..<groupEnd]
        let rest = utf8[utf8.index(after: groupEnd)...]
        guard !group.isEmpty, !rest.isEmpty, !group.contains(plus), !group.contains(hash) else { return nil }
        return (String(Substring(group)), String(Substring(rest)))
    }

    private static func isValidPlainFilter(_ utf8: some Collection<UInt8>) -> Bool {
        guard !utf8.isEmpty else { return false }
        var levelLength = 0        // bytes in the current level so far
        var levelHasWildcard = false
        var sawHash = false
        for b in utf8 {
            if sawHash || b == 0 { return false }  // nothing may follow '#'
            if b == slash {
                levelLength = 0
                levelHasWildcard = false
                continue
            }
            if b == plus || b == hash {
                guard levelLength == 0 else { return false }
                levelHasWildcard = true
                sawHash = b == hash
            } else if levelHasWildcard {
                return false  // "+x": the wildcard must be the whole level
            }
            levelLength += 1
        }
        return true
    }
}
