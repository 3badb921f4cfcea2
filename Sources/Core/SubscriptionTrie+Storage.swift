// Storage of SubscriptionTrie: a seeded byte hash, an open-addressing table keyed by it, trie
// nodes and per-filter subscriber lists.
//
// Matching is byte-wise on UTF-8 (MQTT 5 §4.7.3: the server MUST NOT normalize topic names or
// filters), so keys are bytes, never Strings (whose == is canonical equivalence). A lookup hashes
// the bytes of the topic in place: no String, array or key value is built per level.
//
// Hot stored properties are `@exclusivity(unchecked)`: the class is confined to one thread and
// the table refuses mutation while a visit is in progress (`SubscriptionTrie.visiting`), so the
// dynamic exclusivity checks (measured at ~6% of a match) guard nothing.

/// A seeded 64-bit hash of `bytes`, never 0 (0 marks an empty slot). Not cryptographic: the
/// seed is random per table, so colliding levels cannot be precomputed by a client, and a
/// collision costs only a byte comparison.
@inlinable
func byteHash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
    let n = bytes.count
    var h = seed ^ (UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15)
    var i = 0
    while i + 8 <= n {
        h = mix(h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self))
        i += 8
    }
    if i < n {
        var tail: UInt64 = 0
        var shift: UInt64 = 0
        while i < n {
            tail |= UInt64(bytes[i]) << shift
            shift += 8
            i += 1
        }
        h = mix(h ^ tail)
    } else if n == 0 {
        h = mix(h)
    }
    return h == 0 ? 1 : h
}

