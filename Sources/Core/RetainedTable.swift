/// Retained messages (or anything kept per topic name) by topic, with a tree of the topics' levels
/// so that a wildcard subscription visits only the branches its filter can match. Scanning every
/// retained topic per wildcard SUBSCRIBE cost O(retained) on the loop thread (and the scan sorted
/// all of them first): with a million retained topics each `devices/42/#` stalled the gateway.
///
/// Exact lookups use the dictionary; `topics(matching:)` walks the tree: a literal level follows
/// one child, `+` every child, `#` the whole subtree (its parent level included, MQTT 4.7.1.2).
/// Topics beginning with `$` are not matched by a filter beginning with a wildcard (MQTT 4.7.2).
/// Empty branches are pruned on removal. Topics and levels compare byte for byte (MQTT 4.7.3: no
/// Unicode normalization), unlike Swift's `String ==`, which would take "café" spelled with a
/// combining accent for the precomposed one. Owned by one loop thread, hence not Sendable.
public final class RetainedTable<Value> {
    final class Node {
        var children: [ExactString: Node] = [:]
        /// The stored topic ending at this node (shares the key's storage).
        var topic: String?
    }

    private var values: [ExactString: Value] = [:]
    private let root = Node()
    /// Tree nodes other than the root, for tests (0 once every topic is removed).
    private(set) var nodeCount = 0

    public init() {}

    public convenience init(_ entries: [(topic: String, value: Value)]) {
        self.init()
        for (topic, value) in entries { self[topic] = value }
    }

    deinit {
        // Iteratively: releasing a chain of thousands of levels recursively could overflow the stack.
        var stack = [root]
        while let node = stack.popLast() {
            stack.append(contentsOf: node.children.values)
            node.children = [:]
        }
    }

    public var count: Int { values.count }
    public var isEmpty: Bool { values.isEmpty }

    public subscript(topic: String) -> Value? {
        get { values[ExactString(topic)] }
        set {
            if let newValue {
                if values.updateValue(newValue, forKey: ExactString(topic)) == nil { insertTopic(topic) }
            } else {
                removeValue(forKey: topic)
            }
        }
    }

    @discardableResult
    public func removeValue(forKey topic: String) -> Value? {
        guard let old = values.removeValue(forKey: ExactString(topic)) else { return nil }
        removeTopic(topic)
        return old
    }

    /// The stored topics `filter` matches, in `ExactString.order` (a stable order for subscribers).
    /// The filter is assumed valid (the codec validated it).
    public func topics(matching filter: String) -> [String] {
        if !filter.utf8.contains(UInt8(ascii: "+")) && !filter.utf8.contains(UInt8(ascii: "#")) {
            return values[ExactString(filter)] == nil ? [] : [filter]
        }
        let levels = Self.levels(filter)
        var found: [String] = []
        // (node, index of the filter level to match against its children)
        var stack: [(Node, Int)] = [(root, 0)]
        while let (node, i) = stack.popLast() {
            if i == levels.count {
                if let t = node.topic { found.append(t) }
                continue
            }
            switch levels[i].string {
            case "#":
                if i > 0, let t = node.topic { found.append(t) }   // "a/#" matches "a"
                for (key, child) in node.children where i > 0 || !key.isDollar { collectAll(child, into: &found) }
            case "+":
                for (key, child) in node.children where i > 0 || !key.isDollar { stack.append((child, i + 1)) }
            default:
                if let child = node.children[levels[i]] { stack.append((child, i + 1)) }
            }
        }
        found.sort(by: ExactString.order)
        return found
    }

    private func collectAll(_ start: Node, into found: inout [String]) {
        var stack = [start]
        while let node = stack.popLast() {
            if let t = node.topic { found.append(t) }
            stack.append(contentsOf: node.children.values)
        }
    }

    private static func levels(_ text: String) -> [ExactString] {
        text.split(separator: "/", omittingEmptySubsequences: false).map { ExactString(String($0)) }
    }

    private func insertTopic(_ topic: String) {
        var node = root
        for level in Self.levels(topic) {
            if let child = node.children[level] {
                node = child
            } else {
                let child = Node()
                node.children[level] = child
                nodeCount += 1
                node = child
            }
        }
        node.topic = topic
    }

    private func removeTopic(_ topic: String) {
        let levels = Self.levels(topic)
        var path: [Node] = [root]
        for level in levels {
            guard let child = path[path.count - 1].children[level] else { return }
            path.append(child)
        }
        path[path.count - 1].topic = nil
        // Prune from the leaf up while a node holds neither a topic nor children.
        var i = levels.count
        while i > 0, path[i].topic == nil, path[i].children.isEmpty {
            path[i - 1].children[levels[i - 1]] = nil
            nodeCount -= 1
            i -= 1
        }
    }
}

/// A String compared and hashed by its UTF-8 bytes (Swift's `==` uses canonical equivalence):
/// the dictionary key for MQTT topics, which are compared byte for byte.
public struct ExactString: Hashable, Sendable {
    public let string: String

    public init(_ string: String) { self.string = string }

    var isDollar: Bool { string.utf8.first == UInt8(ascii: "$") }

    // Both compare contiguous bytes: the generic UTF8View versions were 45 % of a wildcard
    // SUBSCRIBE's CPU (perf) when sorting 100 retained topics with a long common prefix.
    public static func == (a: ExactString, b: ExactString) -> Bool {
        guard a.string.utf8.count == b.string.utf8.count else { return false }
        var x = a.string, y = b.string
        return x.withUTF8 { p in y.withUTF8 { q in bytesEqual(UnsafeRawBufferPointer(p), UnsafeRawBufferPointer(q)) } }
    }

    /// Equal-length byte buffers compared eight bytes at a time: `elementsEqual` went byte by byte,
    /// ~300 instructions per dictionary probe on a client id (callgrind, connections scenario).
    @inline(__always)
    static func bytesEqual(_ p: UnsafeRawBufferPointer, _ q: UnsafeRawBufferPointer) -> Bool {
        let n = p.count
        if n == 0 || p.baseAddress == q.baseAddress { return true }
        var i = 0
        while i &+ 8 <= n {
            if p.loadUnaligned(fromByteOffset: i, as: UInt64.self) != q.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
            i &+= 8
        }
        while i < n {
            if p[i] != q[i] { return false }
            i &+= 1
        }
        return true
    }

    /// A total order of distinct byte strings that is cheap for the common case: String's own
    /// `<` (memcmp for ASCII and other NFC text, no copies), with byte order only between
    /// canonically equivalent spellings, which `<` takes for equal.
    public static func order(_ a: String, _ b: String) -> Bool {
        a < b || (!(b < a) && bytesPrecede(a, b))
    }

    /// Byte order of the UTF-8 encodings (shorter first on a common prefix).
    public static func bytesPrecede(_ a: String, _ b: String) -> Bool {
        var x = a, y = b
        return x.withUTF8 { p in
            y.withUTF8 { q in
                let n = min(p.count, q.count)
                var i = 0
                while i < n {
                    if p[i] != q[i] { return p[i] < q[i] }
                    i += 1
                }
                return p.count < q.count
            }
        }
    }

    public func hash(into hasher: inout Hasher) {
        var s = string
        s.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
