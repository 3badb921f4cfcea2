import FleetRuntime
import Testing

@Suite("System resources and secure random")
struct SystemResourcesTests {
    @Test("open file limit is raised and stays raised")
    func openFileLimit() {
        let limit = SystemResources.raiseOpenFileLimit()
        #expect(limit > 0)
        #expect(SystemResources.raiseOpenFileLimit() == limit)
    }

    @Test("resident memory is read from /proc/self/statm")
    func residentMemory() {
        let rss = SystemResources.residentMemoryBytes()
        #expect(rss > 1 << 20)
        #expect(rss < 1 << 40)
    }

    @Test("RAND_bytes gives the requested count and differs between calls")
    func secureRandom() {
        #expect(SecureRandom.bytes(0) == [])
        let a = SecureRandom.bytes(32)
        let b = SecureRandom.bytes(32)
        #expect(a.count == 32)
        #expect(a != b)
        #expect(SecureRandom.bytes(100_000).count == 100_000)
    }
}
