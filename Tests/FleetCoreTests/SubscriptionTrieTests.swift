import Testing
@testable import FleetCore

/// Spec cases for topic matching, MQTT 5 §4.7 (and the 3.1.1 equivalents), written from the
/// spec's text and examples.
struct SubscriptionTrieSpecTests {
    struct Case: CustomTestStringConvertible, Sendable {
        let filter: String
        let topic: String
        let matches: Bool
        var testDescription: String { "\"\(filter)\" \(matches ? "~" : "!~") \"\(topic)\"" }
    }

    static let cases: [Case] = [
        // Exact filters, case-sensitive, levels are significant.
        Case(filter: "a/b", topic: "a/b", matches: true),
        Case(filter: "a/b", topic: "a/B", matches: false),
        Case(filter: "A/b", topic: "a/b", matches: false),
        Case(filter: "a/b", topic: "a/b/", matches: false),
        Case(filter: "a/b", topic: "a", matches: false),
        Case(filter: "sport/tennis", topic: "sport/tennis ", matches: false),
        Case(filter: "sport tennis", topic: "sport tennis", matches: true),
        // Empty levels are real levels.
        Case(filter: "a//b", topic: "a//b", matches: true),
        Case(filter: "a//b", topic: "a/b", matches: false),
        Case(filter: "/a", topic: "/a", matches: true),
        Case(filter: "/a", topic: "a", matches: false),
        Case(filter: "a/", topic: "a/", matches: true),
        Case(filter: "a/", topic: "a", matches: false),
        Case(filter: "/", topic: "/", matches: true),
        // '+' matches exactly one level, including an empty one.
        Case(filter: "a/+", topic: "a/b", matches: true),
        Case(filter: "a/+", topic: "a/", matches: true),
        Case(filter: "a/+", topic: "a", matches: false),
        Case(filter: "a/+", topic: "a/b/c", matches: false),
        Case(filter: "a/+/b", topic: "a//b", matches: true),
        Case(filter: "a/+/b", topic: "a/x/b", matches: true),
        Case(filter: "a/+/b", topic: "a/x/y/b", matches: false),
        Case(filter: "+", topic: "a", matches: true),
        Case(filter: "+", topic: "/a", matches: false),
        Case(filter: "+/+", topic: "/finance", matches: true),
        Case(filter: "/+", topic: "/finance", matches: true),
        Case(filter: "+", topic: "/finance", matches: false),
        Case(filter: "+/+", topic: "/", matches: true),
        Case(filter: "/+", topic: "/", matches: true),
        Case(filter: "+", topic: "/", matches: false),
        Case(filter: "sport/+", topic: "sport", matches: false),
        Case(filter: "sport/+", topic: "sport/", matches: true),
        Case(filter: "+/tennis/#", topic: "sport/tennis/player1", matches: true),
        Case(filter: "+/tennis/#", topic: "sport/squash", matches: false),
        // '#' matches the parent and any number of levels below.
        Case(filter: "a/#", topic: "a", matches: true),
        Case(filter: "a/#", topic: "a/", matches: true),
        Case(filter: "a/#", topic: "a/b", matches: true),
        Case(filter: "a/#", topic: "a/b/c", matches: true),
        Case(filter: "a/#", topic: "ab", matches: false),
        Case(filter: "a/#", topic: "b/a", matches: false),
        Case(filter: "a/+/#", topic: "a", matches: false),
        Case(filter: "a/+/#", topic: "a/b", matches: true),
        Case(filter: "a/+/#", topic: "a//", matches: true),
        Case(filter: "sport/tennis/player1/#", topic: "sport/tennis/player1", matches: true),
        Case(filter: "sport/tennis/player1/#", topic: "sport/tennis/player1/ranking", matches: true),
        Case(filter: "sport/tennis/player1/#", topic: "sport/tennis/player1/score/wimbledon", matches: true),
        Case(filter: "sport/tennis/player1/#", topic: "sport/tennis/player2", matches: false),
        Case(filter: "sport/#", topic: "sport", matches: true),
        Case(filter: "//#", topic: "/", matches: true),
        Case(filter: "//#", topic: "//x", matches: true),
        Case(filter: "#", topic: "a", matches: true),
        Case(filter: "#", topic: "/a", matches: true),
        Case(filter: "#", topic: "a/b/c", matches: true),
        Case(filter: "#", topic: "/", matches: true),
        // Topics starting with '$' are not matched by a first level of '+' or '#'.
        Case(filter: "#", topic: "$SYS/x", matches: false),
        Case(filter: "#", topic: "$SYS", matches: false),
        Case(filter: "+", topic: "$SYS", matches: false),
        Case(filter: "+/x", topic: "$SYS/x", matches: false),
        Case(filter: "+/#", topic: "$SYS/x", matches: false),
        Case(filter: "+/monitor/Clients", topic: "$SYS/monitor/Clients", matches: false),
        Case(filter: "$SYS/#", topic: "$SYS/x", matches: true),
        Case(filter: "$SYS/#", topic: "$SYS", matches: true),
        Case(filter: "$SYS/+", topic: "$SYS/x", matches: true),
        Case(filter: "$SYS/monitor/+", topic: "$SYS/monitor/Clients", matches: true),
        Case(filter: "$SYS/x", topic: "$SYS/x", matches: true),
        Case(filter: "$SYS/#", topic: "$SYSTEM/x", matches: false),
        Case(filter: "a/+", topic: "a/$x", matches: true),       // '$' not in the first level
        Case(filter: "#", topic: "a/$x", matches: true),
        Case(filter: "#", topic: "/$x", matches: true),           // first level is empty, not '$'
        Case(filter: "+/$x", topic: "/$x", matches: true),
        Case(filter: "+", topic: "x$", matches: true),
        // Byte-exact: no Unicode normalization (MQTT 5 §4.7.3). Swift's == calls these equal.
        Case(filter: "caf\u{E9}", topic: "cafe\u{301}", matches: false),
        Case(filter: "caf\u{E9}/+", topic: "cafe\u{301}/x", matches: false),
        Case(filter: "caf\u{E9}/+", topic: "caf\u{E9}/x", matches: true),
        Case(filter: "+/\u{1F600}", topic: "x/\u{1F600}", matches: true),
    ]

