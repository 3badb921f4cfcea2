/// Failed password logins per source address (an IP, never IP:port), and the delay the next
/// verification from that address waits before it may use a worker thread.
///
/// Why per address and not per user: slowing a *user* lets anybody lock a device out by guessing
/// its name; slowing the *address* that keeps guessing costs only that address. A correct login
/// from another address is never delayed, and nobody is ever locked out: the delay is capped.
///
/// Pure: time is the caller's monotonic milliseconds (`now`), so tests drive it with a mock clock.
/// Bounded: at most `capacity` addresses; when full, forgotten entries go first, then the one
/// whose last failure is oldest.
public struct LoginFailureTable: Sendable {
    public struct Policy: Sendable, Equatable {
        /// Failures before any delay: a device with a stale password retries a couple of times.
        /// With 2, the third verification waits `baseDelayMs`, the fourth twice that, and so on.
        public var freeFailures: Int = 2
        /// Delay after the first counted failure; doubled per further failure.
        public var baseDelayMs: UInt64 = 100
        /// The cap: a real user behind the same address waits at most this long.
        public var maxDelayMs: UInt64 = 5_000
        /// Every quiet period without a failure halves the count; a count of 0 is forgotten.
        public var decayMs: UInt64 = 60_000
        /// Addresses remembered at most (an attacker with many addresses cannot grow the table).
        public var capacity: Int = 10_000

        public init() {}
    }

    private struct Entry: Sendable {
        var failures: Int
        var lastFailure: UInt64
    }

    public let policy: Policy
    private var entries: [String: Entry] = [:]

    public init(policy: Policy = Policy()) { self.policy = policy }

    /// Addresses currently remembered.
    public var count: Int { entries.count }

    /// Failures that still count for `address` at `now`, after decay.
    public func failures(of address: String, now: UInt64) -> Int {
        guard let e = entries[address] else { return 0 }
        return decayed(e, now: now)
    }

    /// How long the next verification from `address` waits (0 = start at once).
    public func delay(for address: String, now: UInt64) -> UInt64 {
        let f = failures(of: address, now: now)
        guard f >= policy.freeFailures, f > 0 else { return 0 }
        let doublings = min(f - policy.freeFailures, 40)  // beyond 40 the cap has long won
        let (delay, overflow) = policy.baseDelayMs.multipliedReportingOverflow(by: UInt64(1) << UInt64(doublings))
        return overflow ? policy.maxDelayMs : min(delay, policy.maxDelayMs)
    }

    public mutating func recordFailure(_ address: String, now: UInt64) {
        let f = failures(of: address, now: now)
        if entries[address] == nil, entries.count >= policy.capacity { evict(now: now) }
        entries[address] = Entry(failures: min(f + 1, 1_000), lastFailure: now)
    }

    /// A verified password does not reset the count: an attacker who owns one account could
    /// otherwise clear its address between guesses at another. The decay clears it instead.
    public mutating func recordSuccess(_ address: String, now: UInt64) {
        if let e = entries[address], decayed(e, now: now) == 0 { entries[address] = nil }
    }

    private func decayed(_ e: Entry, now: UInt64) -> Int {
        let quiet = now >= e.lastFailure ? now - e.lastFailure : 0
        let halvings = policy.decayMs == 0 ? 64 : quiet / policy.decayMs
        return halvings >= 63 ? 0 : e.failures >> Int(halvings)
    }

    /// Makes room for one entry: drops every forgotten one, or else the stalest.
    private mutating func evict(now: UInt64) {
        let before = entries.count
        entries = entries.filter { decayed($0.value, now: now) > 0 }
        guard entries.count == before, let stalest = entries.min(by: { $0.value.lastFailure < $1.value.lastFailure }) else { return }
        entries[stalest.key] = nil
    }
}

extension LoginFailureTable {
    /// The address part of a "host:port" or "[v6]:port" peer name: connections from one host
    /// use many ports, and the throttle is per host.
    public static func host(of peer: String) -> String {
        if peer.hasPrefix("["), let end = peer.firstIndex(of: "]") {
            return String(peer[peer.index(after: peer.startIndex)..<end])
        }
        if let colon = peer.lastIndex(of: ":"), peer.firstIndex(of: ":") == colon { return String(peer[..<colon]) }
        return peer
    }
}
