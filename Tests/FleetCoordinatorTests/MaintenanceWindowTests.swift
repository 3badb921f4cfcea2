import Foundation
import Testing
@testable import FleetCoordinator

/// Maintenance windows on a mock clock (issue #13): each row is a set of windows, an instant in
/// UTC, and whether a window is open then and until when, or when the next opens. The instants
/// were worked out by hand from the zones' rules (2025: Europe changes on 30 March and 26 October
/// at 01:00 UTC, New York on 9 March and 2 November at 02:00 local; Kolkata never).
@Suite struct MaintenanceWindowTests {
    /// Milliseconds since the epoch of an ISO 8601 UTC time ("2025-06-14T00:30:00Z").
    static func ms(_ iso: String) -> UInt64 {
        UInt64(ISO8601DateFormatter().date(from: iso)!.timeIntervalSince1970 * 1000)
    }

    static func w(_ days: [String], _ start: String, _ end: String, _ zone: String) -> MaintenanceWindow {
        try! MaintenanceWindow(days: days, start: start, end: end, timezone: zone, field: "test")
    }

    enum Expect: Sendable {
        case open(until: String)
        case closed(opens: String)
    }

    struct Row: CustomTestStringConvertible, Sendable {
        let name: String
        let windows: [MaintenanceWindow]
        let at: String
        let expect: Expect
        var testDescription: String { name }
    }

    static let paris = w(["sat", "sun"], "01:00", "05:00", "Europe/Paris")

