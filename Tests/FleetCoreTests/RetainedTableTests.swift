import Testing
@testable import FleetCore

/// RetainedTable against a plain dictionary keyed by UTF-8 bytes and the spec-text reference
/// matcher of SubscriptionTriePropertyTests (byte-exact levels, `$` rule, `#` matching its parent).
struct RetainedTableTests {
    typealias Rng = SubscriptionTriePropertyTests.SeededGenerator

    static func expected(_ model: [[UInt8]: (topic: String, value: Int)], _ filter: String) -> [String] {
        model.values.filter { SubscriptionTriePropertyTests.referenceMatches(filter: filter, topic: $0.topic) }
            .map(\.topic).sorted(by: ExactString.order)
    }

    @Test(arguments: [UInt64(11), 12, 13])
    func matchesTheReference(seed: UInt64) {
        var rng = Rng(state: seed)
        let table = RetainedTable<Int>()
        var model: [[UInt8]: (topic: String, value: Int)] = [:]
        for step in 0..<600 {
            let topic = SubscriptionTriePropertyTests.randomTopic(&rng)
            if Int.random(in: 0..<3, using: &rng) == 0 {
                let removed = table.removeValue(forKey: topic)
                #expect(removed == model.removeValue(forKey: Array(topic.utf8))?.value, "seed \(seed) step \(step)")
            } else {
                table[topic] = step
                model[Array(topic.utf8)] = (topic, step)
            }
            #expect(table.count == model.count, "seed \(seed) step \(step)")
            let probe = SubscriptionTriePropertyTests.randomTopic(&rng)
            #expect(table[probe] == model[Array(probe.utf8)]?.value, "seed \(seed) step \(step): \(probe)")
            for _ in 0..<2 {
                let filter = SubscriptionTriePropertyTests.randomFilter(&rng)
                #expect(table.topics(matching: filter) == Self.expected(model, filter), "seed \(seed) step \(step): \(filter)")
            }
        }
        for key in Array(model.keys) { table.removeValue(forKey: model[key]!.topic) }
        #expect(table.count == 0 && table.nodeCount == 0, "seed \(seed): every branch pruned")
    }

    @Test func orderIsTotalOverDistinctByteStrings() {
        let words = ["a", "b", "ab", "", "caf\u{E9}", "cafe\u{301}", "z", "\u{E9}", "e\u{301}", "$SYS"]
        for x in words {
            #expect(!ExactString.order(x, x))
            for y in words where x.utf8.elementsEqual(y.utf8) == false {
                #expect(ExactString.order(x, y) != ExactString.order(y, x), "\(x) vs \(y)")
            }
        }
        #expect(ExactString.order("cafe\u{301}", "caf\u{E9}"))      // tie under <: bytes decide (65 < C3)
    }

    @Test func canonicallyEquivalentTopicsStayDistinct() {
        let table = RetainedTable<Int>()
        table["caf\u{E9}/x"] = 1
        table["cafe\u{301}/x"] = 2
        #expect(table.count == 2 && table["caf\u{E9}/x"] == 1 && table["cafe\u{301}/x"] == 2)
        #expect(table.topics(matching: "caf\u{E9}/+") == ["caf\u{E9}/x"])
        #expect(table.topics(matching: "+/x").count == 2)
    }

    @Test func hashMatchesItsParentAndDollarTopicsNeedALiteralFirstLevel() {
        let table = RetainedTable([("sport", 1), ("sport/tennis", 2), ("sport/tennis/player1", 3), ("$SYS/broker/load", 4), ("/lead", 5)])
        #expect(table.topics(matching: "sport/#") == ["sport", "sport/tennis", "sport/tennis/player1"])
        #expect(table.topics(matching: "sport/+") == ["sport/tennis"])
        #expect(table.topics(matching: "#") == ["/lead", "sport", "sport/tennis", "sport/tennis/player1"])
        #expect(table.topics(matching: "+/broker/#").isEmpty)
        #expect(table.topics(matching: "$SYS/#") == ["$SYS/broker/load"])
        #expect(table.topics(matching: "+/lead") == ["/lead"])
        #expect(table.topics(matching: "sport") == ["sport"] && table.topics(matching: "nope").isEmpty)
    }
}
