import Foundation

/// Wall-clock arithmetic in one IANA zone, in whole seconds since the Unix epoch. Only the zone's
/// UTC offset at an instant comes from Foundation; days, weekdays and the mapping of a local time
/// back to an instant are worked out here, so the DST rules (gap, repeat) are ours and tested,
/// not whatever `Calendar`'s matching policy does on a given platform.
struct ZonedClock {
    let zone: TimeZone

    func offset(at second: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(second))))
    }

    /// The local day number (days since 1970-01-01 on the zone's calendar) of an instant.
    func localDay(at second: Int64) -> Int64 {
        let local = second + offset(at: second)
        return local >= 0 ? local / 86_400 : (local - 86_399) / 86_400
    }

    /// The first instant at which the zone's clock reads `minute` (after local midnight of `day`)
    /// or later: in a fall-back repeat the first pass; in a spring-forward gap the end of the gap.
    func firstInstant(day: Int64, minute: Int) -> Int64 {
        let local = day * 86_400 + Int64(minute) * 60
        // The offsets in force within a day either side: at most one transition between them in
        // every zone today (no zone changes its offset twice within two days).
        let offsets = Set([local - 86_400, local, local + 86_400].map { offset(at: $0) })
        let matching = offsets.map { local - $0 }.filter { offset(at: $0) == local - $0 }
        if let first = matching.min() { return first }
        // The gap: no instant shows `local`. Before the transition the clock reads less, after it
        // more; the answer is the transition itself, found by bisection (offsets change on whole
        // seconds).
        var before = local - offsets.max()!, after = local - offsets.min()!
        let offsetBefore = offset(at: before)
        while after - before > 1 {
            let mid = before + (after - before) / 2
            if offset(at: mid) == offsetBefore { before = mid } else { after = mid }
        }
        return after
    }
}