/// The SplitMix64 finalizer.
@inlinable @inline(__always)
func mix(_ x: UInt64) -> UInt64 {
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// One topic level prepared for lookup: its hash and, for levels of up to 16 bytes (nearly all),
/// its bytes as two zero-padded words, so comparing with a node's level reads only the node.
@usableFromInline
struct LevelKey {
    @usableFromInline let count: Int
    @usableFromInline let w0: UInt64
    @usableFromInline let w1: UInt64
    @usableFromInline let hash: UInt64

    @inlinable
    init(_ bytes: UnsafeRawBufferPointer, seed: UInt64) {
        let n = bytes.count
        count = n
        guard n <= 16 else {
            w0 = 0
            w1 = 0
            hash = byteHash(bytes, seed: seed)
            return
        }
        var a: UInt64 = 0
        var b: UInt64 = 0
        if n >= 8 {
            a = bytes.loadUnaligned(as: UInt64.self)
            // Bytes 8..<n: load the last 8 bytes and shift out the ones already in `a`.
            if n > 8 { b = bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) >> UInt64((16 - n) * 8) }
        } else {
            for i in 0..<n { a |= UInt64(bytes[i]) << UInt64(i * 8) }
        }
        w0 = a
        w1 = b
        let h = mix(mix(seed ^ a ^ (UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15)) ^ b)
        hash = h == 0 ? 1 : h
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

/// Open-addressing (linear probing, backward-shift deletion) table of objects by byte hash. The
/// caller verifies the bytes of a hash hit, so two keys with the same hash coexist. Slots hold
/// the hash beside the reference: a probe compares integers and touches one cache line.
@usableFromInline
struct SlotTable<Value: AnyObject> {
    @usableFromInline
    struct Slot {
        @usableFromInline var hash: UInt64  // 0: empty
        @usableFromInline var value: Value?
        @inlinable init(hash: UInt64, value: Value?) {
            self.hash = hash
            self.value = value
        }
    }

    /// Empty or a power of two; empty while `count` <= 1 (the one entry is `single`).
    @usableFromInline var slots: [Slot] = []
    @usableFromInline var count = 0
    /// The entry of a one-entry table, kept inline: most trie nodes have exactly one literal
    /// child, and with 100,000 filters the separate slot array of each was one more cache miss
    /// per level of a match (and 100+ bytes per node).
    @usableFromInline var single: Value?
    @usableFromInline var singleHash: UInt64 = 0

    @inlinable init() {}

    @inlinable var isEmpty: Bool { count == 0 }

    /// The value with `hash` for which `matches` holds.
    @inlinable
    func find(_ hash: UInt64, _ matches: (Value) -> Bool) -> Value? {
        if count <= 1 {
            guard singleHash == hash, let single, matches(single) else { return nil }
            return single
        }
        return slots.withUnsafeBufferPointer { slots in
            let mask = slots.count - 1
            var i = Int(truncatingIfNeeded: hash) & mask
            while true {
                let h = slots[i].hash
                if h == 0 { return nil }
                if h == hash, let value = slots[i].value, matches(value) { return value }
                i = (i + 1) & mask
            }
        }
    }

    /// Adds `value` (the caller checked it is not there).
    @inlinable
    mutating func insert(_ hash: UInt64, _ value: Value) {
        if count == 0 {
            single = value
            singleHash = hash
            count = 1
            return
        }
        if (count + 1) * 4 > slots.count * 3 { resize(to: Swift.max(4, slots.count * 2)) }
        place(hash, value)
        count += 1
    }

    @inlinable
    mutating func place(_ hash: UInt64, _ value: Value) {
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i].hash != 0 { i = (i + 1) & mask }
        slots[i] = Slot(hash: hash, value: value)
    }

    @inlinable
    mutating func resize(to capacity: Int) {
        let old = slots
        slots = capacity == 0 ? [] : Array(repeating: Slot(hash: 0, value: nil), count: capacity)
        for slot in old where slot.hash != 0 { place(slot.hash, slot.value!) }
        if let moving = single {   // the second entry arrives: the inline one joins the array
            place(singleHash, moving)
            single = nil
            singleHash = 0
        }
    }

    /// Removes `value` (by identity), stored under `hash`.
    @inlinable
    mutating func remove(_ hash: UInt64, _ value: Value) {
        if count == 1 {
            precondition(single === value, "SlotTable: removing a value that is not stored")
            single = nil
            singleHash = 0
            count = 0
            return
        }
        let mask = slots.count - 1
        var i = Int(truncatingIfNeeded: hash) & mask
        while slots[i].value !== value {
            precondition(slots[i].hash != 0, "SlotTable: removing a value that is not stored")
            i = (i + 1) & mask
        }
        // Backward shift: move later entries of the probe run into the hole when their home
        // slot does not lie cyclically in (hole, entry].
        var j = i
        while true {
            j = (j + 1) & mask
            let h = slots[j].hash
            if h == 0 { break }
            let home = Int(truncatingIfNeeded: h) & mask
            let stays = i <= j ? (i < home && home <= j) : (i < home || home <= j)
            if stays { continue }
            slots[i] = slots[j]
            i = j
        }
        slots[i] = Slot(hash: 0, value: nil)
        count -= 1
        if count == 1 {
            let last = slots.first { $0.hash != 0 }!
            single = last.value
            singleHash = last.hash
            slots = []
        } else if slots.count > 16 && count * 8 < slots.count {
            resize(to: slots.count / 4)
        }
    }

    @inlinable
    func forEach(_ body: (Value) -> Void) {
        if let single { body(single) }
        for slot in slots where slot.hash != 0 { body(slot.value!) }
    }
}

/// The subscribers of one filter, as parallel arrays so a fan-out is a contiguous iteration.
/// Small lists are searched linearly; past `indexThreshold` an index dictionary is kept. A list
/// of exactly one subscriber (most filters of a large table: one device, one filter) keeps it
/// inline in `sole`, without the two arrays: a match then reads the list object only, not two
/// more cold allocations.
@usableFromInline
final class SubscriberList<Subscriber: Hashable, Entry> {
    /// The filter's bytes, for lists in the exact map (empty in the trie, where the path says it).
    @usableFromInline let filter: [UInt8]
    /// The one subscriber while there is exactly one; the arrays are then empty.
    @usableFromInline @exclusivity(unchecked) var sole: (subscriber: Subscriber, entry: Entry)?
    /// Two or more subscribers (never exactly one).
    @usableFromInline @exclusivity(unchecked) var subscribers: [Subscriber] = []
    @usableFromInline @exclusivity(unchecked) var entries: [Entry] = []
    @usableFromInline @exclusivity(unchecked) var index: [Subscriber: Int]? = nil

    /// Above this many subscribers, lookups go through `index` instead of a linear scan.
    @usableFromInline static var indexThreshold: Int { 16 }

    @inlinable init(filter: [UInt8] = []) { self.filter = filter }

    @inlinable var count: Int { sole == nil ? subscribers.count : 1 }

    @inlinable
    func position(of subscriber: Subscriber) -> Int? {
        if let index { return index[subscriber] }
        return subscribers.firstIndex(of: subscriber)
    }

    @inlinable
    func entry(for subscriber: Subscriber) -> Entry? {
        if let sole { return sole.subscriber == subscriber ? sole.entry : nil }
        return position(of: subscriber).map { entries[$0] }
    }

    /// Inserts or replaces; returns the previous entry.
    @inlinable
    func set(_ subscriber: Subscriber, _ entry: Entry) -> Entry? {
        if let current = sole {
            if current.subscriber == subscriber {
                sole = (subscriber, entry)
                return current.entry
            }
            // A second subscriber: both move to the arrays.
            sole = nil
            subscribers = [current.subscriber, subscriber]
            entries = [current.entry, entry]
            return nil
        }
        if subscribers.isEmpty {
            sole = (subscriber, entry)
            return nil
        }
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

    /// Removes (swapping the last element into the hole); returns the removed entry.
    @inlinable
    func remove(_ subscriber: Subscriber) -> Entry? {
        if let current = sole {
            guard current.subscriber == subscriber else { return nil }
            sole = nil
            return current.entry
        }
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
        if subscribers.count == 1 {
            // Back to one: inline again.
            sole = (subscribers[0], entries[0])
            subscribers = []
            entries = []
        }
        return old
    }

    /// Calls `body` for every pair, iterating over copies of the arrays.
    @inlinable
    func forEach(_ body: (Subscriber, Entry) -> Void) {
        if let sole {
            body(sole.subscriber, sole.entry)
            return
        }
        let subscribers = self.subscribers
        let entries = self.entries
        for i in subscribers.indices { body(subscribers[i], entries[i]) }
    }
}

/// A trie node: literal children by level, a dedicated `+` child, the subscribers of the filter
/// ending here (`terminal`) and of the filter `<path>/#` (`hash`).
@usableFromInline
final class TrieNode<Subscriber: Hashable, Entry> {
    /// The level this node hangs under in its parent's `children` (empty for `+` and the root):
    /// inline words up to 16 bytes, else `longLevel`.
    @usableFromInline let levelCount: Int
    @usableFromInline let levelW0: UInt64
    @usableFromInline let levelW1: UInt64
    @usableFromInline let levelHash: UInt64
    @usableFromInline let longLevel: [UInt8]
    @usableFromInline @exclusivity(unchecked) var children = SlotTable<TrieNode>()
    @usableFromInline @exclusivity(unchecked) var plus: TrieNode?
    @usableFromInline @exclusivity(unchecked) var terminal: SubscriberList<Subscriber, Entry>?
    @usableFromInline @exclusivity(unchecked) var hash: SubscriberList<Subscriber, Entry>?

    /// The root or a `+` node.
    @inlinable
    init() {
        levelCount = 0
        levelW0 = 0
        levelW1 = 0
        levelHash = 0
        longLevel = []
    }

    /// A literal child for `level`.
    @inlinable
    init(level: UnsafeRawBufferPointer, key: LevelKey) {
        levelCount = key.count
        levelW0 = key.w0
        levelW1 = key.w1
        levelHash = key.hash
        longLevel = key.count > 16 ? Array(level) : []
    }

    /// The level's bytes (for snapshots).
    @inlinable
    var level: [UInt8] {
        if levelCount > 16 { return longLevel }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(levelCount)
        for i in 0..<levelCount {
            let word: UInt64 = i < 8 ? levelW0 : levelW1
            bytes.append(UInt8(truncatingIfNeeded: word >> UInt64((i % 8) * 8)))
        }
        return bytes
    }

    @inlinable
    func hasLevel(_ key: LevelKey, _ level: UnsafeRawBufferPointer) -> Bool {
        key.count == levelCount && key.w0 == levelW0 && key.w1 == levelW1
            && (levelCount <= 16 || longLevel.withUnsafeBytes { bytesEqual($0, level) })
    }

    @inlinable
    var isEmpty: Bool { children.isEmpty && plus == nil && terminal == nil && hash == nil }

    /// The literal child for `level`, prepared as `key`.
    @inlinable
    func child(_ level: UnsafeRawBufferPointer, _ key: LevelKey) -> TrieNode? {
        children.find(key.hash) { node in node.hasLevel(key, level) }
    }
}
