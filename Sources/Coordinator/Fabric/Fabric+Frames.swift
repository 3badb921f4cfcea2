import FleetProtocol

extension Fabric {
    /// One decoded frame from a connection. Loop thread. `raw` is the frame as it arrived (valid
    /// only during the call): a FORWARD is relayed as these bytes, never re-encoded.
    func received(_ frame: FleetFrame, raw: UnsafeRawBufferPointer, on c: GatewayConnection) {
        counters.countIn(frame.kind)
        guard c.phase == .established, let id = c.gatewayId else {
            // Protocol/agent-coordinator.md §7.2: before HELLO_ACK only HELLO; nothing else is ever answered but
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
            // A cumulative count per agent: what grew since its last report (all of it after the
            // agent restarted, when it starts again from 0).
            let relayedBefore = gatewayRelayedBytes[id] ?? 0
            counters.relayedBytes &+= r.relayedBytes >= relayedBefore ? r.relayedBytes - relayedBefore : r.relayedBytes
            gatewayRelayedBytes[id] = r.relayedBytes
            gateways[id]?.load = GatewayLoad(timestampMs: r.timestampMs, connections: r.connections,
                                             messagesInPerSecond: r.messagesInPerSecond, messagesOutPerSecond: r.messagesOutPerSecond,
                                             bytesInPerSecond: r.bytesInPerSecond, bytesOutPerSecond: r.bytesOutPerSecond,
                                             topTalkers: r.topTalkers.map { GatewayTalker(clientId: $0.clientId, messagesPerSecond: $0.messagesPerSecond,
                                                                                          bytesPerSecond: $0.bytesPerSecond) })
            observeLoad(r, gateway: id)
        case .interestSnapshot(let s):
            interestOutcome(c.interest.snapshot(s), gateway: id, kind: .interestSnapshot, on: c)
        case .interestDelta(let d):
            interestOutcome(c.interest.delta(d), gateway: id, kind: .interestDelta, on: c)
        case .durableInterest(.snapshot(let s)):
            durableOutcome(c.durableInterest.snapshot(s), gateway: id, on: c)
        case .durableInterest(.delta(let d)):
            durableOutcome(c.durableInterest.delta(d), gateway: id, on: c)
        case .forward(let f):
            forward(f, raw: raw, from: id, on: c)
        case .deliveryAck(let a):
            // Only for origins the coordinator knows: an ack naming anything else would allocate
            // ledger state for nothing.
            if gateways[a.originGatewayId] != nil { delivery.acknowledge(destination: id, origin: a.originGatewayId, upTo: a.upToSequence) }
        case .error(let e):
            peerError(e, gateway: id, on: c)
        case .unknown:
            break  // IGNORABLE kinds this coordinator does not know are skipped (§3.2)
        case .sessionTransfer, .migrationStep, .handoff:
            handoverFrame(frame, from: id)
        case .sessionList(let list):
            drainListed(list, by: id)
        case .availability, .maintenanceResult:
            maintenanceFrame(frame, from: id)
        case .socketReport(let r):
            socketReport(r, from: id)
        case .peerReport(let r):
            peerReport(r, from: id)
        case .peerAsk(let a):
            peerAsk(a, from: id)
        case .peerGone(let g):
            peerGone(g, from: id)
        case .hello, .helloAck, .remoteInterest, .replay, .migrate, .drain, .availabilityQuery, .maintenanceRun, .mappings, .socketClose,
             .peerMatch:
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

    /// Routes a FORWARD from `origin`. Candidates: the gateways whose interest matches (one trie
    /// walk; a gateway that is away is found through its durable interest), or for a retained one
    /// also every other connected gateway (retained state is fleet-wide); never the origin. The
    /// ledger decides who gets it now and who is owed it (DeliveryLedger); the frame is relayed as
    /// the bytes it arrived as.
    private func forward(_ f: FleetFrame.Forward, raw: UnsafeRawBufferPointer, from origin: String, on c: GatewayConnection) {
        guard f.originGatewayId == origin else {
            counters.dropped("bad_origin")
            c.send(.error(.init(code: .forwardRejected, relatedKind: .forward,
                                message: "FORWARD origin \(f.originGatewayId) is not this gateway (\(origin))")))
            return
        }
        var candidates = interest.gateways(matching: f.topic, excluding: origin)
        if f.retain {
            for id in gatewayConnections.keys where id != origin && !candidates.contains(id) { candidates.append(id) }
        }
        if candidates.isEmpty { counters.forwardsUnrouted += 1 }
        let targets = delivery.route(origin: origin, sequence: f.sequence, qos: f.qos, retain: f.retain, bytes: raw.count, candidates: candidates,
                                     isConnected: { gatewayConnections[$0] != nil }, now: loop.now)
        guard !targets.isEmpty else { return }
        let bytes = [UInt8](raw)
        var replayFrom: UInt64?
        for d in targets {
            guard let dc = gatewayConnections[d] else { continue }
            guard bytes.count <= dc.peerMaximumFrameSize else {
                counters.dropped("too_large")
                if f.qos != .atMostOnce { delivery.undeliverable(origin: origin, destination: d, sequence: f.sequence) }
                continue
            }
            switch dc.sendEncoded(bytes, bulk: true, kind: .forward) {
            case .queued:
                counters.forwardsRouted += 1
            case .bulkFull, .overloaded:
                counters.dropped("queue_full")
                if f.qos != .atMostOnce {
                    // Still owed: the origin sends it again (REPLAY) once this destination drains;
                    // the origin is held until then (below).
                    delivery.notWritten(origin: origin, destination: d, sequence: f.sequence)
                    replayFrom = f.sequence
                }
            }
            if dc.isBackedUp { dc.hold(c) }
        }
        if let replayFrom {
            c.send(.replay(.init(fromSequence: replayFrom)))
            counters.replaysRequested += 1
        }
    }

    /// DURABLE_INTEREST: the filters the gateway's persistent sessions hold at QoS >= 1. Persisted;
    /// kept while the gateway is away (its interest then shrinks to these, `sessionEnded`).
    private func durableOutcome(_ outcome: InterestSequencer.Outcome, gateway id: String, on c: GatewayConnection) {
        switch outcome {
        case .dropped, .partial:
            break
        case .outOfSync(let reason):
            counters.interestOutOfSync += 1
            log.info("gateway \(id): durable interest out of sync: \(reason)")
            c.send(.error(.init(code: .interestOutOfSync, relatedKind: .durableInterest, message: reason)))
        case .tooLarge(let reason):
            refuseInterest(reason, gateway: id, kind: .durableInterest, on: c)
        case .replace(let filters):
            durableInterest[id] = filters.isEmpty ? nil : filters
            do { try store.replaceDurableInterest(id, with: filters) } catch { log.error("cannot store the durable interest of \(id): \(error)") }
        case .delta(let added, let removed):
            var filters = durableInterest[id] ?? []
            let adding = Set(added)
            for f in removed where !adding.contains(f) { filters.remove(f) }
            filters.formUnion(added)
            guard filters.count <= config.maxInterestFilters else {
                return refuseInterest("durable interest would hold \(filters.count) filters, more than the \(config.maxInterestFilters) allowed (max_interest_filters)",
                                      gateway: id, kind: .durableInterest, on: c)
            }
            durableInterest[id] = filters.isEmpty ? nil : filters
            do { try store.applyDurableInterest(id, added: added, removed: removed.filter { !adding.contains($0) }) } catch {
                log.error("cannot store the durable interest of \(id): \(error)")
            }
        }
    }
}
