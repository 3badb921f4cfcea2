/// Which clients of a draining gateway to start moving now (`POST /v1/gateways/{id}/drain`): a
/// token bucket at `rate` clients per second, at most `maxInFlight` of the drain's handovers at
/// once, in the order the gateway listed its sessions. Pure, single-threaded; the sweep calls
/// `due` with the loop clock and the fabric starts the handovers.
public struct DrainScheduler: Sendable {
    public let gateway: String
    /// Clients per second (> 0).
    public private(set) var rate: Double
    public let maxInFlight: Int
    private var pending: [String] = []
    private var next = 0
    private var known: Set<String> = []
    private var tokens: Double = 1
    private var lastMs: UInt64
    private var listedAtMs: UInt64
    /// Handovers started, and how many of them ended moved or aborted.
    public private(set) var started = 0
    public internal(set) var moved = 0
    public internal(set) var failed = 0
    /// The gateway said its list is complete.
    public private(set) var listComplete = false
    /// Clients in the current list (since the last `relist`), moved or not.
    private var listedThisRound = 0

    /// The gateway's latest complete list was empty: it holds no session (what a maintenance
    /// drain waits for).
    public var isEmptied: Bool { listComplete && listedThisRound == 0 }

    public init(gateway: String, rate: Double, maxInFlight: Int, nowMs: UInt64) {
        self.gateway = gateway
        self.rate = rate
        self.maxInFlight = max(1, maxInFlight)
        self.lastMs = nowMs
        self.listedAtMs = nowMs
    }

    public mutating func setRate(_ rate: Double) { self.rate = rate }

    /// How long since the gateway was last asked for its list.
    public func sinceListMs(_ nowMs: UInt64) -> UInt64 { nowMs &- listedAtMs }

    /// Clients the gateway listed; ones already listed are not queued twice.
    public mutating func add(clients: [String], last: Bool) {
        for c in clients where known.insert(c).inserted { pending.append(c) }
        listedThisRound += clients.count
        if last { listComplete = true }
    }

    /// A new list is coming (the gateway is asked again for what it still holds).
    public mutating func relist(nowMs: UInt64 = 0) {
        listedAtMs = nowMs
        listComplete = false
        listedThisRound = 0
        known = Set(pending[next...])
    }

    public var waiting: Int { pending.count - next }

    /// The clients to start now, given `inFlight` of this drain's handovers still running.
    public mutating func due(nowMs: UInt64, inFlight: Int) -> [String] {
        let elapsed = Double(nowMs &- lastMs) / 1000
        lastMs = nowMs
        // At most one second's worth can be saved up: a pause does not become a burst.
        tokens = min(max(rate, 1), tokens + elapsed * rate)
        var out: [String] = []
        while next < pending.count && tokens >= 1 && inFlight + out.count < maxInFlight {
            out.append(pending[next])
            next += 1
            tokens -= 1
            started += 1
        }
        if next > 4_096 && next * 2 > pending.count {   // drop what was handed out
            pending.removeFirst(next)
            next = 0
        }
        return out
    }
}
