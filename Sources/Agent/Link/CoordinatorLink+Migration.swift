import FleetCore
import FleetProtocol
import FleetRuntime

// Connection migration on the agent (Protocol/agent-coordinator.md §5.14-§5.18): this gateway as the source
// (MIGRATE -> SESSION_TRANSFER; commit -> HANDOFFs and released; abort) and as the target
// (SESSION_TRANSFER -> imported; HANDOFF; released -> done; abort). The broker does the session
// work (Broker+Migration); this carries the frames. A frame that refers to a migration this
// gateway does not know is ignored: the coordinator's decisions are re-sent, so a late or
// repeated one is harmless. Loop-thread only.
extension CoordinatorLink {
    func receivedMigrationFrame(_ frame: FleetFrame, on c: CoordinatorConnection) {
        switch frame {
        case .migrate(let m):
            exportSession(m, on: c)
        case .sessionTransfer(let t):
            importSession(t, on: c)
        case .handoff(let h):
            guard var incoming = migrationsIn[h.migrationId], h.index == incoming.handoffsApplied + 1 else { return }
            incoming.handoffsApplied = h.index
            migrationsIn[h.migrationId] = incoming
            storeIncoming(h.migrationId)
            if !h.originGatewayId.isEmpty {
                let identity = FabricIdentity(origin: h.originGatewayId, sequence: h.originSequence)
                if broker.session(of: incoming.clientId)?.identitiesTaken.contains(identity) == true {
                    metrics.handoffDuplicatesSkipped += 1
                    return finishIfComplete(h.migrationId, on: c)
                }
                // Its FORWARD may still come (routed before the source let go): not again.
                if identity.origin != settings.gatewayId { handedOffAhead[identity] = (incoming.clientId, loop.now) }
            }
            var properties = h.properties
            let expiry = properties.messageExpiryInterval
            properties.messageExpiryInterval = nil
            let now = broker.now
            broker.applyHandoff(Message(topic: h.topic, payload: h.payload, qos: h.qos, retain: h.retain, properties: properties,
                                        expiresAt: expiry.map { now + UInt64($0) * 1000 }, origin: nil), to: incoming.clientId)
            finishIfComplete(h.migrationId, on: c)
        case .migrationStep(let s):
            migrationStep(s, on: c)
        case .drain(let d) where d.rate > 0:
            sendSessionList(on: c)
        default:
            break
        }
    }

    /// At start: the migrations the broker found stored (MigrationRecord) resume where they were;
    /// the coordinator re-sends its decisions when this gateway says HELLO.
    func restoreMigrations() {
        for record in broker.restoredMigrations {
            switch record {
            case .exported(let e): migrationsOut[e.migrationId] = e.clientId
            case .released(let id, let clientId, let frames): handoffsOut[id] = (clientId, frames)
            case .importing(let id, let clientId, let applied, let released):
                migrationsIn[id] = IncomingMigration(clientId: clientId, handoffsApplied: applied, releasedCount: released)
            }
        }
        if !broker.restoredMigrations.isEmpty { log.info("\(broker.restoredMigrations.count) migrations resume where they were") }
        broker.restoredMigrations = []
    }

    /// The target's progress, stored with the turn that applied it.
    private func storeIncoming(_ migrationId: UInt64) {
        guard let m = migrationsIn[migrationId] else { return }
        broker.store.saveMigration(.importing(migrationId: migrationId, clientId: m.clientId, handoffsApplied: m.handoffsApplied,
                                              releasedCount: m.releasedCount))
    }

    /// How long the source waits for the client to acknowledge what is in flight before it
    /// exports anyway (what is still in flight is re-sent by the target, with DUP).
    static let inflightDrainMs: UInt64 = 500

    private func exportSession(_ m: FleetFrame.Migrate, on c: CoordinatorConnection) {
        if migrationsOut[m.migrationId] != nil || migrationsDraining[m.migrationId] != nil { return }  // a repeat
        switch broker.beginMoving(m.clientId) {
        case .failure(let refusal):
            log.notice("migration \(m.migrationId): not exporting \(m.clientId): \(refusal)")
            c.sendControl(.migrationStep(.init(migrationId: m.migrationId, step: .refused, reason: "\(refusal)")))
        case .success(let inflight):
            migrationsDraining[m.migrationId] = m.clientId
            if inflight == 0 { return finishExport(m) }
            // Polled on the loop: a few turns at most, bounded by `inflightDrainMs`.
            let started = loop.now
            let timer = LoopTimer(loop: loop)
            timer.start(afterMilliseconds: 5, repeatEveryMilliseconds: 5) { [weak self, timer] in
                guard let self else { return timer.close() }
                let left = broker.inflightCount(of: m.clientId) ?? 0
                guard left == 0 || loop.now &- started >= Self.inflightDrainMs || migrationsDraining[m.migrationId] == nil else { return }
                timer.close()
                finishExport(m)
            }
        }
    }

