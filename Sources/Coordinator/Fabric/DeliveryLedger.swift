import FleetCore
import FleetProtocol

/// What each destination is still owed of each origin's QoS >= 1 forwards, and what every origin
/// may drop from its log (Protocol/agent-coordinator.md §5.10-5.12, issue #11). Pure, single-threaded (the loop
/// thread owns it); the fabric carries out what it returns.
///
/// One **stream** per (origin, destination): the sequences routed to that destination and not yet
/// acknowledged, in the origin's order. Destinations take an origin's forwards strictly in order
/// (they drop anything not above the highest already taken), so a stream is a FIFO: a cumulative
/// ack pops its front, and what a destination is owed is rebuilt from its own cursor (the
/// DELIVERY_ACKs it sends after HELLO) — no per-message state survives a restart, and none has to.
///
/// - A destination that is away keeps its streams (it is routed to through its durable
///   interest): the origin keeps those forwards in its log until it comes back. When it does,
///   `destinationConnected` says which origins must REPLAY from which sequence; the replay
///   reaches it in order, then new traffic follows. New forwards that arrive while a stream still
///   has unsent entries wait in the stream (the replay brings them), so nothing overtakes.
/// - The origin's DELIVERY_ACK: cumulative up to just below the lowest sequence any stream still
///   owes, and every sequence confirmed above that as selective acks (each told once). So the
///   origin's log keeps only what someone is owed, not everything since a destination left.
/// - Per destination a retention bound (messages, bytes, age): past it the oldest unsent entries
///   are dropped for that destination and counted; they no longer hold the origin.
public struct DeliveryLedger: Sendable {
    public struct Retention: Sendable, Equatable {
        public var maxMessages: Int
        public var maxBytes: Int
        public var maxAgeMs: UInt64
        public init(maxMessages: Int = CoordinatorLimits.defaultRetentionMessages,
                    maxBytes: Int = CoordinatorLimits.defaultRetentionBytes,
                    maxAgeMs: UInt64 = CoordinatorLimits.defaultRetentionAgeMs) {
            self.maxMessages = maxMessages
            self.maxBytes = maxBytes
            self.maxAgeMs = maxAgeMs
        }
    }

    /// What is held for one destination, over all origins, and what its bound dropped.
    public struct Held: Sendable, Equatable {
        public var messages = 0
        public var bytes = 0
        public var droppedMessages: UInt64 = 0
        public var droppedBytes: UInt64 = 0
        /// A drop since the destination last connected was already reported (logged once).
        var dropReported = false
    }

    struct Owed: Sendable {
        let sequence: UInt64
        let bytes: Int
        let atMs: UInt64
    }

    /// One (origin, destination) stream.
    struct Stream: Sendable {
        /// Routed and not acknowledged, ascending.
        var owed = RingBuffer<Owed>()
        /// The destination's cumulative acknowledgement of this origin.
        var acked: UInt64 = 0
        /// The highest sequence written to the destination's current connection.
        var sent: UInt64 = 0
        /// Nothing owed waits to be written: a new forward may go out at once without overtaking.
        var allSent: Bool { (owed.last?.sequence ?? 0) <= sent }
        /// The front is not on the wire: it may be dropped by the retention bound.
        var frontUnsent: Bool { owed.first.map { $0.sequence > sent } ?? false }
    }

    struct Origin: Sendable {
        var streams: [String: Stream] = [:]
        /// Sequence -> destinations still owing it (absent = none).
        var waiting: [UInt64: Int] = [:]
        /// Highest sequence routed as new in this coordinator's lifetime; lower ones are re-sends.
        var highest: UInt64 = 0
        /// Confirmed since the last acknowledgement (told once, as selective acks).
        var confirmed: [UInt64] = []
        var sentUpTo: UInt64 = 0
    }

    public let retention: Retention
    private var origins: [String: Origin] = [:]
    public private(set) var held: [String: Held] = [:]
    private var dirty: Set<String> = []

    public init(retention: Retention = Retention()) { self.retention = retention }

    /// Forwards held over all destinations (a forward owed to two counts twice).
    public var heldCount: Int { held.values.reduce(0) { $0 + $1.messages } }

    // MARK: Routing