    static let rows: [Row] = [
        Row(name: "Paris summer: open inside, closing at 05:00 CEST", windows: [paris], at: "2025-06-14T00:30:00Z",
            expect: .open(until: "2025-06-14T03:00:00Z")),
        Row(name: "Paris summer: closed on Friday, opening Saturday 01:00 CEST", windows: [paris], at: "2025-06-13T12:00:00Z",
            expect: .closed(opens: "2025-06-13T23:00:00Z")),
        Row(name: "Paris winter: the same window is an hour later in UTC", windows: [paris], at: "2025-01-10T12:00:00Z",
            expect: .closed(opens: "2025-01-11T00:00:00Z")),
        Row(name: "end is exclusive: at 05:00 the window is closed", windows: [paris], at: "2025-06-14T03:00:00Z",
            expect: .closed(opens: "2025-06-14T23:00:00Z")),
        Row(name: "Paris spring-forward: 01:00 CET to 05:00 CEST is three real hours", windows: [paris], at: "2025-03-30T02:59:59Z",
            expect: .open(until: "2025-03-30T03:00:00Z")),
        Row(name: "Paris spring-forward: a start in the gap (02:30) opens when the gap ends, 03:00 CEST",
            windows: [w(["sun"], "02:30", "04:00", "Europe/Paris")], at: "2025-03-30T00:30:00Z",
            expect: .closed(opens: "2025-03-30T01:00:00Z")),
        Row(name: "Paris spring-forward: open from the gap's end to 04:00 CEST",
            windows: [w(["sun"], "02:30", "04:00", "Europe/Paris")], at: "2025-03-30T01:00:00Z",
            expect: .open(until: "2025-03-30T02:00:00Z")),
        Row(name: "Paris fall-back: a start in the repeated hour opens at its first pass (02:15 CEST)",
            windows: [w(["sun"], "02:15", "05:00", "Europe/Paris")], at: "2025-10-26T00:00:00Z",
            expect: .closed(opens: "2025-10-26T00:15:00Z")),
        Row(name: "Paris fall-back: the clock reading 02:10 again does not close it; closes 05:00 CET",
            windows: [w(["sun"], "02:15", "05:00", "Europe/Paris")], at: "2025-10-26T01:10:00Z",
            expect: .open(until: "2025-10-26T04:00:00Z")),
        Row(name: "Paris fall-back: an end in the repeated hour closes at its first pass and does not reopen",
            windows: [w(["sun"], "01:30", "02:30", "Europe/Paris")], at: "2025-10-26T01:15:00Z",
            expect: .closed(opens: "2025-11-02T00:30:00Z")),
        Row(name: "New York spring-forward: 01:00 EST to 03:30 EDT", windows: [w(["sun"], "01:00", "03:30", "America/New_York")],
            at: "2025-03-09T07:15:00Z", expect: .open(until: "2025-03-09T07:30:00Z")),
        Row(name: "New York spring-forward: a window wholly in the gap does not happen that day",
            windows: [w(["sun"], "02:00", "02:59", "America/New_York")], at: "2025-03-09T06:59:00Z",
            expect: .closed(opens: "2025-03-16T06:00:00Z")),
        Row(name: "New York fall-back: 01:00-01:30 happens once, in EDT", windows: [w(["sun"], "01:00", "01:30", "America/New_York")],
            at: "2025-11-02T06:10:00Z", expect: .closed(opens: "2025-11-09T06:00:00Z")),
        Row(name: "New York fall-back: open during the first pass", windows: [w(["sun"], "01:00", "01:30", "America/New_York")],
            at: "2025-11-02T05:10:00Z", expect: .open(until: "2025-11-02T05:30:00Z")),
        Row(name: "Kolkata across midnight: Friday's window is open early Saturday", windows: [w(["fri"], "22:00", "02:00", "Asia/Kolkata")],
            at: "2025-06-13T19:30:00Z", expect: .open(until: "2025-06-13T20:30:00Z")),
        Row(name: "Kolkata across midnight: Saturday 23:00 is not a window day", windows: [w(["fri"], "22:00", "02:00", "Asia/Kolkata")],
            at: "2025-06-14T17:30:00Z", expect: .closed(opens: "2025-06-20T16:30:00Z")),
        Row(name: "Kolkata across midnight: a minute before Friday 22:00", windows: [w(["fri"], "22:00", "02:00", "Asia/Kolkata")],
            at: "2025-06-13T16:29:00Z", expect: .closed(opens: "2025-06-13T16:30:00Z")),
        Row(name: "Paris across midnight over the spring-forward night: 23:00 CET to 03:00 CEST",
            windows: [w(["sat"], "23:00", "03:00", "Europe/Paris")], at: "2025-03-29T22:00:00Z",
            expect: .open(until: "2025-03-30T01:00:00Z")),
        Row(name: "24:00 ends at the next midnight", windows: [w(["sat"], "20:00", "24:00", "Asia/Kolkata")],
            at: "2025-06-14T18:29:00Z", expect: .open(until: "2025-06-14T18:30:00Z")),
        Row(name: "back-to-back windows are one stretch", windows: [w(["sat"], "01:00", "03:00", "Europe/Paris"), w(["sat"], "03:00", "05:00", "Europe/Paris")],
            at: "2025-06-14T00:00:00Z", expect: .open(until: "2025-06-14T03:00:00Z")),
        Row(name: "overlapping windows in two zones are one stretch",
            windows: [w(["sat"], "01:00", "05:00", "Europe/Paris"), w(["fri"], "23:00", "01:00", "America/New_York")],
            at: "2025-06-14T02:00:00Z", expect: .open(until: "2025-06-14T05:00:00Z")),
    ]

    @Test(arguments: rows)
    func window(_ row: Row) {
        let hours = MaintenanceWindows(row.windows)
        switch row.expect {
        case .open(let until): #expect(hours.state(atMs: Self.ms(row.at)) == .open(closesAtMs: Self.ms(until)))
        case .closed(let opens): #expect(hours.state(atMs: Self.ms(row.at)) == .closed(opensAtMs: Self.ms(opens)))
        }
    }

    struct CutoffRow: CustomTestStringConvertible, Sendable {
        let name: String
        let windows: [MaintenanceWindow]
        let cutoffSeconds: Int
        let from: String
        /// nil: never.
        let earliest: String?
        var testDescription: String { name }
    }

