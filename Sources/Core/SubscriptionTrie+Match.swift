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
        func match(_ raw: UnsafeRawBufferPointer) {
            if !exact.isEmpty, let list = exactList(raw, byteHash(raw, seed: seed)) { list.forEach(body) }
            if wildcardFilters != 0 {
                _ = walk(topic: raw) { list in
                    list.forEach(body)
                    return true
                }
            }
        }
        // Native strings lend their bytes without a copy of the String value.
        if topic.utf8.withContiguousStorageIfAvailable({ match(UnsafeRawBufferPointer($0)) }) == nil {
            var topic = topic
            topic.withUTF8 { match(UnsafeRawBufferPointer($0)) }
        }
    }

    /// Whether any filter matches `topic`.
    @inlinable
    public func hasMatch(topic: String) -> Bool {
        var topic = topic
        return topic.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            if !exact.isEmpty, exactList(raw, byteHash(raw, seed: seed)) != nil { return true }  // lists are never empty
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
        // Entries are two Ints (unretained node address, offset), which keeps the buffer a
        // trivial type. Nodes stay alive: the table is not mutated while walking.
        return withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * (levels + 2)) { stack in
            @inline(__always) func push(_ node: Node, _ start: Int, _ top: inout Int) {
                stack[top] = Int(bitPattern: Unmanaged.passUnretained(node).toOpaque())
                stack[top + 1] = start
                top += 2
            }
            var top = 0
            push(root, 0, &top)
            while top > 0 {
                top -= 2
                let start = stack[top + 1]
                let node = Unmanaged<Node>.fromOpaque(UnsafeRawPointer(bitPattern: stack[top])!).takeUnretainedValue()
                let wildcardsAllowed = !(dollar && start == 0)  // offset 0 is only the root's
                if wildcardsAllowed, let hash = node.hash, !visit(hash) { return false }  // '#' also matches the parent
                if start > n {
                    if let terminal = node.terminal, !visit(terminal) { return false }
                    continue
                }
                var end = start
                while end < n && topic[end] != slash { end += 1 }
                if wildcardsAllowed, let plus = node.plus { push(plus, end + 1, &top) }
                if !node.children.isEmpty {
                    let level = UnsafeRawBufferPointer(rebasing: topic[start..<end])
                    guard let child = node.child(level, LevelKey(level, seed: seed)) else { continue }
                    push(child, end + 1, &top)
                }
            }
            return true
        }
    }
}