    /// A FORWARD from `origin`. `candidates`: the gateways whose interest matches (connected or,
    /// through durable interest, away), never the origin. Returns the destinations to write it to
    /// now; a write that then fails must be reported (`notWritten`). QoS 0 is never held: it goes
    /// only to connected destinations with nothing of this origin waiting to be written.
    /// A retained QoS 0 forward makes the origin's cumulative acknowledgement due: the origin keeps
    /// it until covered, so a link that dies with it in flight sends it again.
    public mutating func route(origin: String, sequence: UInt64, qos: QoS, retain: Bool = false, bytes: Int, candidates: [String],
                               isConnected: (String) -> Bool, now: UInt64) -> [String] {
        var o = origins.removeValue(forKey: origin) ?? Origin()
        defer { origins[origin] = o }
        var out: [String] = []
        if qos == .atMostOnce {
            for d in candidates where isConnected(d) {
                if var s = o.streams[d] {
                    guard s.allSent, sequence > s.sent else { continue }
                    s.sent = sequence
                    o.streams[d] = s
                }
                out.append(d)
            }
            o.highest = max(o.highest, sequence)
            if retain {  // told at once (selective), even while someone holds the cumulative ack back
                o.confirmed.append(sequence)
                dirty.insert(origin)
            }
            return out
        }
        if sequence <= o.highest {
            // A re-send (the origin reconnected, or replays for a destination that came back):
            // only to the streams that still owe it, have not had it on this connection, and
            // have had everything owed before it (else it would overtake those: it comes again
            // with the replay that brings them; an origin never skips a logged forward).
            var owedBySomeone = false
            for (d, var s) in o.streams {
                guard let i = Self.index(of: sequence, in: s.owed) else { continue }
                owedBySomeone = true
                guard sequence > s.sent, isConnected(d), i == 0 || s.owed[i - 1].sequence <= s.sent else { continue }
                s.sent = sequence
                o.streams[d] = s
                out.append(d)
            }
            if !owedBySomeone { o.confirmed.append(sequence); dirty.insert(origin) }
            return out.sorted()
        }
        o.highest = sequence
        var owed = 0
        for d in candidates {
            // In place (take the stream out, put it back): a copy of a stream that holds an away
            // destination's backlog, once per forward, made routing quadratic in the backlog.
            var s = o.streams.removeValue(forKey: d) ?? Stream()
            defer { o.streams[d] = s }
            guard sequence > s.acked else { continue }  // it has this one already (after a restart)
            let writeNow = isConnected(d) && s.allSent
            s.owed.append(Owed(sequence: sequence, bytes: bytes, atMs: now))
            if writeNow { s.sent = sequence; out.append(d) }
            held[d, default: Held()].messages += 1
            held[d, default: Held()].bytes += bytes
            owed += 1
        }
        if owed > 0 {
            o.waiting[sequence] = owed
            for d in candidates where !isConnected(d) { enforceRetention(d, now: now, current: &o, currentId: origin) }
        } else {
            o.confirmed.append(sequence)
            dirty.insert(origin)
        }
        return out
    }

    /// A write `route` asked for did not happen (the destination's queue was full): the stream
    /// takes it as unsent again, so a later re-send reaches it.
    public mutating func notWritten(origin: String, destination: String, sequence: UInt64) {
        guard var s = origins[origin]?.streams[destination], s.sent >= sequence else { return }
        s.sent = sequence - 1
        origins[origin]?.streams[destination] = s
    }

    /// The destination can never take it (larger than it accepts): no longer owed, counted.
    public mutating func undeliverable(origin: String, destination: String, sequence: UInt64) {
        guard var o = origins.removeValue(forKey: origin) else { return }
        defer { origins[origin] = o }
        guard var s = o.streams.removeValue(forKey: destination) else { return }
        defer { o.streams[destination] = s }
        guard let i = Self.index(of: sequence, in: s.owed) else { return }
        let entry = s.owed.remove(at: i)
        release(entry, of: destination, in: &o, origin: origin, dropped: true)
    }

    // MARK: Acknowledgements