    static let cutoffRows: [CutoffRow] = [
        CutoffRow(name: "no windows: now", windows: [], cutoffSeconds: 3600, from: "2025-06-14T00:30:00Z", earliest: "2025-06-14T00:30:00Z"),
        CutoffRow(name: "61 minutes left, cutoff 60: now", windows: [paris], cutoffSeconds: 3600, from: "2025-06-14T01:59:00Z",
                  earliest: "2025-06-14T01:59:00Z"),
        CutoffRow(name: "exactly 60 minutes left, cutoff 60: the next window", windows: [paris], cutoffSeconds: 3600,
                  from: "2025-06-14T02:00:00Z", earliest: "2025-06-14T23:00:00Z"),
        CutoffRow(name: "closed: the next opening", windows: [paris], cutoffSeconds: 3600, from: "2025-06-12T00:00:00Z",
                  earliest: "2025-06-13T23:00:00Z"),
        CutoffRow(name: "a window not longer than the cutoff never lets a host start", windows: [paris], cutoffSeconds: 4 * 3600,
                  from: "2025-06-12T00:00:00Z", earliest: nil),
        CutoffRow(name: "the short spring-forward window is skipped for a long cutoff, the next Sunday is not",
                  windows: [w(["sun"], "02:30", "04:00", "Europe/Paris")], cutoffSeconds: 3600 + 60,
                  from: "2025-03-30T00:00:00Z", earliest: "2025-04-06T00:30:00Z"),
    ]

    @Test(arguments: cutoffRows)
    func cutoff(_ row: CutoffRow) {
        let hours = MaintenanceWindows(row.windows)
        #expect(hours.earliestStart(fromMs: Self.ms(row.from), cutoffSeconds: row.cutoffSeconds) == row.earliest.map(Self.ms))
        #expect(hours.allowsStart(atMs: Self.ms(row.from), cutoffSeconds: row.cutoffSeconds) == (row.earliest == row.from))
    }

    @Test("every instant of a year in three zones agrees with a minute-by-minute reading of the local clock")
    func agreesWithTheLocalClock() {
        // Property check against Foundation's Calendar: at each sampled instant, the window is open
        // exactly when the zone's clock reads within it on a window day (away from DST nights,
        // where our rule is deliberately stricter than the reading of the clock).
        for zone in ["Europe/Paris", "America/New_York", "Asia/Kolkata"] {
            let window = Self.w(["mon", "wed", "sat"], "21:30", "03:15", zone)
            let hours = MaintenanceWindows([window])
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: zone)!
            var t = Self.ms("2025-01-01T00:00:00Z")
            let end = Self.ms("2026-01-01T00:00:00Z")
            while t < end {
                defer { t += 47 * 60_000 }  // 47 minutes: walks across every minute of the hour over time
                let date = Date(timeIntervalSince1970: TimeInterval(t / 1000))
                let c = calendar.dateComponents([.hour, .minute, .weekday], from: date)
                // Skip hours next to a DST change.
                let zoneNow = calendar.timeZone
                if zoneNow.secondsFromGMT(for: date) != zoneNow.secondsFromGMT(for: date.addingTimeInterval(-6 * 3600))
                    || zoneNow.secondsFromGMT(for: date) != zoneNow.secondsFromGMT(for: date.addingTimeInterval(6 * 3600)) { continue }
                let minute = c.hour! * 60 + c.minute!
                let weekday = (c.weekday! + 5) % 7  // Calendar: 1 = Sunday; ours: 0 = Monday
                let yesterday = (weekday + 6) % 7
                let windowDays: Set<Int> = [0, 2, 5]
                let expected = (windowDays.contains(weekday) && minute >= 21 * 60 + 30) || (windowDays.contains(yesterday) && minute < 3 * 60 + 15)
                guard case .open = hours.state(atMs: t) else {
                    #expect(!expected, "\(zone) \(date)")
                    continue
                }
                #expect(expected, "\(zone) \(date)")
            }
        }
    }
}
