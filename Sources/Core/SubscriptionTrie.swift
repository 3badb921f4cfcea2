/// Topic-filter table: MQTT 3.1.1/5 matching with '+' and '#'. Filters without wildcards live in
/// an exact-topic hash map (the fast path); filters with wildcards in a trie whose nodes have
/// children by level, a dedicated `+` child and a `#` slot. Nodes are pruned on remove.
///
/// Matching is byte-exact on UTF-8 (no Unicode normalization, MQTT 5 §4.7.3). Owned by one loop
/// thread, hence not Sendable. `forEachMatch`/`forEach` bodies must not mutate the table
/// (checked: a mutation from inside a visit traps).
public final class SubscriptionTrie<Subscriber: Hashable, Entry> {
    @usableFromInline typealias Node = TrieNode<Subscriber, Entry>
    @usableFromInline typealias List = SubscriberList<Subscriber, Entry>

    /// Filters without wildcards, by the hash of their bytes.
    @usableFromInline var exact = SlotTable<List>()
    /// Seed of the byte hash, random per table.
    @usableFromInline let seed = UInt64.random(in: .min ... .max)
    /// Root of the wildcard trie; never pruned.
    @usableFromInline let root = Node()
    /// Distinct filters stored in the trie (filters with a wildcard).
    @usableFromInline var wildcardFilters = 0
    /// Trie nodes other than the root.
    @usableFromInline var nodes = 0
    /// Visits in progress; mutations while visiting would invalidate the walk.
    @usableFromInline var visiting = 0

    /// (filter, subscriber) pairs.
    public private(set) var count = 0

    /// Bumped by every insert and remove that changes the table, so a caller can keep a match
    /// cache and invalidate it by comparing generations.
    public private(set) var generation: UInt64 = 0

    public init() {}

    deinit {
        // Tear the trie down iteratively: releasing a very deep chain of nodes recursively could
        // overflow the stack (filters like "+/+/+/..." with thousands of levels are valid).
        var stack: [Node] = [root]
        while let node = stack.popLast() {
            node.children.forEach { stack.append($0) }
            node.children = SlotTable()
            if let plus = node.plus { stack.append(plus); node.plus = nil }
        }
    }

    /// Distinct filters.
    public var filterCount: Int { exact.count + wildcardFilters }

    /// Trie nodes other than the root (0 when no wildcard filter is stored). For tests.
    var nodeCount: Int { nodes }

    // MARK: Insert, remove, look up