    @Test(arguments: cases)
    func matchesAlone(_ c: Case) {
        let trie = SubscriptionTrie<Int, String>()
        trie.insert(filter: c.filter, subscriber: 1, entry: c.filter)
        var visits: [String] = []
        trie.forEachMatch(topic: c.topic) { subscriber, entry in
            #expect(subscriber == 1)
            visits.append(entry)
        }
        #expect(visits == (c.matches ? [c.filter] : []))
        #expect(trie.hasMatch(topic: c.topic) == c.matches)
    }

    /// The same cases with every filter of the table stored at once (exact map and trie mixed).
    @Test func matchesTogether() {
        let trie = SubscriptionTrie<Int, Int>()
        var filters: [[UInt8]: Int] = [:]
        for c in Self.cases where filters[Array(c.filter.utf8)] == nil {
            filters[Array(c.filter.utf8)] = filters.count
            trie.insert(filter: c.filter, subscriber: 7, entry: filters.count - 1)
        }
        for c in Self.cases {
            var visited: [Int] = []
            trie.forEachMatch(topic: c.topic) { _, entry in visited.append(entry) }
            let id = filters[Array(c.filter.utf8)]!
            #expect(visited.contains(id) == c.matches, "\(c.testDescription)")
            #expect(Set(visited).count == visited.count, "a pair visited twice for \(c.topic)")
        }
    }

    @Test func overlappingFiltersVisitTheSubscriberOncePerFilter() {
        let trie = SubscriptionTrie<String, Int>()
        trie.insert(filter: "a/b", subscriber: "c1", entry: 1)
        trie.insert(filter: "a/+", subscriber: "c1", entry: 2)
        trie.insert(filter: "a/#", subscriber: "c1", entry: 3)
        trie.insert(filter: "+/b", subscriber: "c1", entry: 4)
        trie.insert(filter: "#", subscriber: "c1", entry: 5)
        trie.insert(filter: "a/+", subscriber: "c2", entry: 6)
        trie.insert(filter: "a/c", subscriber: "c2", entry: 7)
        var visits: [String: [Int]] = [:]
        trie.forEachMatch(topic: "a/b") { visits[$0, default: []].append($1) }
        #expect(visits["c1"]?.sorted() == [1, 2, 3, 4, 5])
        #expect(visits["c2"] == [6])
        #expect(trie.count == 7)
        #expect(trie.filterCount == 6)
    }
}