    /// A destination's DELIVERY_ACK: everything of `origin` up to `upTo` was taken (its cursor:
    /// also sent right after HELLO, which is how a restarted coordinator learns it).
    /// Selective sequences from destinations are not used: agents acknowledge cumulatively.
    public mutating func acknowledge(destination: String, origin: String, upTo: UInt64) {
        guard upTo > 0 else { return }
        var o = origins.removeValue(forKey: origin) ?? Origin()
        defer { origins[origin] = o }
        var s = o.streams.removeValue(forKey: destination) ?? Stream()  // in place, as in route
        s.acked = max(s.acked, upTo)
        s.sent = max(s.sent, upTo)
        var popped: [Owed] = []
        while let front = s.owed.first, front.sequence <= upTo { popped.append(s.owed.popFirst()!) }
        o.streams[destination] = s
        for entry in popped { release(entry, of: destination, in: &o, origin: origin, dropped: false) }
    }

    /// The DELIVERY_ACKs owed to `origin`, if anything changed since the last ones: the cumulative
    /// part, then every newly confirmed sequence above it (in frames of at most 1024).
    public mutating func acknowledgements(for origin: String) -> [FleetFrame.DeliveryAck] {
        guard var o = origins.removeValue(forKey: origin) else { return [] }
        defer { origins[origin] = o }
        var upTo = o.highest
        for s in o.streams.values { if let front = s.owed.first { upTo = min(upTo, front.sequence - 1) } }
        let selective = o.confirmed.filter { $0 > upTo }.sorted()
        o.confirmed.removeAll(keepingCapacity: true)
        guard upTo != o.sentUpTo || !selective.isEmpty else { return [] }
        o.sentUpTo = upTo
        var frames: [FleetFrame.DeliveryAck] = []
        var start = 0
        repeat {
            let end = min(start + CoordinatorLimits.maxSelectiveAcks, selective.count)
            frames.append(FleetFrame.DeliveryAck(originGatewayId: origin, upToSequence: upTo, sequences: Array(selective[start..<end])))
            start = end
        } while start < selective.count
        return frames
    }

    /// Origins whose acknowledgement may have changed since the last call.
    public mutating func takeDirty() -> [String] {
        let out = dirty.sorted()
        dirty.removeAll(keepingCapacity: true)
        return out
    }

    // MARK: Connections

    /// The origin has a new connection: it re-sends its whole log, and must hear the cumulative
    /// acknowledgement again (the last one may not have reached it).
    public mutating func originConnected(_ origin: String) {
        guard origins[origin] != nil else { return }
        origins[origin]?.sentUpTo = 0
        origins[origin]?.confirmed = []
        dirty.insert(origin)
    }

    /// The origin's connection is gone: confirmations cannot reach it; it re-sends on return.
    public mutating func originDisconnected(_ origin: String) {
        origins[origin]?.confirmed = []
    }

    /// A destination connected: nothing is on its new connection yet. Returns the origins that
    /// owe it forwards and the sequence to REPLAY from (the origin re-sends its log from there).
    public mutating func destinationConnected(_ destination: String) -> [(origin: String, from: UInt64)] {
        held[destination]?.dropReported = false
        var replays: [(String, UInt64)] = []
        for name in origins.keys.sorted() {
            guard var s = origins[name]?.streams[destination] else { continue }
            s.sent = s.acked
            origins[name]?.streams[destination] = s
            if let front = s.owed.first { replays.append((name, front.sequence)) }
        }
        return replays
    }

    /// A destination's connection is gone. With durable interest it stays owed what it was routed
    /// (the origins keep it); without, nothing can be waiting for it there, so it is released.
    /// (A gateway with some durable interest keeps everything routed to it: over-holding, never
    /// loss; per-entry durability is a note in docs/DESIGN-NOTES.md.)
    public mutating func destinationDisconnected(_ destination: String, hasDurableInterest: Bool) {
        guard !hasDurableInterest else {
            // What was on the dead connection is unsent again: the retention bound may drop it,
            // and the REPLAY at its return brings it.
            for name in origins.keys.sorted() {
                guard let acked = origins[name]?.streams[destination]?.acked else { continue }
                origins[name]?.streams[destination]?.sent = acked
            }
            return
        }
        for name in origins.keys.sorted() {
            guard var o = origins.removeValue(forKey: name) else { continue }
            if let s = o.streams.removeValue(forKey: destination) {
                for entry in s.owed.elements { release(entry, of: destination, in: &o, origin: name, dropped: false) }
            }
            origins[name] = o
        }
    }