    /// Inserts or replaces the entry of `subscriber` for `filter`; returns the previous entry if
    /// any. The filter is assumed valid (the codec validated it).
    @discardableResult
    public func insert(filter: String, subscriber: Subscriber, entry: Entry) -> Entry? {
        precondition(visiting == 0, "SubscriptionTrie mutated while visiting matches")
        var filter = filter
        let old: Entry? = filter.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            let list: List
            if !Self.hasWildcard(raw) {
                let hash = byteHash(raw, seed: seed)
                if let existing = exactList(raw, hash) {
                    list = existing
                } else {
                    list = List(filter: Array(raw))
                    exact.insert(hash, list)
                }
            } else {
                list = trieList(for: raw)
            }
            return list.set(subscriber, entry)
        }
        if old == nil { count += 1 }
        generation &+= 1
        return old
    }

    /// Removes the entry of `subscriber` for `filter`; returns it, or nil if there was none.
    @discardableResult
    public func remove(filter: String, subscriber: Subscriber) -> Entry? {
        precondition(visiting == 0, "SubscriptionTrie mutated while visiting matches")
        var filter = filter
        let old: Entry? = filter.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            if !Self.hasWildcard(raw) {
                let hash = byteHash(raw, seed: seed)
                guard let list = exactList(raw, hash), let old = list.remove(subscriber) else { return nil }
                if list.count == 0 { exact.remove(hash, list) }
                return old
            }
            return trieRemove(filter: raw, subscriber: subscriber)
        }
        if old != nil {
            count -= 1
            generation &+= 1
        }
        return old
    }

    /// The entry of `subscriber` for exactly `filter` (no matching), if any.
    public func entry(filter: String, subscriber: Subscriber) -> Entry? {
        var filter = filter
        return filter.withUTF8 { bytes in
            let raw = UnsafeRawBufferPointer(bytes)
            if !Self.hasWildcard(raw) { return exactList(raw, byteHash(raw, seed: seed))?.entry(for: subscriber) }
            return trieList(existingFor: raw)?.entry(for: subscriber)
        }
    }

    /// Calls `body` for every stored pair with its filter (a snapshot walk; order unspecified).
    public func forEach(_ body: (String, Subscriber, Entry) -> Void) {
        visiting += 1
        defer { visiting -= 1 }
        exact.forEach { list in
            let filter = String(decoding: list.filter, as: UTF8.self)
            list.forEach { body(filter, $0, $1) }
        }
        var stack: [(Node, String)] = [(root, "")]
        while let (node, path) = stack.popLast() {
            // `path` is the filter up to and including this node's level, "" at the root.
            let prefix = node === root ? "" : path + "/"
            if let hash = node.hash {
                let filter = prefix + "#"
                hash.forEach { body(filter, $0, $1) }
            }
            if let terminal = node.terminal {
                terminal.forEach { body(path, $0, $1) }
            }
            if let plus = node.plus { stack.append((plus, prefix + "+")) }
            node.children.forEach { child in
                stack.append((child, prefix + String(decoding: child.level, as: UTF8.self)))
            }
        }
    }

    // MARK: Internals

    /// The exact-map list of `filter`, whose byte hash is `hash`.
    @inlinable
    func exactList(_ filter: UnsafeRawBufferPointer, _ hash: UInt64) -> List? {
        exact.find(hash) { list in list.filter.withUnsafeBytes { bytesEqual($0, filter) } }
    }

    @inlinable
    static func hasWildcard(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.contains(UInt8(ascii: "+")) || bytes.contains(UInt8(ascii: "#"))
    }

    /// Splits `bytes` on '/' and calls `body` with each level (empty levels included).
    @inlinable
    static func forEachLevel(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        var i = 0
        while i <= bytes.count {
            if i == bytes.count || bytes[i] == UInt8(ascii: "/") {
                body(UnsafeRawBufferPointer(rebasing: bytes[start..<i]))
                start = i + 1
            }
            i += 1
        }
    }

    @inlinable
    static func isLevel(_ level: UnsafeRawBufferPointer, _ ascii: Unicode.Scalar) -> Bool {
        level.count == 1 && level[0] == UInt8(ascii: ascii)
    }

    /// The subscriber list of a wildcard filter, creating nodes and the list as needed.
    func trieList(for filter: UnsafeRawBufferPointer) -> List {
        var node = root
        var isHash = false
        Self.forEachLevel(filter) { level in
            if Self.isLevel(level, "#") {
                isHash = true  // valid filters have '#' only as the last level
            } else if Self.isLevel(level, "+") {
                if let plus = node.plus {
                    node = plus
                } else {
                    let created = Node()
                    node.plus = created
                    nodes += 1
                    node = created
                }
            } else {
                let key = LevelKey(level, seed: seed)
                if let child = node.child(level, key) {
                    node = child
                } else {
                    let created = Node(level: level, key: key)
                    node.children.insert(key.hash, created)
                    nodes += 1
                    node = created
                }
            }
        }
        if isHash {
            if let list = node.hash { return list }
            let list = List()
            node.hash = list
            wildcardFilters += 1
            return list
        }
        if let list = node.terminal { return list }
        let list = List()
        node.terminal = list
        wildcardFilters += 1
        return list
    }

    /// The subscriber list of a wildcard filter if it is stored.
    func trieList(existingFor filter: UnsafeRawBufferPointer) -> List? {
        var node: Node? = root
        var isHash = false
        Self.forEachLevel(filter) { level in
            guard let current = node else { return }
            if Self.isLevel(level, "#") {
                isHash = true
            } else if Self.isLevel(level, "+") {
                node = current.plus
            } else {
                node = current.child(level, LevelKey(level, seed: seed))
            }
        }
        return isHash ? node?.hash : node?.terminal
    }

    func trieRemove(filter: UnsafeRawBufferPointer, subscriber: Subscriber) -> Entry? {
        var path: [Node] = []  // parents of `node`
        var node: Node? = root
        var isHash = false
        Self.forEachLevel(filter) { level in
            guard let current = node else { return }
            if Self.isLevel(level, "#") {
                isHash = true
            } else if Self.isLevel(level, "+") {
                node = current.plus
                path.append(current)
            } else {
                node = current.child(level, LevelKey(level, seed: seed))
                path.append(current)
            }
        }
        guard let target = node, let list = isHash ? target.hash : target.terminal,
              let old = list.remove(subscriber) else { return nil }
        if list.count == 0 {
            if isHash { target.hash = nil } else { target.terminal = nil }
            wildcardFilters -= 1
            // Prune empty nodes bottom-up.
            var current = target
            while current.isEmpty, let parent = path.popLast() {
                if parent.plus === current {
                    parent.plus = nil
                } else {
                    parent.children.remove(current.levelHash, current)
                }
                nodes -= 1
                current = parent
            }
        }
        return old
    }
}
