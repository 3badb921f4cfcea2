/// One socket's side of a peer link (issue #15), pure: time comes in as `now` (ms, any monotonic
/// origin) and every decision comes back as actions for the socket to carry out, in order.
///
///     idle --wait--> waiting --linked--> linked --either side's EOF--> closing --> closed
///                       |--deadline--> closed (ERR peer-timeout)
///
/// - waiting: bytes from the device are held (at most `maxHeld`), then its reading pauses; the
///   deadline (`peer_wait_ms`) ends the wait with `ERR peer-timeout` and a close.
/// - linked: the device's bytes go to the peer unchanged; when the peer's unsent bytes pass
///   `maxQueued` this side's reading pauses until the peer's stream has written them all
///   (`peerDrained`). The held bytes go first.
/// - closing: one side's EOF: the other side gets what was in flight, then its own close (an EOF
///   for its device). Bytes arriving after it are dropped.
public struct PeerLink: Sendable {
    public enum State: Equatable, Sendable {
        case idle
        case waiting(deadline: UInt64)
        case linked
        case closing
        case closed
    }

    public enum Action: Equatable, Sendable {
        case pauseReading
        case resumeReading
        /// Write these bytes to the peer's device.
        case forward([UInt8])
        /// `ERR peer-timeout`, then close this socket.
        case timedOut
        /// Close the peer's device after what is queued for it (this side ended).
        case endPeer
        /// Close this socket's device after what is queued for it (the peer ended).
        case endSelf
    }

    public private(set) var state = State.idle
    public let maxHeld: Int
    public let maxQueued: Int
    private var held: [UInt8] = []
    /// Why reading is paused: the held bytes are full, or the peer's queue is.
    private var pausedForHeld = false
    private var pausedForPeer = false
    public private(set) var bytesToPeer: UInt64 = 0

    public init(maxHeld: Int = SocketLimits.maxPeerHeldBytes, maxQueued: Int = SocketLimits.maxPeerQueuedBytes) {
        self.maxHeld = maxHeld
        self.maxQueued = maxQueued
    }

    public var heldBytes: Int { held.count }
    public var isReadingPaused: Bool { pausedForHeld || pausedForPeer }
    /// When `tick(now:)` has something to do.
    public var deadline: UInt64? { if case .waiting(let d) = state { d } else { nil } }

    public mutating func wait(now: UInt64, waitMs: UInt64) {
        guard state == .idle else { return }
        state = .waiting(deadline: now &+ waitMs)
    }

    /// Bytes the device sent. Linked: after carrying out `.forward`, tell `peerQueued` what the
    /// peer's stream has unsent.
    public mutating func deviceSent(_ bytes: [UInt8]) -> [Action] {
        switch state {
        case .waiting:
            held.append(contentsOf: bytes)
            if held.count >= maxHeld && !pausedForHeld {
                pausedForHeld = true
                return [.pauseReading]
            }
            return []
        case .linked:
            bytesToPeer &+= UInt64(bytes.count)
            return [.forward(bytes)]
        case .idle, .closing, .closed:
            return []
        }
    }

    /// Linked: the caller forwarded `count` bytes itself, straight from its read buffer (the hot
    /// path, without `deviceSent`'s copy). Then `peerQueued`.
    public mutating func countForwarded(_ count: Int) {
        bytesToPeer &+= UInt64(count)
    }

    /// After a forward: the peer's unsent bytes. Over `maxQueued` this side stops reading.
    public mutating func peerQueued(_ bytes: Int) -> [Action] {
        guard state == .linked, bytes > maxQueued, !pausedForPeer else { return [] }
        let wasPaused = isReadingPaused
        pausedForPeer = true
        return wasPaused ? [] : [.pauseReading]
    }

    /// The peer's stream wrote everything queued for it.
    public mutating func peerDrained() -> [Action] {
        guard pausedForPeer else { return [] }
        pausedForPeer = false
        return isReadingPaused || state != .linked ? [] : [.resumeReading]
    }

    /// The peer is found: the held bytes go first, then reading resumes if the wait paused it.
    public mutating func linked() -> [Action] {
        switch state {
        case .idle, .waiting: break
        default: return []
        }
        state = .linked
        var actions: [Action] = []
        if !held.isEmpty {
            bytesToPeer &+= UInt64(held.count)
            actions.append(.forward(held))
            held = []
        }
        if pausedForHeld {
            pausedForHeld = false
            if !pausedForPeer { actions.append(.resumeReading) }
        }
        return actions
    }

    public mutating func tick(now: UInt64) -> [Action] {
        guard case .waiting(let d) = state, now >= d else { return [] }
        state = .closed
        held = []
        return [.timedOut]
    }

    /// This side's device ended its stream (EOF, error).
    public mutating func deviceEnded() -> [Action] {
        switch state {
        case .linked:
            state = .closing
            return [.endPeer]
        case .closing:
            state = .closed
            return []
        case .idle, .waiting:
            state = .closed
            held = []
            return []
        case .closed:
            return []
        }
    }

    /// The peer's device ended: this side gets its EOF after what is queued.
    public mutating func peerEnded() -> [Action] {
        switch state {
        case .linked:
            state = .closing
            return [.endSelf]
        case .closing:
            state = .closed
            return []
        default:
            return []
        }
    }
}