struct SubscriptionTrieAPITests {
    @Test func insertReplacingReturnsTheOldEntry() {
        let trie = SubscriptionTrie<Int, String>()
        #expect(trie.insert(filter: "a/b", subscriber: 1, entry: "x") == nil)
        #expect(trie.insert(filter: "a/b", subscriber: 1, entry: "y") == "x")
        #expect(trie.insert(filter: "a/#", subscriber: 1, entry: "p") == nil)
        #expect(trie.insert(filter: "a/#", subscriber: 1, entry: "q") == "p")
        #expect(trie.insert(filter: "a/#", subscriber: 2, entry: "r") == nil)
        #expect(trie.count == 3)
        #expect(trie.filterCount == 2)
        #expect(trie.entry(filter: "a/b", subscriber: 1) == "y")
        #expect(trie.entry(filter: "a/#", subscriber: 1) == "q")
        #expect(trie.entry(filter: "a/#", subscriber: 2) == "r")
        var visits: [String] = []
        trie.forEachMatch(topic: "a/b") { _, entry in visits.append(entry) }
        #expect(visits.sorted() == ["q", "r", "y"])
    }

    @Test func removeOfAMissingPairReturnsNil() {
        let trie = SubscriptionTrie<Int, String>()
        #expect(trie.remove(filter: "a/b", subscriber: 1) == nil)
        #expect(trie.remove(filter: "a/+", subscriber: 1) == nil)
        #expect(trie.remove(filter: "#", subscriber: 1) == nil)
        trie.insert(filter: "a/b", subscriber: 1, entry: "x")
        trie.insert(filter: "a/+/c", subscriber: 1, entry: "y")
        #expect(trie.remove(filter: "a/b", subscriber: 2) == nil)
        #expect(trie.remove(filter: "a/+/c", subscriber: 2) == nil)
        #expect(trie.remove(filter: "a/+", subscriber: 1) == nil)      // a prefix node, no filter
        #expect(trie.remove(filter: "a/+/c/#", subscriber: 1) == nil)
        #expect(trie.remove(filter: "a/+/d", subscriber: 1) == nil)
        #expect(trie.remove(filter: "A/b", subscriber: 1) == nil)
        #expect(trie.count == 2)
        #expect(trie.remove(filter: "a/+/c", subscriber: 1) == "y")
        #expect(trie.remove(filter: "a/+/c", subscriber: 1) == nil)
        #expect(trie.remove(filter: "a/b", subscriber: 1) == "x")
        #expect(trie.count == 0)
        #expect(trie.filterCount == 0)
        #expect(trie.nodeCount == 0)
    }

    @Test func entryIsAnExactFilterLookup() {
        let trie = SubscriptionTrie<Int, Int>()
        trie.insert(filter: "a/+", subscriber: 1, entry: 10)
        #expect(trie.entry(filter: "a/+", subscriber: 1) == 10)
        #expect(trie.entry(filter: "a/b", subscriber: 1) == nil)
        #expect(trie.entry(filter: "a/#", subscriber: 1) == nil)
        #expect(trie.entry(filter: "a", subscriber: 1) == nil)
        #expect(trie.entry(filter: "a/+", subscriber: 2) == nil)
    }

    @Test func forEachGivesEveryPairWithItsFilter() {
        let filters = ["#", "+", "/", "/+", "+/", "a//#", "a/+/b", "$SYS/#", "a/b", "", "//", "+/+/#", "a"]
        let trie = SubscriptionTrie<Int, Int>()
        var expected: Set<String> = []
        for (i, filter) in filters.enumerated() {
            for subscriber in 0..<3 where (i + subscriber) % 2 == 0 {
                trie.insert(filter: filter, subscriber: subscriber, entry: i)
                expected.insert("\(filter)|\(subscriber)|\(i)")
            }
        }
        var seen: [String] = []
        trie.forEach { seen.append("\($0)|\($1)|\($2)") }
        #expect(seen.count == expected.count)
        #expect(Set(seen) == expected)
    }

    @Test func removingPrunesNodes() {
        let trie = SubscriptionTrie<Int, Int>()
        trie.insert(filter: "a/b/c/#", subscriber: 1, entry: 0)
        #expect(trie.nodeCount == 3)
        trie.insert(filter: "a/+/c", subscriber: 1, entry: 0)
        #expect(trie.nodeCount == 5)
        trie.insert(filter: "a/b/c/d", subscriber: 1, entry: 0)  // exact: no nodes
        #expect(trie.nodeCount == 5)
        trie.remove(filter: "a/b/c/#", subscriber: 1)
        #expect(trie.nodeCount == 3)  // a, a/+, a/+/c
        trie.remove(filter: "a/+/c", subscriber: 1)
        #expect(trie.nodeCount == 0)
        trie.insert(filter: "x/#", subscriber: 1, entry: 0)
        trie.insert(filter: "x/+", subscriber: 1, entry: 0)
        trie.remove(filter: "x/#", subscriber: 1)
        #expect(trie.nodeCount == 2)  // x stays: x/+ hangs from it
        trie.remove(filter: "x/+", subscriber: 1)
        trie.remove(filter: "a/b/c/d", subscriber: 1)
        #expect(trie.nodeCount == 0)
        #expect(trie.count == 0)
        #expect(trie.filterCount == 0)
    }

