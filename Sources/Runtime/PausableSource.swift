/// A connection whose reading other parties can hold: a device publisher while a subscriber it
/// feeds is congested, the agent's coordinator link likewise, a publisher while the forward log
/// is full, an origin gateway at the coordinator while a destination it feeds is backed up. The
/// one pause rule for every connection kind: reading stops at the first hold and resumes when the
/// last party lets go, never earlier, however the holds interleave. Loop-thread only, like the
/// connections that adopt it.
public protocol PausableSource: AnyObject {
    /// Reading is paused by at least one hold.
    var isThrottled: Bool { get set }
    /// How many parties hold this source now.
    var holdCount: Int { get set }
    /// Stop reading (the first hold).
    func pauseInput()
    /// Reading may go on (the last release); a closed source ignores it.
    func resumeInput()
}

extension PausableSource {
    /// One more party holds this source; reading stops at the first. Returns whether this call
    /// paused it. Pair each with one `release`.
    @discardableResult
    public func hold() -> Bool {
        holdCount += 1
        guard !isThrottled else { return false }
        isThrottled = true
        pauseInput()
        return true
    }

    /// One party lets go; reading resumes when the last has.
    public func release() {
        holdCount -= 1
        guard holdCount == 0, isThrottled else { return }
        isThrottled = false
        resumeInput()
    }
}
