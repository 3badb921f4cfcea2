/// Jittered exponential reconnect delays: attempt n (from 0) waits a delay drawn from
/// [d/2, d] with d = min(max, min * 2^n). Bounded by `maxMs` whatever the attempt count. Pure.
struct Backoff: Sendable, Equatable {
    var minMs: UInt64
    var maxMs: UInt64

    /// `unit` is a random draw in [0, 1] (injected so tests are deterministic).
    func delay(attempt: Int, unit: Double) -> UInt64 {
        let shift = min(attempt, 40)
        let (scaled, overflow) = minMs.multipliedReportingOverflow(by: UInt64(1) << UInt64(shift))
        let ceiling = overflow ? maxMs : min(maxMs, scaled)
        let floor = ceiling / 2
        let u = min(max(unit, 0), 1)
        return floor + UInt64(Double(ceiling - floor) * u)
    }
}