    @Test func fanOutToManySubscribersSurvivesRemoves() {
        let trie = SubscriptionTrie<Int, Int>()
        for filter in ["t/1", "t/+"] {
            for subscriber in 0..<1000 { trie.insert(filter: filter, subscriber: subscriber, entry: subscriber * 2) }
        }
        #expect(trie.count == 2000)
        for subscriber in stride(from: 0, to: 1000, by: 3) {
            #expect(trie.remove(filter: "t/1", subscriber: subscriber) == subscriber * 2)
            #expect(trie.remove(filter: "t/+", subscriber: subscriber) == subscriber * 2)
        }
        var visits: [Int: Int] = [:]
        trie.forEachMatch(topic: "t/1") { subscriber, entry in
            #expect(entry == subscriber * 2)
            visits[subscriber, default: 0] += 1
        }
        let expected = Dictionary(uniqueKeysWithValues: (0..<1000).filter { $0 % 3 != 0 }.map { ($0, 2) })
        #expect(visits == expected)
        for subscriber in 0..<1000 {
            #expect(trie.entry(filter: "t/+", subscriber: subscriber) == (subscriber % 3 == 0 ? nil : subscriber * 2))
        }
        // Shrink below the index threshold and keep working.
        for subscriber in 0..<990 {
            trie.remove(filter: "t/1", subscriber: subscriber)
            trie.remove(filter: "t/+", subscriber: subscriber)
        }
        var left: [Int] = []
        trie.forEachMatch(topic: "t/1") { subscriber, _ in left.append(subscriber) }
        #expect(left.sorted() == (990..<1000).filter { $0 % 3 != 0 }.flatMap { [$0, $0] })
        #expect(trie.entry(filter: "t/1", subscriber: 995) == 1990)
    }

    @Test func generationChangesOnlyWithTheTable() {
        let trie = SubscriptionTrie<Int, Int>()
        let g0 = trie.generation
        trie.insert(filter: "a/+", subscriber: 1, entry: 0)
        let g1 = trie.generation
        #expect(g1 != g0)
        trie.remove(filter: "a/b", subscriber: 1)
        #expect(trie.generation == g1)
        trie.remove(filter: "a/+", subscriber: 1)
        #expect(trie.generation != g1)
    }

    @Test func veryDeepFiltersMatchAndTearDown() {
        let depth = 20_000
        let filter = Array(repeating: "+", count: depth).joined(separator: "/")
        let topic = Array(repeating: "x", count: depth).joined(separator: "/")
        do {
            let trie = SubscriptionTrie<Int, Int>()
            trie.insert(filter: filter, subscriber: 1, entry: 1)
            trie.insert(filter: "#", subscriber: 2, entry: 2)
            var visited: [Int] = []
            trie.forEachMatch(topic: topic) { subscriber, _ in visited.append(subscriber) }
            #expect(visited.sorted() == [1, 2])
            #expect(trie.nodeCount == depth)
        }  // deinit of a 20,000-deep chain must not overflow the stack
        let trie = SubscriptionTrie<Int, Int>()
        trie.insert(filter: filter, subscriber: 1, entry: 1)
        #expect(trie.remove(filter: filter, subscriber: 1) == 1)
        #expect(trie.nodeCount == 0)
    }

    @Test func noWildcardFiltersMeansNoTrie() {
        let trie = SubscriptionTrie<Int, Int>()
        for i in 0..<100 { trie.insert(filter: "dev/\(i)/temp", subscriber: i % 7, entry: i) }
        #expect(trie.nodeCount == 0)
        #expect(trie.filterCount == 100)
        var hits: [Int] = []
        trie.forEachMatch(topic: "dev/42/temp") { _, entry in hits.append(entry) }
        #expect(hits == [42])
        #expect(!trie.hasMatch(topic: "dev/42"))
    }
}
