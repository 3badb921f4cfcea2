import FleetRuntime

/// Backpressure between gateways: when a destination's bulk queue passes half full, the origin
/// whose FORWARD filled it is no longer read until the destination drains below a quarter. TCP then
/// slows the origin agent, whose durable log holds what it cannot send yet — nothing is dropped
/// and no healthy destination is disconnected for being slower than the origin. Loop-thread only.
extension GatewayConnection {
    /// Whether this connection, as a destination, should hold back the origins feeding it.
    var isBackedUp: Bool { queuedBulkFrames * 2 >= CoordinatorLimits.maxQueuedBulkFrames }
    private var hasDrained: Bool { queuedBulkFrames * 4 < CoordinatorLimits.maxQueuedBulkFrames }

    /// Stops reading `origin` until this destination has drained.
    func hold(_ origin: GatewayConnection) {
        guard origin !== self, !heldOrigins.contains(where: { $0 === origin }) else { return }
        heldOrigins.append(origin)
        if origin.hold() { fabric.counters.originsPaused += 1 }
    }

    /// Called after the writer handed frames to the socket, and when this connection ends.
    func releaseHeldOrigins(force: Bool = false) {
        guard !heldOrigins.isEmpty, force || hasDrained else { return }
        let held = heldOrigins
        heldOrigins = []
        for origin in held { origin.release() }
    }
}

extension GatewayConnection {
    /// An origin held by destinations stops being read (the link core's pause, PausableSource).
    @discardableResult
    func hold() -> Bool { link.hold() }
    /// The last release: it was silent because we did not read it (the sweep must not time it out
    /// before the resumed read, which runs on the next loop turn).
    func release() {
        link.release()
        if link.holdCount == 0 { lastReceivedMs = fabric.loop.now }
    }
    var holdCount: Int { link.holdCount }
}