    /// An operator removed the gateway: nothing is held for it or from it any more.
    public mutating func remove(_ gateway: String) {
        if let o = origins.removeValue(forKey: gateway) {
            for (d, s) in o.streams {
                for entry in s.owed.elements {
                    held[d]?.messages -= 1
                    held[d]?.bytes -= entry.bytes
                }
            }
        }
        dirty.remove(gateway)
        destinationDisconnected(gateway, hasDurableInterest: false)
        held[gateway] = nil
    }

    // MARK: Retention

    /// The sweep: drops what is older than the age bound for every destination that is away.
    public mutating func expire(now: UInt64, isConnected: (String) -> Bool) {
        for d in held.keys.sorted() where (held[d]?.messages ?? 0) > 0 && !isConnected(d) { enforceRetention(d, now: now) }
    }

    /// Destinations that started dropping since they last connected and were not reported yet.
    public mutating func takeNewDrops() -> [(destination: String, held: Held)] {
        var out: [(String, Held)] = []
        for d in held.keys.sorted() {
            guard var h = held[d], h.droppedMessages > 0, !h.dropReported else { continue }
            h.dropReported = true
            held[d] = h
            out.append((d, h))
        }
        return out
    }

    /// Drops the oldest unsent entries held for `destination` while it is over a bound.
    /// `current` is an origin already taken out of `origins` by the caller.
    private mutating func enforceRetention(_ destination: String, now: UInt64, current: inout Origin, currentId: String) {
        while let h = held[destination] {
            let over = h.messages > retention.maxMessages || h.bytes > retention.maxBytes
            // The oldest unsent front over all origins (few), the current one included.
            var oldest: (origin: String, atMs: UInt64)?
            if let s = current.streams[destination], s.frontUnsent, let f = s.owed.first { oldest = (currentId, f.atMs) }
            for (name, o) in origins {
                if let s = o.streams[destination], s.frontUnsent, let f = s.owed.first, f.atMs < (oldest?.atMs ?? .max) {
                    oldest = (name, f.atMs)
                }
            }
            guard let pick = oldest, over || now &- pick.atMs > retention.maxAgeMs else { return }
            if pick.origin == currentId {
                dropFront(destination, in: &current, origin: currentId)
            } else if var o = origins.removeValue(forKey: pick.origin) {
                dropFront(destination, in: &o, origin: pick.origin)
                origins[pick.origin] = o
            }
        }
    }

    private mutating func enforceRetention(_ destination: String, now: UInt64) {
        var none = Origin()
        enforceRetention(destination, now: now, current: &none, currentId: "")
    }

    private mutating func dropFront(_ destination: String, in o: inout Origin, origin: String) {
        guard var s = o.streams.removeValue(forKey: destination) else { return }
        let entry = s.owed.popFirst()
        o.streams[destination] = s
        guard let entry else { return }
        release(entry, of: destination, in: &o, origin: origin, dropped: true)
    }

    /// An entry leaves a stream (acknowledged, dropped or released): the destination holds less,
    /// and the origin may drop it once nobody owes it.
    private mutating func release(_ entry: Owed, of destination: String, in o: inout Origin, origin: String, dropped: Bool) {
        if var h = held[destination] {
            h.messages -= 1
            h.bytes -= entry.bytes
            if dropped {
                h.droppedMessages += 1
                h.droppedBytes += UInt64(entry.bytes)
            }
            held[destination] = h
        }
        guard let n = o.waiting[entry.sequence] else { return }
        if n <= 1 {
            o.waiting[entry.sequence] = nil
            o.confirmed.append(entry.sequence)
            dirty.insert(origin)
        } else {
            o.waiting[entry.sequence] = n - 1
        }
    }

    private static func index(of sequence: UInt64, in owed: RingBuffer<Owed>) -> Int? {
        var lo = 0, hi = owed.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if owed[mid].sequence < sequence { lo = mid + 1 } else { hi = mid }
        }
        return lo < owed.count && owed[lo].sequence == sequence ? lo : nil
    }
}
