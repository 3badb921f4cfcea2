import Foundation
import Testing
@testable import FleetRuntime

/// `SystemResources.reserveDescriptorTable` grows the table at once (FDSize in /proc/self/status).
@Suite struct DescriptorTableTests {
    static func tableSize() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("FDSize:") {
            return Int(line.dropFirst("FDSize:".count).trimmingCharacters(in: .whitespaces))
        }
        return nil
    }

    @Test func theTableIsSizedUpFront() throws {
        let limit = SystemResources.raiseOpenFileLimit()
        let want = min(limit, 16_384)
        try #require(want > 1024, "needs an open file limit above 1024 (have \(limit))")
        #expect(SystemResources.reserveDescriptorTable(want))
        #expect((Self.tableSize() ?? 0) >= want)
        #expect(!SystemResources.reserveDescriptorTable(limit + 1))  // beyond the limit: refused, nothing grows
    }
}
