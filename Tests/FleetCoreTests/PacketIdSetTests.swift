import Testing
@testable import FleetCore

/// PacketIdSet against `Set<UInt16>` as the model: random inserts and removals over the whole id
/// space, and the broker's own pattern (ids in sequence, the oldest acknowledged first, wrapping
/// past 65,535), across growths and deletions that shift entries back.
@Suite struct PacketIdSetTests {
    @Test func behavesLikeASetOfIds() {
        var rng = PolicyPropertyTests.SeededGenerator(state: 7)
        var ids = PacketIdSet()
        var model = Set<UInt16>()
        for step in 0..<50_000 {
            // A narrow range makes collisions and long probe runs, a wide one spreads them.
            let id = UInt16.random(in: 0...(step % 2 == 0 ? 300 : UInt16.max), using: &rng)
            switch Int.random(in: 0..<5, using: &rng) {
            case 0...1:
                let inserted = ids.insert(id)
                #expect(inserted == (id != 0 && model.insert(id).inserted))
            case 2...3:
                let removed = ids.remove(id)
                #expect(removed == (model.remove(id) != nil))
            default:
                #expect(ids.contains(id) == model.contains(id))
            }
            #expect(ids.count == model.count)
            if step % 9_973 == 0 { ids.removeAll(); model.removeAll() }
        }
        for id in model { #expect(ids.contains(id)) }
    }

    @Test func sequentialWindowAcknowledgedInOrderAndOutOfOrder() {
        var ids = PacketIdSet()
        var window: [UInt16] = []
        var next: UInt16 = 1
        for round in 0..<200_000 {
            if window.count < 100 {
                let inserted = ids.insert(next)
                #expect(inserted)
                window.append(next)
                next = next == UInt16.max ? 1 : next + 1
            }
            // Mostly the oldest; now and then one from the middle (out-of-order PUBACK).
            if window.count == 100 {
                let i = round % 17 == 0 ? 50 : 0
                let removed = ids.remove(window.remove(at: i))
                #expect(removed)
            }
        }
        #expect(ids.count == window.count)
        for id in window { #expect(ids.contains(id)) }
        #expect(!ids.contains(next))
    }

    @Test func zeroIsNeverHeld() {
        var ids = PacketIdSet()
        let inserted = ids.insert(0), removed = ids.remove(0)
        #expect(!inserted)
        #expect(!ids.contains(0))
        #expect(!removed)
        #expect(ids.isEmpty)
    }
}
