// Storage of SubscriptionTrie: byte-exact level keys, trie nodes and per-filter subscriber lists.
//
// Matching is byte-wise on UTF-8 (MQTT 5 §4.7.3: the server MUST NOT normalize topic names or
// filters), which is why keys compare bytes instead of using String's canonical equivalence.

/// A topic level (or a whole exact filter) as UTF-8 bytes. Keys stored in a dictionary always
/// own their bytes; a lookup borrows the bytes of the topic being matched, valid only for the
/// duration of that lookup, so matching never allocates a String or an array per level.
@usableFromInline
enum LevelKey: Hashable {
    case owned([UInt8])
    case borrowed(UnsafeRawBufferPointer)

    @inlinable
    init(copying bytes: UnsafeRawBufferPointer) { self = .owned(Array(bytes)) }

    @inlinable
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .owned(let array): return array.withUnsafeBytes(body)
        case .borrowed(let pointer): return body(pointer)
        }
    }

    @inlinable
    var isOwned: Bool { if case .owned = self { return true } else { return false } }

    @inlinable
    var string: String { withBytes { String(decoding: $0, as: UTF8.self) } }

    @inlinable
    func hash(into hasher: inout Hasher) {
        withBytes { hasher.combine(bytes: $0) }
    }

    @inlinable
    static func == (a: LevelKey, b: LevelKey) -> Bool {
        a.withBytes { x in b.withBytes { y in bytesEqual(x, y) } }
    }
}

/// Byte equality, a word at a time (levels are short; no C memcmp in this module).
@inlinable
func bytesEqual(_ x: UnsafeRawBufferPointer, _ y: UnsafeRawBufferPointer) -> Bool {
    let n = x.count
    guard n == y.count else { return false }
    var i = 0
    while i + 8 <= n {
        if x.loadUnaligned(fromByteOffset: i, as: UInt64.self) != y.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
            return false
        }
        i += 8
    }
    while i < n {
        if x[i] != y[i] { return false }
        i += 1
    }
    return true
}

/// The subscribers of one filter, as parallel arrays so a fan-out is a contiguous iteration.
/// Small lists are searched linearly; past `indexThreshold` an index dictionary is kept.
@usableFromInline
final class SubscriberList<Subscriber: Hashable, Entry> {
    @usableFromInline var subscribers: [Subscriber] = []
    @usableFromInline var entries: [Entry] = []
    @usableFromInline var index: [Subscriber: Int]? = nil

    /// Above this many subscribers, lookups go through `index` instead of a linear scan.
    @usableFromInline static var indexThreshold: Int { 16 }

    @inlinable init() {}

    @inlinable var count: Int { subscribers.count }

    @inlinable
    func position(of subscriber: Subscriber) -> Int? {
        if let index { return index[subscriber] }
        return subscribers.firstIndex(of: subscriber)
    }

    @inlinable
    func entry(for subscriber: Subscriber) -> Entry? {
        position(of: subscriber).map { entries[$0] }
    }

    /// Inserts or replaces; returns the previous entry.
    @inlinable
    func set(_ subscriber: Subscriber, _ entry: Entry) -> Entry? {
        if let i = position(of: subscriber) {
            let old = entries[i]
            entries[i] = entry
            return old
        }
        subscribers.append(subscriber)
        entries.append(entry)
        if index != nil {
            index![subscriber] = subscribers.count - 1
        } else if subscribers.count > Self.indexThreshold {
            var built = [Subscriber: Int](minimumCapacity: subscribers.count * 2)
            for (i, s) in subscribers.enumerated() { built[s] = i }
            index = built
        }
        return nil
    }

    /// Removes by swapping the last element into the hole; returns the removed entry.
    @inlinable
    func remove(_ subscriber: Subscriber) -> Entry? {
        guard let i = position(of: subscriber) else { return nil }
        let last = subscribers.count - 1
        let old = entries[i]
        if i != last {
            subscribers.swapAt(i, last)
            entries.swapAt(i, last)
            index?[subscribers[i]] = i
        }
        subscribers.removeLast()
        entries.removeLast()
        index?[subscriber] = nil
        if index != nil, subscribers.count <= Self.indexThreshold / 2 { index = nil }
        return old
    }

    /// Calls `body` for every pair. Iterates over copies, so `body` may not observe its own
    /// mutations of this list (mutating the trie from `body` is not allowed anyway).
    @inlinable
    func forEach(_ body: (Subscriber, Entry) -> Void) {
        let subscribers = self.subscribers
        let entries = self.entries
        for i in subscribers.indices { body(subscribers[i], entries[i]) }
    }
}

/// A trie node: literal children by level, a dedicated `+` child, the subscribers of the filter
/// ending here (`terminal`) and of the filter `<path>/#` (`hash`).
@usableFromInline
final class TrieNode<Subscriber: Hashable, Entry> {
    @usableFromInline var children: [LevelKey: TrieNode] = [:]
    @usableFromInline var plus: TrieNode?
    @usableFromInline var terminal: SubscriberList<Subscriber, Entry>?
    @usableFromInline var hash: SubscriberList<Subscriber, Entry>?

    @inlinable init() {}

    @inlinable
    var isEmpty: Bool { children.isEmpty && plus == nil && terminal == nil && hash == nil }
}