    /// Second step at the source: the client is no longer read, its session goes to the target.
    private func finishExport(_ m: FleetFrame.Migrate) {
        guard migrationsDraining.removeValue(forKey: m.migrationId) != nil else { return }  // aborted meanwhile
        guard phase == .established, let c = connection else {
            return broker.abortMigration(m.clientId, migrationId: nil)  // the coordinator aborts too
        }
        switch broker.exportSession(m.clientId, migrationId: m.migrationId, epoch: m.epoch, target: m.targetGatewayId,
                                    serverReference: m.serverReference, mode: m.mode) {
        case .failure(let refusal):
            log.notice("migration \(m.migrationId): not exporting \(m.clientId): \(refusal)")
            c.sendControl(.migrationStep(.init(migrationId: m.migrationId, step: .refused, reason: "\(refusal)")))
        case .success(let bytes):
            let transfer = FleetFrame.sessionTransfer(.init(migrationId: m.migrationId, clientId: m.clientId, session: bytes))
            let encoded = FleetFrameEncoder.encode(transfer)
            guard encoded.count <= c.peerMaximumFrameSize else {
                broker.abortMigration(m.clientId, migrationId: m.migrationId)
                c.sendControl(.migrationStep(.init(migrationId: m.migrationId, step: .refused,
                                                   reason: "session of \(encoded.count) bytes is larger than the coordinator's frame limit")))
                return
            }
            migrationsOut[m.migrationId] = m.clientId
            c.sendBulk(encoded)
            log.info("migration \(m.migrationId): exported \(m.clientId) (\(bytes.count) bytes) for \(m.targetGatewayId)")
        }
    }

    private func importSession(_ t: FleetFrame.SessionTransfer, on c: CoordinatorConnection) {
        if migrationsIn[t.migrationId] != nil {
            return c.sendControl(.migrationStep(.init(migrationId: t.migrationId, step: .imported)))
        }
        switch broker.importSession(t.session) {
        case .failure(let refusal):
            log.notice("migration \(t.migrationId): not importing \(t.clientId): \(refusal)")
            c.sendControl(.migrationStep(.init(migrationId: t.migrationId, step: .refused, reason: "\(refusal)")))
        case .success(let clientId):
            migrationsIn[t.migrationId] = IncomingMigration(clientId: clientId, handoffsApplied: 0, releasedCount: nil)
            storeIncoming(t.migrationId)
            // Interest first: the new subscriptions' INTEREST_DELTA goes out before `imported`
            // (both control, in order), so the fleet routes here before the source lets go.
            flushInterest()
            // Sent in this turn, which stored the session: it leaves after that commit.
            c.sendControl(.migrationStep(.init(migrationId: t.migrationId, step: .imported)))
            log.info("migration \(t.migrationId): imported \(clientId)")
        }
    }

