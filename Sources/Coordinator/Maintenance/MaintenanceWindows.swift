/// A policy's windows taken together: is one open at an instant, when does it close, when may a
/// host next start (with `cutoff_s`). Overlapping or touching windows, also from different time
/// zones, count as one stretch: a host may start in the second of two back-to-back windows
/// without a gap between them. No windows: always open.
///
/// Times are wall-clock milliseconds since the Unix epoch (the coordinator's `wallClock`), so a
/// mock clock in a test is a plain number.
public struct MaintenanceWindows: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        /// Open until `closesAtMs` (nil: no windows, open for good).
        case open(closesAtMs: UInt64?)
        /// Closed until `opensAtMs`.
        case closed(opensAtMs: UInt64)
    }

    public let windows: [MaintenanceWindow]

    public init(_ windows: [MaintenanceWindow]) { self.windows = windows }

    /// Every window recurs weekly, so eight local days ahead always reach the next opening of
    /// each; the day before covers a window that started yesterday and crosses midnight.
    static let daysBehind: Int64 = 1
    static let daysAhead: Int64 = 8

    public func state(atMs nowMs: UInt64) -> State {
        guard !windows.isEmpty else { return .open(closesAtMs: nil) }
        let now = Int64(nowMs / 1000)
        let stretches = self.stretches(around: now)
        if let current = stretches.first(where: { $0.contains(now) }) { return .open(closesAtMs: UInt64(current.upperBound) * 1000) }
        // Weekly recurrence and a non-empty day list put one ahead (unless a window's only day
        // fell wholly inside a DST gap this week: then the week after).
        if let next = stretches.first(where: { $0.lowerBound > now }) { return .closed(opensAtMs: UInt64(next.lowerBound) * 1000) }
        return .closed(opensAtMs: earliestStart(fromMs: nowMs + 7 * 86_400_000, cutoffSeconds: 0) ?? .max)
    }

    /// The earliest instant at or after `fromMs` when a host may start: inside a window and more
    /// than `cutoffSeconds` before its end. nil when no window of the coming weeks is longer than
    /// the cutoff (the run can never start a host).
    public func earliestStart(fromMs: UInt64, cutoffSeconds: Int) -> UInt64? {
        guard !windows.isEmpty else { return fromMs }
        let from = Int64(fromMs / 1000)
        var around = from
        // Two weeks ahead: past that, no window is long enough for the cutoff.
        for _ in 0..<2 {
            for stretch in stretches(around: around) where stretch.upperBound > from {
                let earliest = max(stretch.lowerBound, from)
                if stretch.upperBound - earliest > Int64(cutoffSeconds) {
                    return earliest == from ? fromMs : UInt64(earliest) * 1000
                }
            }
            around += 7 * 86_400
        }
        return nil
    }

    /// May a host start at `nowMs`?
    public func allowsStart(atMs nowMs: UInt64, cutoffSeconds: Int) -> Bool {
        earliestStart(fromMs: nowMs, cutoffSeconds: cutoffSeconds) == nowMs
    }

    /// Each window's occurrences from a day before `second` to eight days after, as instants,
    /// sorted and merged where they overlap or touch.
    func stretches(around second: Int64) -> [Range<Int64>] {
        var all: [Range<Int64>] = []
        for window in windows {
            let clock = ZonedClock(zone: window.timeZone)
            let today = clock.localDay(at: second)
            for day in (today - Self.daysBehind)...(today + Self.daysAhead)
            where window.days.contains(MaintenanceWindow.Weekday(dayNumber: day)) {
                let open = clock.firstInstant(day: day, minute: window.startMinute)
                let close = clock.firstInstant(day: window.crossesMidnight ? day + 1 : day, minute: window.endMinute)
                if close > open { all.append(open..<close) }
            }
        }
        all.sort { $0.lowerBound < $1.lowerBound }
        var merged: [Range<Int64>] = []
        for r in all {
            if let last = merged.last, r.lowerBound <= last.upperBound {
                merged[merged.count - 1] = last.lowerBound..<max(last.upperBound, r.upperBound)
            } else {
                merged.append(r)
            }
        }
        return merged
    }
}
