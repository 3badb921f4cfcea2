import Testing
@testable import FleetCoordinator

@Suite struct InterestIndexTests {
    func index(_ members: String...) -> InterestIndex {
        let i = InterestIndex()
        for m in members { i.addMember(m) }
        return i
    }

    @Test func firstHolderAddsToEveryOtherMember() {
        let i = index("a", "b", "c")
        let ch = i.replace("a", with: ["x/#"])
        #expect(ch.byGateway["b"]?.added == ["x/#"])
        #expect(ch.byGateway["c"]?.added == ["x/#"])
        #expect(ch.byGateway["a"] == nil)
        #expect(i.remoteUnion(for: "a") == [])
        #expect(i.remoteUnion(for: "b") == ["x/#"])
    }

    @Test func secondHolderAddsOnlyForTheFirstHolder() {
        let i = index("a", "b", "c")
        _ = i.replace("a", with: ["x"])
        let ch = i.replace("b", with: ["x"])
        #expect(ch.byGateway == ["a": .init(added: ["x"], removed: [])])
        #expect(i.remoteUnion(for: "a") == ["x"])
        #expect(i.remoteUnion(for: "b") == ["x"])
    }

    @Test func removalsAreSymmetric() {
        let i = index("a", "b", "c")
        _ = i.replace("a", with: ["x"])
        _ = i.replace("b", with: ["x"])
        // b leaves: only a loses x from its union (c still sees a's x)
        var ch = i.apply("b", added: [], removed: ["x"])
        #expect(ch.byGateway == ["a": .init(added: [], removed: ["x"])])
        // a leaves: everyone else loses it
        ch = i.removeMember("a")
        #expect(ch.byGateway["b"]?.removed == ["x"])
        #expect(ch.byGateway["c"]?.removed == ["x"])
        #expect(i.filterCount == 0 && i.entryCount == 0)
    }

    @Test func replaceDiffsTheOldTable() {
        let i = index("a", "b")
        _ = i.replace("a", with: ["x", "y"])
        let ch = i.replace("a", with: ["y", "z"])
        #expect(ch.byGateway["b"] == .init(added: ["z"], removed: ["x"]))
        #expect(i.filters(of: "a") == ["y", "z"])
    }

    @Test func deltaIsIdempotentAndAddWinsOverRemoveInOneFrame() {
        let i = index("a", "b")
        _ = i.replace("a", with: ["x"])
        #expect(i.apply("a", added: ["x"], removed: ["absent"]).isEmpty)
        let ch = i.apply("a", added: ["x"], removed: ["x"])
        #expect(ch.isEmpty)
        #expect(i.filters(of: "a") == ["x"])
    }

    @Test func routingIsOneWalkDeduplicatedAndExcludesTheOrigin() {
        let i = index("a", "b", "c")
        _ = i.replace("a", with: ["t/#"])
        _ = i.replace("b", with: ["t/+", "t/#", "t/x"])
        _ = i.replace("c", with: ["u/#"])
        #expect(Set(i.gateways(matching: "t/x")) == ["a", "b"])
        #expect(i.gateways(matching: "t/x", excluding: "a") == ["b"])
        #expect(i.gateways(matching: "u") == ["c"])
        #expect(i.gateways(matching: "v").isEmpty)
        #expect(i.matchingFilters(topic: "t/x").map(\.gateway) == ["a", "b", "b", "b"])
    }

    @Test func aMemberWithoutTableStillGetsChanges() {
        let i = index("a")
        #expect(i.replace("a", with: ["x"]).isEmpty)
        i.addMember("late")
        #expect(i.remoteUnion(for: "late") == ["x"])
        #expect(i.apply("a", added: ["y"], removed: []).byGateway["late"]?.added == ["y"])
    }

    /// The incremental union equals the union recomputed from scratch after random operations.
    @Test func incrementalUnionMatchesRecomputation() {
        var rng = SplitMix(seed: 42)
        let gateways = ["g0", "g1", "g2", "g3"]
        let filters = ["a", "a/+", "a/#", "b", "c/d", "#"]
        let i = InterestIndex()
        var told: [String: Set<String>] = [:]
        for g in gateways { i.addMember(g); told[g] = [] }
        for _ in 0..<2_000 {
            let g = gateways[Int(rng.next() % 4)]
            let f = filters[Int(rng.next() % UInt64(filters.count))]
            let ch: UnionChanges
            switch rng.next() % 3 {
            case 0: ch = i.apply(g, added: [f], removed: [])
            case 1: ch = i.apply(g, added: [], removed: [f])
            default: ch = i.replace(g, with: Set(filters.filter { _ in rng.next() % 2 == 0 }))
            }
            for (member, c) in ch.byGateway {
                for x in c.added { #expect(told[member]!.insert(x).inserted) }
                for x in c.removed { #expect(told[member]!.remove(x) != nil) }
            }
            for g in gateways {
                var expected = Set<String>()
                for other in gateways where other != g { expected.formUnion(i.filters(of: other)) }
                #expect(told[g]! == expected)
                #expect(Set(i.remoteUnion(for: g)) == expected)
            }
        }
    }
}

/// SplitMix64: seeded, reproducible random tests in this target.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
