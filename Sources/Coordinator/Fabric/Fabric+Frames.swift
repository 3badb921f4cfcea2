import FleetProtocol

extension Fabric {
    /// One decoded frame from a connection. Loop thread. `raw` is the frame as it arrived (valid
    /// only during the call): a FORWARD is relayed as these bytes, never re-encoded.
    func received(_ frame: FleetFrame, raw: UnsafeRawBufferPointer, on c: GatewayConnection) {
        counters.countIn(frame.kind)
        guard c.phase == .established, let id = c.gatewayId else {
            // PROTOCOL.md §7.2: before HELLO_ACK only HELLO; nothing else is ever answered but
            // with one ERROR.
            if case .hello(let h) = frame, c.helloTimer == nil { admitHello(h, on: c) } else {
                c.fail(.unexpectedFrame, related: frame.kind, "\(frame.kind) before HELLO")
            }
            return
        }
        switch frame {
        case .heartbeat:
            break  // lastReceivedMs is refreshed by every read
        case .loadReport(let r):
            gateways[id]?.load = GatewayLoad(timestampMs: r.timestampMs, connections: r.connections,
                                             messagesInPerSecond: r.messagesInPerSecond, messagesOutPerSecond: r.messagesOutPerSecond,
                                             bytesInPerSecond: r.bytesInPerSecond, bytesOutPerSecond: r.bytesOutPerSecond,
                                             topTalkers: r.topTalkers.map { GatewayTalker(clientId: $0.clientId, messagesPerSecond: $0.messagesPerSecond,
                                                                                          bytesPerSecond: $0.bytesPerSecond) })
        case .interestSnapshot(let s):
            interestOutcome(c.interest.snapshot(s), gateway: id, kind: .interestSnapshot, on: c)
        case .interestDelta(let d):
            interestOutcome(c.interest.delta(d), gateway: id, kind: .interestDelta, on: c)
        case .forward(let f):
            forward(f, raw: raw, from: id, on: c)
        case .deliveryAck(let a):
            delivery.acknowledge(destination: id, origin: a.originGatewayId, upTo: a.upToSequence, selective: a.sequences)
        case .error(let e):
            peerError(e, gateway: id, on: c)
        case .unknown:
            break  // IGNORABLE kinds this coordinator does not know are skipped (§3.2)
        case .hello, .helloAck, .remoteInterest:
            c.fail(.unexpectedFrame, related: frame.kind, "\(frame.kind) is not expected from an established gateway")
        }
    }

    private func interestOutcome(_ outcome: InterestSequencer.Outcome, gateway id: String, kind: FleetFrameKind, on c: GatewayConnection) {
        switch outcome {
        case .dropped, .partial:
            break
        case .outOfSync(let reason):
            counters.interestOutOfSync += 1
            log.info("gateway \(id): interest out of sync: \(reason)")
            c.send(.error(.init(code: .interestOutOfSync, relatedKind: kind, message: reason)))
        case .replace(let filters):
            broadcast(interest.replace(id, with: filters))
            recoveryInterestKnown(id)
        case .tooLarge(let reason):
            refuseInterest(reason, gateway: id, kind: kind, on: c)
        case .delta(let added, let removed):
            let limit = config.maxInterestFilters
            let held = interest.filters(of: id)
            if held.count + added.count > limit {
                let after = held.count + added.reduce(0) { $0 + (held.contains($1) ? 0 : 1) }
                    - Set(removed).reduce(0) { $0 + (held.contains($1) ? 1 : 0) }
                if after > limit {
                    return refuseInterest("interest delta would hold \(after) filters, more than the \(limit) allowed (max_interest_filters)",
                                          gateway: id, kind: kind, on: c)
                }
            }
            broadcast(interest.apply(id, added: added, removed: removed))
        }
    }

    /// A gateway's interest over `max_interest_filters`: ERROR limitExceeded and disconnect; the
    /// table in force stays as it was (its session's end then removes it).
    private func refuseInterest(_ reason: String, gateway id: String, kind: FleetFrameKind, on c: GatewayConnection) {
        counters.interestRefused += 1
        log.warning("gateway \(id): \(reason); disconnecting")
        c.fail(.limitExceeded, related: kind, reason)
    }

    private func peerError(_ e: FleetFrame.ErrorReport, gateway id: String, on c: GatewayConnection) {
        if e.code == .interestOutOfSync {
            // Our REMOTE_INTEREST stream confused the agent: start over with a higher epoch.
            sendInterestSnapshot(on: c)
        } else if e.code.isFatal {
            log.info("gateway \(id) sent ERROR \(e.code): \(e.message)")
            c.closeGracefully()
        } else {
            log.info("gateway \(id) reports \(e.code) (related \(e.relatedKind.map { "\($0)" } ?? "none")): \(e.message)")
        }
    }

    /// Routes a FORWARD from `origin`: to every other connected gateway whose interest matches
    /// (one trie walk), or to every other connected gateway if it is retained; never back to the
    /// origin. QoS >= 1 forwards are tracked until every destination acknowledged.
    private func forward(_ f: FleetFrame.Forward, raw: UnsafeRawBufferPointer, from origin: String, on c: GatewayConnection) {
        guard f.originGatewayId == origin else {
            counters.dropped("bad_origin")
            c.send(.error(.init(code: .forwardRejected, relatedKind: .forward,
                                message: "FORWARD origin \(f.originGatewayId) is not this gateway (\(origin))")))
            return
        }
        if isRecovering {
            // Not routed while recovering. Gateways dedupe by the origin's highest sequence, so a
            // forward delivered now to the gateways already back would put them past the ones the
            // origin re-sends after recovery for the gateways still away: those would then be taken
            // for re-sends and lost. QoS >= 1: the origin re-sends it to the whole fleet when
            // recovery ends. QoS 0 (best effort): dropped, counted.
            if f.qos == .atMostOnce {
                counters.dropped("recovering")
            } else {
                noteRecoveryOrigin(origin)
            }
            return
        }
        let destinations: [String] = f.retain
            ? gatewayConnections.keys.filter { $0 != origin }.sorted()
            : interest.gateways(matching: f.topic, excluding: origin)
        if destinations.isEmpty { counters.forwardsUnrouted += 1 }
        let bytes = [UInt8](raw)
        var accepted: [String] = []
        var refused = false
        for d in destinations {
            guard let dc = gatewayConnections[d] else { continue }
            guard bytes.count <= dc.peerMaximumFrameSize else {
                counters.dropped("too_large")
                continue
            }
            switch dc.sendEncoded(bytes, bulk: true, kind: .forward) {
            case .queued:
                counters.forwardsRouted += 1
                accepted.append(d)
            case .bulkFull:
                counters.dropped("queue_full")
                refused = true
            case .overloaded:
                break
            }
            if dc.isBackedUp { dc.hold(c) }
        }
        if f.qos != .atMostOnce && refused {
            // Never confirm a QoS >= 1 forward some destination could not take: fail the ORIGIN,
            // which re-sends everything unconfirmed from its durable log after reconnecting
            // (destinations drop what they already have). Failing the slow destination instead
            // would release it from the confirmation and lose the message there.
            c.fail(.overloaded, related: .forward, "a destination's forward queue is full; re-send unconfirmed forwards")
            return
        }
        if f.qos != .atMostOnce {
            switch delivery.track(origin: origin, sequence: f.sequence, destinations: accepted) {
            case .overflow:
                c.fail(.overloaded, related: .forward, "more than \(delivery.maxPending) unconfirmed forwards")
            case .confirmed, .pending, .outOfOrder:
                break
            }
        }
    }
}
