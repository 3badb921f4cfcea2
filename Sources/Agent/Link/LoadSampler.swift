import FleetProtocol

/// Turns the broker's monotonic counters into the per-second rates of a LOAD_REPORT
/// (Protocol/agent-coordinator.md §5.5): each sample covers the interval since the previous one. Pure: the
/// caller passes the loop's clock and the counters.
struct LoadSampler {
    /// Monotonic totals at one instant.
    struct Totals: Equatable {
        var messagesIn: UInt64 = 0
        var messagesOut: UInt64 = 0
        var bytesIn: UInt64 = 0
        var bytesOut: UInt64 = 0
    }

    /// One client's traffic in the interval (messages and payload bytes it published).
    struct Talker: Equatable {
        var clientId: String
        var messages: UInt32
        var bytes: UInt32
    }

    private var last: Totals
    private var lastAtMs: UInt64
    /// The messages-in rate of the last report (0 before the first): AVAILABILITY carries it.
    private(set) var lastMessagesInPerSecond: UInt32 = 0

    init(startMs: UInt64, totals: Totals) {
        last = totals
        lastAtMs = startMs
    }

    /// Frame bytes besides the talkers' client ids: frame header, the fixed fields, the list count
    /// and each talker's 14 fixed bytes are counted against `maxFrameBytes` (generously).
    static let fixedFrameBytes = 64
    static let perTalkerBytes = 14

    /// The report for the interval that ends now; the next one starts here. An interval shorter
    /// than 1 ms counts as 1 ms. A counter that went backwards (it never should) reads as 0.
    /// Top talkers: busiest first, at most `FleetLimits.maxTopTalkers`, and only as many as fit
    /// in `maxFrameBytes` (client ids may be 65,535 bytes long).
    mutating func report(nowMs: UInt64, wallClockMs: UInt64, totals: Totals, connections: Int,
                         talkers: [Talker], maxFrameBytes: Int, relayedBytes: UInt64 = 0) -> FleetFrame.LoadReport {
        let elapsed = max(1, nowMs &- lastAtMs)
        func rate(_ now: UInt64, _ then: UInt64) -> UInt64 {
            now >= then ? (now - then).multipliedReportingOverflow(by: 1000).partialValue / elapsed : 0
        }
        var budget = maxFrameBytes - Self.fixedFrameBytes
        let sorted = talkers.sorted { ($0.messages, $0.bytes, $1.clientId) > ($1.messages, $1.bytes, $0.clientId) }
        var fitting: [Talker] = []
        for t in sorted.prefix(FleetLimits.maxTopTalkers) {
            let size = Self.perTalkerBytes + t.clientId.utf8.count
            guard size <= budget else { break }
            budget -= size
            fitting.append(t)
        }
        let top = fitting.map { FleetFrame.TopTalker(clientId: $0.clientId,
                                        messagesPerSecond: UInt32(clamping: UInt64($0.messages) * 1000 / elapsed),
                                        bytesPerSecond: UInt64($0.bytes) * 1000 / elapsed) }
        let frame = FleetFrame.LoadReport(
            timestampMs: wallClockMs, connections: UInt32(clamping: connections),
            messagesInPerSecond: UInt32(clamping: rate(totals.messagesIn, last.messagesIn)),
            messagesOutPerSecond: UInt32(clamping: rate(totals.messagesOut, last.messagesOut)),
            bytesInPerSecond: rate(totals.bytesIn, last.bytesIn),
            bytesOutPerSecond: rate(totals.bytesOut, last.bytesOut),
            topTalkers: top, relayedBytes: relayedBytes)
        last = totals
        lastAtMs = nowMs
        lastMessagesInPerSecond = frame.messagesInPerSecond
        return frame
    }
}
