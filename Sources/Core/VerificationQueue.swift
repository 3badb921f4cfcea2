/// Our own bounded queue in front of the worker threads that verify passwords.
///
/// libuv's pool queue is unbounded and cannot be inspected: 500 abandoned logins were hashed one
/// after another (~23 s of both cores) and a correct login waited behind them. Here at most
/// `bounds.running` verifications use workers at once, at most `bounds.queued` more wait (delayed
/// or ready), and one source address holds at most `bounds.perAddress` of all of these, so a
/// single host cannot fill the queue for everybody; ready checks start one address at a time, in
/// turn, so a device waits behind one check per other address. What does not fit is refused at
/// once (server busy), which costs no hashing. The shell skips a ready job whose connection
/// closed before it would start.
///
/// Pure bookkeeping; the caller starts jobs and reports their end with `finish`.
public struct VerificationQueue<Job> {
    public struct Bounds: Sendable, Equatable {
        public var running: Int
        public var queued: Int
        public var perAddress: Int

        public init(running: Int, queued: Int, perAddress: Int) {
            self.running = max(1, running); self.queued = max(0, queued); self.perAddress = max(1, perAddress)
        }
    }

    public let bounds: Bounds
    /// Jobs ready to start per address, oldest first (a delayed job joins when its delay ends).
    private var ready: [String: [Job]] = [:]
    /// Addresses with ready jobs, served in turn: a device's check waits behind at most one
    /// check of each other address, not behind everything one attacker queued before it.
    /// Both are bounded by `bounds.queued` (arrays of at most that many elements).
    private var turns: [String] = []
    /// Admitted jobs not yet running: delayed ones plus `ready`.
    public private(set) var queued = 0
    public private(set) var running = 0
    private var perAddress: [String: Int] = [:]

    public init(bounds: Bounds) { self.bounds = bounds }

    /// Reserves a place for one verification from `address`; false = refuse (server busy).
    public mutating func admit(address: String) -> Bool {
        let mine = perAddress[address, default: 0]
        guard queued + running < bounds.running + bounds.queued, mine < bounds.perAddress else { return false }
        perAddress[address] = mine + 1
        queued += 1
        return true
    }

    /// An admitted job whose delay (if any) is over: it may start once a worker is free.
    public mutating func enqueue(_ job: Job, address: String) {
        if ready[address] == nil { turns.append(address) }
        ready[address, default: []].append(job)
    }

    /// The next job to start if a worker is free, taking addresses in turn; it counts as running
    /// until `finish`.
    public mutating func next() -> (address: String, job: Job)? {
        guard running < bounds.running, !turns.isEmpty else { return nil }
        let address = turns.removeFirst()
        var jobs = ready.removeValue(forKey: address) ?? []
        let job = jobs.removeFirst()
        if !jobs.isEmpty {
            ready[address] = jobs
            turns.append(address)
        }
        queued -= 1
        running += 1
        return (address, job)
    }

    /// Ends an admitted job: `wasRunning` after `next` returned it (finished or skipped), false
    /// for one dropped before it was ready (its connection closed during the delay).
    public mutating func finish(address: String, wasRunning: Bool) {
        if wasRunning { running -= 1 } else { queued -= 1 }
        let mine = perAddress[address, default: 1] - 1
        perAddress[address] = mine > 0 ? mine : nil
    }

    /// Addresses with something admitted (bounded by queued + running).
    public var addressCount: Int { perAddress.count }
}
