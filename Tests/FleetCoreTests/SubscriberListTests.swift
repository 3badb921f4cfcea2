import Testing
@testable import FleetCore

/// One filter's subscribers against a dictionary model: through 0, 1 (inline), 2+ (arrays) and
/// past the index threshold (16), with replaces and removals in random order.
struct SubscriberListTests {
    @Test(arguments: [3, 40])
    func matchesAModel(distinctSubscribers: Int) {
        var rng = SubscriptionTriePropertyTests.SeededGenerator(state: UInt64(7 * distinctSubscribers))
        let list = SubscriberList<Int, String>()
        var model: [Int: String] = [:]
        var sawSole = false, sawArrays = false, sawIndex = false
        for step in 0..<5000 {
            let s = Int.random(in: 0..<distinctSubscribers, using: &rng)
            if model[s] != nil && Bool.random(using: &rng) {
                #expect(list.remove(s) == model[s], "step \(step)")
                model[s] = nil
            } else {
                let entry = "e\(step)"
                #expect(list.set(s, entry) == model[s], "step \(step)")
                model[s] = entry
            }
            #expect(list.remove(distinctSubscribers) == nil)   // never stored
            #expect(list.count == model.count)
            // Exactly one subscriber lives inline; never one in the arrays.
            #expect((list.sole != nil) == (model.count == 1), "step \(step)")
            #expect(list.subscribers.count != 1 && list.subscribers.count == list.entries.count)
            sawSole = sawSole || list.sole != nil
            sawArrays = sawArrays || list.subscribers.count >= 2
            sawIndex = sawIndex || list.index != nil
            if step % 7 == 0 {
                for probe in 0..<distinctSubscribers { #expect(list.entry(for: probe) == model[probe]) }
                var seen: [Int: String] = [:]
                list.forEach { seen[$0] = $1 }
                #expect(seen == model, "step \(step)")
            }
        }
        #expect(sawSole && sawArrays)
        #expect(sawIndex == (distinctSubscribers > SubscriberList<Int, String>.indexThreshold))
    }
}