    private func migrationStep(_ s: FleetFrame.MigrationStep, on c: CoordinatorConnection) {
        switch s.step {
        case .commit:
            if let kept = handoffsOut[s.migrationId] {
                // The commit again (a link or the coordinator went away meanwhile): everything
                // handed on goes again; the target skips indexes it has.
                for frame in kept.frames { c.sendBulk(frame) }
                c.sendControl(.migrationStep(.init(migrationId: s.migrationId, step: .released, count: UInt64(kept.frames.count))))
                return
            }
            guard let clientId = migrationsOut.removeValue(forKey: s.migrationId) else { return }
            let arrived = broker.commitMigration(clientId) ?? []
            var index: UInt64 = 0
            var frames: [[UInt8]] = []
            for (delivery, identity) in arrived {
                let m = delivery.message
                let h = FleetFrame.Handoff(migrationId: s.migrationId, index: index + 1, originGatewayId: identity?.origin ?? "",
                                           originSequence: identity?.sequence ?? 0,
                                           topic: m.topic, qos: m.qos, retain: m.retain,
                                           properties: forwardProperties(of: m), payload: m.payload)
                guard h.limitProblem == nil else { continue }
                index += 1
                frames.append(FleetFrameEncoder.encode(.handoff(h)))
                c.sendBulk(frames[frames.count - 1])
            }
            // Kept until the target is done, for a re-send; stored in the transaction that deletes
            // the session, so a kill -9 from here on loses none of them.
            handoffsOut[s.migrationId] = (clientId, frames)
            broker.store.saveMigration(.released(migrationId: s.migrationId, clientId: clientId, frames: frames))
            c.sendControl(.migrationStep(.init(migrationId: s.migrationId, step: .released, count: index)))
            log.info("migration \(s.migrationId): released \(clientId) (\(index) messages handed on)")
        case .abort:
            if let clientId = migrationsDraining.removeValue(forKey: s.migrationId) {
                broker.abortMigration(clientId, migrationId: nil)
            }
            if let clientId = migrationsOut.removeValue(forKey: s.migrationId) {
                broker.abortMigration(clientId, migrationId: s.migrationId)
                log.notice("migration \(s.migrationId): aborted, keeping \(clientId): \(s.reason)")
            }
            if let incoming = migrationsIn.removeValue(forKey: s.migrationId) {
                broker.store.deleteMigration(s.migrationId)
                broker.dropImportedSession(incoming.clientId)
                log.notice("migration \(s.migrationId): aborted, dropping the imported \(incoming.clientId): \(s.reason)")
            }
        case .released:
            guard var incoming = migrationsIn[s.migrationId] else { return }
            incoming.releasedCount = s.count
            migrationsIn[s.migrationId] = incoming
            storeIncoming(s.migrationId)
            finishIfComplete(s.migrationId, on: c)
        case .done:
            if handoffsOut.removeValue(forKey: s.migrationId) != nil { broker.store.deleteMigration(s.migrationId) }
        case .imported, .refused, .handoffAck:
            break  // not sent to an agent
        }
    }

    /// DRAIN: every session this gateway holds (but those already moving), in parts.
    private func sendSessionList(on c: CoordinatorConnection) {
        let ids = broker.clientIdsForDrain()
        var part: [String] = []
        var bytes = 0
        for id in ids {
            if part.count == FleetLimits.maxClientIdsPerList || bytes + id.utf8.count > 256 * 1024 {
                c.sendControl(.sessionList(.init(clientIds: part, last: false)))
                part = []
                bytes = 0
            }
            part.append(id)
            bytes += id.utf8.count + 2
        }
        c.sendControl(.sessionList(.init(clientIds: part, last: true)))
        log.info("drain: listed \(ids.count) sessions for the coordinator")
    }

    /// `released` (control) may overtake the HANDOFFs (bulk) it counts: done once both are in.
    private func finishIfComplete(_ migrationId: UInt64, on c: CoordinatorConnection) {
        guard let incoming = migrationsIn[migrationId], let count = incoming.releasedCount, incoming.handoffsApplied >= count else { return }
        migrationsIn[migrationId] = nil
        broker.store.deleteMigration(migrationId)
        if let session = broker.session(of: incoming.clientId) {
            session.isArriving = false
            session.identitiesTaken = []
        }
        // A FORWARD still to come was in flight when the source let go; one that never comes (it
        // was not routed here) is forgotten after a minute.
        let now = loop.now
        handedOffAhead = handedOffAhead.filter { now &- $0.value.at < 60_000 }
        c.sendControl(.migrationStep(.init(migrationId: migrationId, step: .done)))
        log.info("migration \(migrationId): \(incoming.clientId) is served here (\(count) messages handed on)")
    }

    /// A FORWARD whose copy a moved session already took as a HANDOFF: that session, to skip.
    func alreadyHandedOff(_ identity: FabricIdentity) -> Session? {
        guard !handedOffAhead.isEmpty, let ahead = handedOffAhead.removeValue(forKey: identity) else { return nil }
        metrics.handoffDuplicatesSkipped += 1
        return broker.session(of: ahead.client)
    }

    /// The properties a message travels with, its expiry as the remaining seconds.
    private func forwardProperties(of m: Message) -> MQTTProperties {
        var p = m.properties
        if let remaining = m.remainingExpiry(now: broker.now) { p.messageExpiryInterval = remaining }
        return p
    }
}

/// A session moved here whose migration is not finished.
struct IncomingMigration {
    let clientId: String
    var handoffsApplied: UInt64
    /// The source's `released` count, once it came.
    var releasedCount: UInt64?
}
