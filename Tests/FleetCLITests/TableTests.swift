import Foundation
import Testing

@testable import FleetCLI

/// Tables and number formats, checked as exact text.
@Suite struct TableTests {
    @Test func columnsPadToTheWidestCellAndNumbersAlignRight() {
        var t = Table([.init("NAME"), .init("N", .right), .init("NOTE")])
        t.add(["gw-1", "5", "ok"])
        t.add(["gateway-22", "1234", "-"])
        #expect(t.render() == """
            NAME           N  NOTE
            gw-1           5  ok
            gateway-22  1234  -
            """)
    }

    @Test func longCellsAreCutAndNewlinesFlattened() {
        var t = Table([.init("A", maxWidth: 6), .init("B")])
        t.add(["abcdefghij", "line1\nline2"])
        #expect(t.render() == "A       B\nabcde…  line1 ⏎ line2")
    }

    @Test func fieldsAlignTheirValues() {
        var f = Fields()
        f.add("gateway", "gw-1")
        f.add("mqtt address", nil)
        #expect(f.render() == "gateway:      gw-1\nmqtt address: -")
    }

    @Test func counts() {
        let counts: [UInt64] = [0, 999, 1000, 1234, 9_999, 15_000, 999_999, 3_400_000, 2_000_000_000]
        #expect(counts.map { Format.count($0) } == ["0", "999", "1.0k", "1.2k", "10.0k", "15k", "999k", "3.4M", "2.0G"])
    }

    @Test func bytes() {
        let sizes: [UInt64] = [0, 1023, 1024, 1536, 10_485_760, 5_368_709_120]
        #expect(sizes.map { Format.bytes($0) } == ["0 B", "1023 B", "1.0 KiB", "1.5 KiB", "10 MiB", "5.0 GiB"])
    }

    @Test func durationsAndAges() {
        let spans: [UInt64] = [350, 2_100, 185_000, 7_500_000]
        #expect(spans.map { Format.duration(ms: $0) } == ["350ms", "2.1s", "3m05s", "2h05m"])
        let now: UInt64 = 1_000_000_000
        #expect(Format.ago(nil, now: now) == "-" && Format.ago(0, now: now) == "-")
        #expect(Format.ago(now - 3_000, now: now) == "3s ago")
        #expect(Format.ago(now - 300_000, now: now) == "5m ago")
        #expect(Format.ago(now - 7_200_000, now: now) == "2h ago")
        #expect(Format.ago(now - 4 * 86_400_000, now: now) == "4d ago")
        #expect(Format.ago(now + 300_000, now: now) == "in 5m")
    }

    @Test func wallTimeIsUTC() {
        #expect(Format.time(0) == "1970-01-01 00:00:00Z")
        #expect(Format.time(1_796_684_555_254) == "2026-12-07 23:02:35Z")
        #expect(Format.time(nil) == "-")
        #expect(Format.labels(["site": "paris", "rack": "4"]) == "rack=4,site=paris" && Format.labels([:]) == "-")
    }
}
