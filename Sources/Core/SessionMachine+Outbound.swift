import FleetProtocol

/// Messages towards the client: queue, in-flight window, acknowledgements, resume (MQTT §4.3, §4.4).
extension SessionMachine {
    /// Why `message` must not reach this session now, if it must not: expired, or refused by the
    /// session's policy. Checked for every QoS before a delivery.
    @inlinable
    public func refusal(of message: Message, now: UInt64) -> DropCause? {
        if message.isExpired(now: now) { return .expired }
        if let policy, !policy.mayReceive(message.topic) { return .notAuthorized }
        return nil
    }

    /// Takes a QoS 1/2 message routed to this session (its QoS and retain flag already the
    /// delivered ones): straight into the in-flight window when there is room and nothing waits
    /// ahead of it, else into the queue (persisted for a persistent session). A full queue drops
    /// the newest message, unless the window itself has room.
    public mutating func offer(_ message: Message, subscriptionIdentifiers: [UInt32], maxQueued: Int, now: UInt64,
                               out: some SessionOutput) {
        guard message.qos != .atMostOnce else { return }
        if queue.count >= maxQueued && !(terms.map { inflight.count < $0.sendWindow } ?? false) {
            return out.perform(.dropped(.queueFull))
        }
        let delivery = OutboundMessage(seq: takeSeq(), message: message, subscriptionIdentifiers: subscriptionIdentifiers)
        if queue.isEmpty, awaitingResend.isEmpty, canSend(out) {
            // The common case: room in the window, nothing waiting ahead; skip the queue.
            return send(delivery, now: now, out: out)
        }
        if isPersistent { out.perform(.saveOutbound(delivery, bodyNeeded: true)) }
        queue.append(delivery)
        pump(now: now, out: out)
    }

    /// Moves queued messages into the in-flight window while the client has room (its Receive
    /// Maximum) and its socket takes more; re-sends of a resumed session go first.
    public mutating func pump(now: UInt64, out: some SessionOutput) {
        guard terms != nil else { return }
        if !awaitingResend.isEmpty {
            resendInflight(now: now, out: out)
            guard awaitingResend.isEmpty else { return }  // new messages wait behind re-sends
        }
        while canSend(out), let next = queue.popFirst() {
            // Queued under rules that may have changed (restored after a restart, new policy).
            if let cause = refusal(of: next.message, now: now) {
                out.perform(.dropped(cause))
                if isPersistent { out.perform(.deleteOutbound(seq: next.seq)) }
                continue
            }
            send(next, now: now, out: out)
        }
    }

    @inline(__always)
    private func canSend(_ out: some SessionOutput) -> Bool {
        guard let terms else { return false }
        return inflight.count < terms.sendWindow && out.canWritePublish
    }

    /// Gives the message a packet id, writes it and keeps it in flight until acknowledged. A
    /// packet the client would refuse is never put in flight.
    ///
    /// `consuming` down to the ring's slot: the message moves from the queue (or the offer) into
    /// the in-flight window, where each copy was two retains and two releases (body and
    /// subscription identifiers) per delivery.
    private mutating func send(_ delivery: consuming OutboundMessage, now: UInt64, out: some SessionOutput) {
        var next = delivery
        next.packetId = allocatePacketId()
        next.phase = .published
        guard out.writePublish(next, dup: false, now: now) else {
            out.perform(.dropped(.overClientMaximum))
            if isPersistent { out.perform(.deleteOutbound(seq: next.seq)) }
            return
        }
        if isPersistent { out.perform(.saveOutbound(next, bodyNeeded: true)) }
        addInflight(next)
        out.perform(.sent)
    }

