import Foundation

/// How numbers, sizes and times read in tables. Pure; `now` is passed in so tests are stable.
public enum Format {
    /// 0, 999, 1.2k, 15k, 3.4M, 2.0G: a rate or count that fits a narrow column.
    public static func count(_ n: UInt64) -> String {
        let units: [(Double, String)] = [(1e9, "G"), (1e6, "M"), (1e3, "k")]
        for (scale, suffix) in units where Double(n) >= scale {
            let v = Double(n) / scale
            return (v < 10 ? String(format: "%.1f", v) : String(Int(v))) + suffix
        }
        return String(n)
    }

    /// 512 B, 1.5 KiB, 20 MiB.
    public static func bytes(_ n: UInt64) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB"]
        guard n >= 1024 else { return "\(n) B" }
        var v = Double(n) / 1024
        var i = 0
        while v >= 1024 && i < units.count - 1 {
            v /= 1024
            i += 1
        }
        return (v < 10 ? String(format: "%.1f", v) : String(Int(v))) + " " + units[i]
    }

    /// 350ms, 2.1s, 3m05s.
    public static func duration(ms: UInt64) -> String {
        if ms < 1000 { return "\(ms)ms" }
        if ms < 60_000 { return String(format: "%.1fs", Double(ms) / 1000) }
        let s = ms / 1000
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }

    /// "3s ago", "5m ago", "2h ago", "4d ago"; "-" for none; "in 5m" for a time ahead.
    public static func ago(_ ms: UInt64?, now: UInt64) -> String {
        guard let ms, ms > 0 else { return "-" }
        if ms > now { return "in " + span(ms - now) }
        return span(now - ms) + " ago"
    }

    private static func span(_ ms: UInt64) -> String {
        let s = ms / 1000
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" }
        if s < 86_400 { return "\(s / 3600)h" }
        return "\(s / 86_400)d"
    }

    /// UTC wall time, to the second: 2026-12-07 22:51:03Z. "-" for none.
    public static func time(_ ms: UInt64?) -> String {
        guard let ms else { return "-" }
        var t = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02d %02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// `k=v,k2=v2` sorted by key; "-" for none.
    public static func labels(_ labels: [String: String]?) -> String {
        guard let labels, !labels.isEmpty else { return "-" }
        return labels.keys.sorted().map { "\($0)=\(labels[$0]!)" }.joined(separator: ",")
    }

    public static func nowMs() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1000) }
}
