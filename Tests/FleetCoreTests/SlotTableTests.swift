import Testing
@testable import FleetCore

/// The open-addressing table under forced hash collisions and wrap-around, against a model.
struct SlotTableTests {
    final class Box {
        let id: Int
        init(_ id: Int) { self.id = id }
    }

    @Test(arguments: [1, 3, 16, 1000])
    func matchesAModel(distinctHashes: Int) {
        var rng = SubscriptionTriePropertyTests.SeededGenerator(state: UInt64(distinctHashes))
        var table = SlotTable<Box>()
        var model: [Int: (hash: UInt64, box: Box)] = [:]
        for step in 0..<4000 {
            let id = Int.random(in: 0..<300, using: &rng)
            // Hashes from a small set collide; high values exercise the probe wrap-around.
            let hash = UInt64.max - UInt64(id % distinctHashes)
            if let (h, box) = model[id] {
                if Bool.random(using: &rng) {
                    table.remove(h, box)
                    model[id] = nil
                }
            } else if step < 3000 || Bool.random(using: &rng) {
                let box = Box(id)
                table.insert(hash, box)
                model[id] = (hash, box)
            }
            if step % 97 == 0 || step > 3990 {
                #expect(table.count == model.count)
                for probe in 0..<300 {
                    let found = table.find(UInt64.max - UInt64(probe % distinctHashes)) { $0.id == probe }
                    #expect(found === model[probe]?.box, "id \(probe) at step \(step)")
                }
            }
        }
        for (_, value) in model { table.remove(value.hash, value.box) }
        #expect(table.count == 0)
        #expect(table.slots.isEmpty)
    }

    /// Few ids: the table keeps crossing 0, 1 (the inline entry) and 2+ (the slot array).
    @Test(arguments: [1, 2])
    func inlineEntryTransitions(distinctHashes: Int) {
        var rng = SubscriptionTriePropertyTests.SeededGenerator(state: UInt64(40 + distinctHashes))
        var table = SlotTable<Box>()
        var model: [Int: (hash: UInt64, box: Box)] = [:]
        var sawInline = false, sawArray = false
        for step in 0..<3000 {
            let id = Int.random(in: 0..<3, using: &rng)
            let hash = UInt64(1 + id % distinctHashes)
            if let (h, box) = model[id] {
                table.remove(h, box)
                model[id] = nil
            } else {
                let box = Box(id)
                table.insert(hash, box)
                model[id] = (hash, box)
            }
            #expect(table.count == model.count)
            // One entry lives inline, never in an array; two or more never inline.
            #expect((table.single != nil) == (model.count == 1), "step \(step)")
            #expect(table.slots.isEmpty == (model.count <= 1), "step \(step)")
            sawInline = sawInline || table.single != nil
            sawArray = sawArray || !table.slots.isEmpty
            for probe in 0..<3 {
                let found = table.find(UInt64(1 + probe % distinctHashes)) { $0.id == probe }
                #expect(found === model[probe]?.box, "id \(probe) at step \(step)")
            }
            var visited: [Int] = []
            table.forEach { visited.append($0.id) }
            #expect(visited.sorted() == model.keys.sorted())
        }
        #expect(sawInline && sawArray)
    }

    @Test func levelKeysCompareBytesAtWordBoundaries() {
        let levels = ["", "a", "1234567", "12345678", "123456789", "1234567890123456", "1234567890123457",
                      "12345678901234567", "12345678901234568", "\u{0}", "\u{0}\u{0}"]
        for a in levels {
            for b in levels {
                var sa = a, sb = b
                let equal = sa.withUTF8 { x in
                    sb.withUTF8 { y in
                        let kx = LevelKey(UnsafeRawBufferPointer(x), seed: 42)
                        let ky = LevelKey(UnsafeRawBufferPointer(y), seed: 42)
                        let node = TrieNode<Int, Int>(level: UnsafeRawBufferPointer(x), key: kx)
                        #expect(node.level == Array(a.utf8))
                        return node.hasLevel(ky, UnsafeRawBufferPointer(y)) && kx.hash == ky.hash
                    }
                }
                #expect(equal == (Array(a.utf8) == Array(b.utf8)), "\(a.debugDescription) vs \(b.debugDescription)")
            }
        }
    }
}
