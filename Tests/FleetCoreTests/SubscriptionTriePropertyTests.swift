import Testing
@testable import FleetCore

/// Seeded random filters and topics over a small alphabet of levels, compared against a
/// reference matcher written from the spec's text, independently of the trie.
struct SubscriptionTriePropertyTests {
    /// SplitMix64: deterministic across platforms and runs.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Levels, including an empty one, '$' levels, two canonically equivalent spellings and
    /// lengths around the 8- and 16-byte word boundaries of the level comparison.
    static let alphabet = [
        "a", "b", "", "$SYS", "$", "x$", "caf\u{E9}", "cafe\u{301}",
        "1234567", "12345678", "123456789", "1234567890123456", "123456789012345X", "12345678901234567",
        "longer-level-name-over-16", "longer-level-name-over-17",
    ]

    static func randomTopic(_ rng: inout SeededGenerator) -> String {
        let n = Int.random(in: 1...4, using: &rng)
        return (0..<n).map { _ in alphabet.randomElement(using: &rng)! }.joined(separator: "/")
    }

    static func randomFilter(_ rng: inout SeededGenerator) -> String {
        let n = Int.random(in: 1...4, using: &rng)
        var levels: [String] = []
        for i in 0..<n {
            let roll = Int.random(in: 0..<10, using: &rng)
            if roll < 3 {
                levels.append("+")
            } else if roll < 5 && i == n - 1 {
                levels.append("#")
            } else {
                levels.append(alphabet.randomElement(using: &rng)!)
            }
        }
        return levels.joined(separator: "/")
    }

    /// The reference: split both on '/', compare level by level, byte-wise.
    static func referenceMatches(filter: String, topic: String) -> Bool {
        let f = Array(filter.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Array.init)
        let t = Array(topic.utf8).split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false).map(Array.init)
        let plus = Array("+".utf8), hash = Array("#".utf8)
        if t[0].first == UInt8(ascii: "$") && (f[0] == plus || f[0] == hash) { return false }
        for i in f.indices {
            if f[i] == hash { return true }
            if i >= t.count { return false }
            if f[i] != plus && f[i] != t[i] { return false }
        }
        return f.count == t.count
    }

    struct Pair: Hashable {
        let filter: [UInt8]
        let subscriber: Int
    }

    /// Model state: pair -> (filter string, entry id).
    typealias Model = [Pair: (filter: String, entry: Int)]

    static func check(_ trie: SubscriptionTrie<Int, Int>, _ model: Model, _ rng: inout SeededGenerator, seed: UInt64) {
        #expect(trie.count == model.count, "seed \(seed)")
        #expect(trie.filterCount == Set(model.keys.map(\.filter)).count, "seed \(seed)")
        for _ in 0..<40 {
            let topic = randomTopic(&rng)
            var actual: [Int] = []
            trie.forEachMatch(topic: topic) { subscriber, entry in
                actual.append(entry)
                #expect(entry % 8 == subscriber, "seed \(seed)")
            }
            let expected = model.values.filter { referenceMatches(filter: $0.filter, topic: topic) }.map(\.entry)
            #expect(actual.sorted() == expected.sorted(), "seed \(seed) topic \(topic)")
            #expect(trie.hasMatch(topic: topic) == !expected.isEmpty, "seed \(seed) topic \(topic)")
        }
        var listed: [Pair: Int] = [:]
        trie.forEach { filter, subscriber, entry in
            #expect(listed.updateValue(entry, forKey: Pair(filter: Array(filter.utf8), subscriber: subscriber)) == nil)
        }
        #expect(listed == model.mapValues(\.entry), "seed \(seed)")
    }

    @Test(arguments: 0..<60)
    func matchesTheReference(seed: Int) {
        var rng = SeededGenerator(state: UInt64(seed) &* 0x1234_5678_9ABC_DEF1)
        let trie = SubscriptionTrie<Int, Int>()
        var model: Model = [:]
        var nextEntry = 0
        func newEntry(for subscriber: Int) -> Int {
            nextEntry += 1
            return nextEntry * 8 + subscriber  // entry encodes its subscriber
        }
        // Inserts, some of them replacing.
        for _ in 0..<Int.random(in: 1...80, using: &rng) {
            let filter = Self.randomFilter(&rng)
            let subscriber = Int.random(in: 0..<5, using: &rng)
            let entry = newEntry(for: subscriber)
            let key = Pair(filter: Array(filter.utf8), subscriber: subscriber)
            let old = trie.insert(filter: filter, subscriber: subscriber, entry: entry)
            #expect(old == model[key]?.entry, "seed \(seed)")
            model[key] = (filter, entry)
            #expect(trie.entry(filter: filter, subscriber: subscriber) == entry)
        }
        Self.check(trie, model, &rng, seed: UInt64(seed))

        // Random removes, including pairs that are not there.
        for _ in 0..<Int.random(in: 0...60, using: &rng) {
            let (filter, subscriber): (String, Int)
            if Bool.random(using: &rng), let pair = model.keys.randomElement(using: &rng) {
                (filter, subscriber) = (model[pair]!.filter, pair.subscriber)
            } else {
                (filter, subscriber) = (Self.randomFilter(&rng), Int.random(in: 0..<5, using: &rng))
            }
            let key = Pair(filter: Array(filter.utf8), subscriber: subscriber)
            #expect(trie.remove(filter: filter, subscriber: subscriber) == model.removeValue(forKey: key)?.entry, "seed \(seed)")
        }
        Self.check(trie, model, &rng, seed: UInt64(seed))

        // Removing everything leaves nothing behind.
        for (pair, value) in model.shuffled(using: &rng) {
            #expect(trie.remove(filter: value.filter, subscriber: pair.subscriber) == value.entry)
        }
        #expect(trie.count == 0)
        #expect(trie.filterCount == 0)
        #expect(trie.nodeCount == 0)
        #expect(!trie.hasMatch(topic: "a"))
    }
}
