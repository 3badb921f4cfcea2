// Matching a topic name against the table (MQTT 5 §4.7): one hash lookup in the exact map, then,
// only if wildcard filters exist, an iterative walk of the trie over the topic's UTF-8 bytes.
// No String, array or level copy is made per level; the walk's stack is a temporary allocation
// sized by the topic's level count (stack memory for ordinary topics).

extension SubscriptionTrie {
    /// Calls `body` once per (filter, subscriber) pair whose filter matches `topic`. A subscriber
    /// with two matching filters is visited twice (the broker merges them). `body` must not
    /// mutate the table.
    @inlinable
    public func forEachMatch(topic: String, _ body: (Subscriber, Entry) -> Void) {
        visiting += 1
        defer { visiting -= 1 }
        var topic = topic
        topic.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            if !exact.isEmpty, let list = exact[.borrowed(raw)] { list.forEach(body) }
            if wildcardFilters != 0 {
                _ = walk(topic: raw) { list in
                    list.forEach(body)
                    return true
                }
            }
        }
    }

    /// Whether any filter matches `topic`.
    @inlinable
    public func hasMatch(topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            if !exact.isEmpty, exact[.borrowed(raw)] != nil { return true }  // lists are never empty
            if wildcardFilters == 0 { return false }
            return !walk(topic: raw) { _ in false }
        }
    }

    /// Depth-first walk of the trie over the levels of `topic`, calling `visit` with every
    /// subscriber list whose filter matches. Returns false as soon as `visit` returns false.
    @inlinable
    func walk(topic: UnsafeRawBufferPointer, _ visit: (List) -> Bool) -> Bool {
        let slash = UInt8(ascii: "/")
        let n = topic.count
        var levels = 1
        for byte in topic where byte == slash { levels += 1 }
        // '$' topics are not matched by a first level of '+' or '#' (MQTT 5 §4.7.2).
        let dollar = n > 0 && topic[0] == UInt8(ascii: "$")
        let root = self.root
        // A pending entry is a node and the byte offset of the next level to match (n + 1 once
        // every level is consumed). Pending entries have distinct depths, so at most levels + 1.
        return withUnsafeTemporaryAllocation(of: (Unmanaged<Node>, Int).self, capacity: levels + 2) { stack in
            stack[0] = (Unmanaged.passUnretained(root), 0)
            var top = 1
            while top > 0 {
                top -= 1
                let (reference, start) = stack[top]
                // Nodes stay alive: the table is not mutated while walking.
                let node = reference.takeUnretainedValue()
                let wildcardsAllowed = !(dollar && start == 0)  // offset 0 is only the root's
                if wildcardsAllowed, let hash = node.hash, !visit(hash) { return false }  // '#' also matches the parent
                if start > n {
                    if let terminal = node.terminal, !visit(terminal) { return false }
                    continue
                }
                var end = start
                while end < n && topic[end] != slash { end += 1 }
                if wildcardsAllowed, let plus = node.plus {
                    stack[top] = (Unmanaged.passUnretained(plus), end + 1)
                    top += 1
                }
                if !node.children.isEmpty,
                   let child = node.children[.borrowed(UnsafeRawBufferPointer(rebasing: topic[start..<end]))] {
                    stack[top] = (Unmanaged.passUnretained(child), end + 1)
                    top += 1
                }
            }
            return true
        }
    }
}
