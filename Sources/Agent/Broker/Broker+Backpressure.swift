import FleetCore
import FleetRuntime

/// Backpressure: when a delivery finds the subscriber's socket or queue backed up, the broker
/// stops reading from the publisher that caused it until the subscriber drains, so a fast
/// publisher is slowed to what its subscribers take instead of having its QoS 0 messages dropped.
/// A subscriber that stays congested longer than `limits.slowConsumerMs` is a slow consumer: it no
/// longer holds anyone back, and it simply loses what exceeds its bounds (counted).
extension Broker {
    /// Whether `c` (as a subscriber) is backed up enough to hold its publishers.
    func isCongested(_ c: MQTTConnection) -> Bool {
        c.stream.pendingWriteBytes >= limits.congestionWriteBytes
            || (c.session.map { $0.machine.queue.count * 2 >= max(1, limits.maxQueuedMessages) } ?? false)
    }

    /// Called after a delivery to `target`: pauses the current publisher if `target` is congested
    /// and not yet a slow consumer.
    func applyBackpressure(towards target: MQTTConnection) {
        guard let publisher = currentPublisher, publisher !== target, isCongested(target) else { return }
        let since = target.congestedSince ?? loopNow
        target.congestedSince = since
        guard loopNow < since + limits.slowConsumerMs else { return }  // slow consumer: it drops, others flow
        if !target.heldPublishers.contains(where: { $0 === publisher }) {
            target.heldPublishers.append(publisher)
            if publisher.hold() { metrics.publishersThrottled += 1 }
        }
        if target.stream.onDrained == nil {
            target.stream.onDrained = { [unowned self, unowned target] in self.relieve(target) }
        }
    }

    /// Resumes the publishers held by `c` once it is no longer congested.
    func relieve(_ c: MQTTConnection) {
        guard !isCongested(c) else { return }
        c.congestedSince = nil
        releaseHeldPublishers(of: c)
    }

    func releaseHeldPublishers(of c: MQTTConnection) {
        guard !c.heldPublishers.isEmpty else { return }
        let held = c.heldPublishers
        c.heldPublishers = []
        // A publisher may be held by several subscribers; it resumes when the last lets go.
        for p in held { p.release() }
    }
}

extension MQTTConnection: PausableSource {
    func pauseInput() { stream.stopReading() }

    func resumeInput() {
        guard isOpen else { return }
        lastActivity = broker.loopNow   // the pause was ours: not silence for the keepalive check
        stream.startReading()
    }
}