    /// Re-sends in-flight PUBLISHes of a resumed session, with DUP and their packet ids, while the
    /// client's current Receive Maximum has room. One its current Maximum Packet Size refuses is
    /// dropped for it, as a new delivery would be, instead of staying in flight for ever.
    private mutating func resendInflight(now: UInt64, out: some SessionOutput) {
        while !awaitingResend.isEmpty, let terms, sentInflightCount < terms.sendWindow, out.canWritePublish {
            let id = awaitingResend.removeFirst()
            guard let i = inflightIndex(packetId: id), inflight[i].phase == .published else { continue }
            let m = inflight[i]
            if !out.writePublish(m, dup: true, now: now) {
                out.perform(.dropped(.overClientMaximum))
                removeInflight(at: i)
                if isPersistent { out.perform(.deleteOutbound(seq: m.seq)) }
            }
        }
    }

    // MARK: Acknowledgements of what we sent

    /// PUBACK: completes a QoS 1 delivery. An unknown id is ignored (MQTT 5 §4.3.2).
    public mutating func receivePubAck(_ packetId: UInt16, now: UInt64, out: some SessionOutput) {
        guard let i = inflightIndex(packetId: packetId), inflight[i].phase == .published,
              inflight[i].message.qos == .atLeastOnce else { return }
        complete(at: i, now: now, out: out)
    }

    /// PUBREC: a QoS 2 delivery moves to "released" and PUBREL goes out; an error reason ends
    /// the exchange (MQTT 5 §4.3.3). An unknown id still gets a PUBREL (0x92 in MQTT 5) so the
    /// client can finish its side.
    public mutating func receivePubRec(_ packetId: UInt16, isError: Bool, now: UInt64, out: some SessionOutput) {
        guard let i = inflightIndex(packetId: packetId), inflight[i].message.qos == .exactlyOnce else {
            return out.writeAck(.pubrel, packetId: packetId,
                                reason: protocolVersion == .v5 ? .packetIdentifierNotFound : .success)
        }
        if isError { return complete(at: i, now: now, out: out) }
        inflight[i].phase = .released
        if !awaitingResend.isEmpty { awaitingResend.removeAll { $0 == packetId } }  // it had it before reconnecting
        if isPersistent { out.perform(.saveOutbound(inflight[i], bodyNeeded: false)) }
        out.writeAck(.pubrel, packetId: packetId, reason: .success)
    }

    /// PUBCOMP: completes a released QoS 2 delivery.
    public mutating func receivePubComp(_ packetId: UInt16, now: UInt64, out: some SessionOutput) {
        guard let i = inflightIndex(packetId: packetId), inflight[i].phase == .released else { return }
        complete(at: i, now: now, out: out)
    }

    private mutating func complete(at i: Int, now: UInt64, out: some SessionOutput) {
        let done = removeInflight(at: i)
        if isPersistent { out.perform(.deleteOutbound(seq: done.seq)) }
        out.perform(.acknowledged)
        pump(now: now, out: out)
    }

    // MARK: Bookkeeping

    mutating func takeSeq() -> Int64 { defer { nextSeq += 1 }; return nextSeq }

    /// A packet id not used by any in-flight message (MQTT §2.2.1). The window is far below
    /// 65,535, so the scan ends quickly.
    mutating func allocatePacketId() -> UInt16 {
        while true {
            let id = nextPacketId
            nextPacketId = nextPacketId == UInt16.max ? 1 : nextPacketId + 1
            if !inflightIds.contains(id) { return id }
        }
    }

    mutating func addInflight(_ m: consuming OutboundMessage) {
        inflightIds.insert(m.packetId)
        inflight.append(m)
    }

    @discardableResult
    mutating func removeInflight(at i: Int) -> OutboundMessage {
        let m = inflight.remove(at: i)
        inflightIds.remove(m.packetId)
        if !awaitingResend.isEmpty { awaitingResend.removeAll { $0 == m.packetId } }
        return m
    }

    func inflightIndex(packetId: UInt16) -> Int? {
        // Acks almost always arrive in send order, so the first element is the usual hit.
        if !inflight.isEmpty && inflight[0].packetId == packetId { return 0 }
        guard inflightIds.contains(packetId) else { return nil }
        return inflight.firstIndex { $0.packetId == packetId }
    }
}
