import Testing
@testable import FleetCore

/// RingBuffer against a plain Array as the model: random appends, pops, positional removals,
/// in-place edits and clears, across many wrap-arounds and growths.
@Suite struct RingBufferTests {
    @Test func behavesLikeAnArrayUsedAsAQueue() {
        var rng = PolicyPropertyTests.SeededGenerator(state: 42)  // the target's SplitMix64
        var ring = RingBuffer<[Int]>()
        var model: [[Int]] = []
        var next = 0
        for step in 0..<20_000 {
            switch Int.random(in: 0..<10, using: &rng) {
            case 0...3:
                ring.append([next]); model.append([next]); next += 1
            case 4...5:
                #expect(ring.popFirst() == (model.isEmpty ? nil : model.removeFirst()))
            case 6 where !model.isEmpty:
                let i = Int.random(in: 0..<model.count, using: &rng)
                #expect(ring.remove(at: i) == model.remove(at: i))
            case 7 where !model.isEmpty:
                let i = Int.random(in: 0..<model.count, using: &rng)
                ring[i].append(step)      // in place (_modify)
                model[i].append(step)
            case 8 where !model.isEmpty:
                let v = Int.random(in: 0..<next + 1, using: &rng)
                #expect(ring.firstIndex { $0.first! >= v } == model.firstIndex { $0.first! >= v })
            case 9 where step % 997 == 0:
                ring.removeAll(); model.removeAll()
            default:
                break
            }
            #expect(ring.count == model.count)
        }
        #expect(ring.elements == model)
        #expect(ring.first == model.first && ring.last == model.last)
    }

    @Test func removedElementsAreReleased() {
        final class Token {}
        weak var weakToken: Token?
        var ring = RingBuffer<Token>()
        do {
            let t = Token()
            weakToken = t
            ring.append(t)
            ring.append(Token())
        }
        _ = ring.popFirst()
        #expect(weakToken == nil, "a popped element must not stay referenced by its slot")
        #expect(ring.count == 1)
    }

    @Test func editingAnElementInPlaceDoesNotCopyItsStorage() {
        var ring = RingBuffer<[Int]>()
        ring.append(Array(0..<1_000))
        let before = ring[0].withUnsafeBufferPointer { $0.baseAddress }
        ring[0][5] = -1
        let after = ring[0].withUnsafeBufferPointer { $0.baseAddress }
        #expect(before == after)
        #expect(ring[0][5] == -1)
    }
}
