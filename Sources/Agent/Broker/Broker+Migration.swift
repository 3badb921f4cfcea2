import FleetCore
import FleetProtocol
import FleetRuntime

/// A client migration as the broker sees it (Protocol/agent-coordinator.md §5.14-§5.18): the source exports a
/// session and, at `commit`, redirects the client and lets go; the target imports it. The
/// coordinator link carries the frames (CoordinatorLink+Migration); the decisions are the
/// coordinator's. Loop-thread only.
extension Broker {
    /// A session this gateway is giving away: exported, waiting for the coordinator's decision.
    struct OutgoingMigration {
        let migrationId: UInt64
        let serverReference: String
        /// Messages with a session sequence from here on reached the session after the export.
        let exportedNextSeq: Int64
        /// The client's connection, held (not read) until the decision.
        let heldConnection: MQTTConnection?
        let mode: MigrationMode
        /// Went into the exported session: the target lets this gateway relay the client with it.
        let relaySecret: [UInt8]
    }

    /// A session that moved away: a CONNECT for it is redirected, or relayed, until `untilMs`
    /// (wall clock).
    struct MovedSession {
        let serverReference: String
        let untilMs: UInt64
        let relay: Relay?

        /// This gateway relays the client's later connections to the target (relay and auto
        /// modes): always for MQTT 3.1.1, which cannot be redirected; for MQTT 5 only in relay mode.
        struct Relay {
            let secret: [UInt8]
            let relaysMQTT5: Bool

            init(secret: [UInt8], relaysMQTT5: Bool) { self.secret = secret; self.relaysMQTT5 = relaysMQTT5 }

            /// The `moved_sessions.relay` column: a flags byte (1 = MQTT 5 too), then the secret.
            var stored: [UInt8] { [relaysMQTT5 ? 1 : 0] + secret }
            init?(stored: [UInt8]) {
                guard stored.count == 1 + RelayCredential.secretBytes else { return nil }
                self.init(secret: Array(stored.dropFirst()), relaysMQTT5: stored[0] & 1 != 0)
            }

            func relays(_ version: MQTTVersion) -> Bool { version == .v311 || relaysMQTT5 }
        }
    }

    enum MigrationRefusal: Error, CustomStringConvertible {
        case noSuchSession, alreadyMoving, clientConnectedHere, staleEpoch(held: UInt64, offered: UInt64), undecodable(String)
        var description: String {
            switch self {
            case .noSuchSession: "no such session on this gateway"
            case .alreadyMoving: "the session is already moving"
            case .clientConnectedHere: "the client is connected to this gateway"
            case .staleEpoch(let held, let offered): "epoch \(offered) is not above the session's \(held)"
            case .undecodable(let why): "session not readable: \(why)"
            }
        }
    }

    // MARK: Source

    /// First step at the source: nothing new goes to the client (QoS >= 1 waits in the queue and
    /// moves with the session), while its connection is still read, so acknowledgements of what
    /// is in flight come in and the export carries as little in flight as possible (each of
    /// those is sent again by the target, with DUP). Returns the in-flight count to wait for.
    func beginMoving(_ clientId: String) -> Result<Int, MigrationRefusal> {
        let id = ExactString(clientId)
        guard let session = sessions[id] else { return .failure(.noSuchSession) }
        guard migratingOut[id] == nil, !session.isMoving else { return .failure(.alreadyMoving) }
        session.isMoving = true
        return .success(session.machine.inflight.count)
    }

    /// Every session a drain moves: all but those already moving, in client id order.
    func clientIdsForDrain() -> [String] {
        sessions.values.filter { !$0.isMoving && migratingOut[ExactString($0.clientId)] == nil }.map(\.clientId).sorted()
    }

    /// Messages of a moving session still waiting for the client's acknowledgement.
    func inflightCount(of clientId: String) -> Int? { sessions[ExactString(clientId)]?.machine.inflight.count }

    /// Stops reading the client and returns its session's serialised form, carrying the new
    /// epoch and owner. Until `commitMigration` or `abortMigration` the session stays here and
    /// keeps taking what is routed to it.
    func exportSession(_ clientId: String, migrationId: UInt64, epoch: UInt64, target: String,
                       serverReference: String, mode: MigrationMode = .redirect) -> Result<[UInt8], MigrationRefusal> {
        let id = ExactString(clientId)
        guard let session = sessions[id] else { return .failure(.noSuchSession) }
        guard migratingOut[id] == nil else { return .failure(.alreadyMoving) }
        var state = session.machine.state
        guard epoch > state.epoch else {
            stopMoving(session)
            return .failure(.staleEpoch(held: state.epoch, offered: epoch))
        }
        let connection = session.connection
        connection?.hold()   // reading stops; what was read is handled (a packet boundary)
        // A relay needs the target's address; without one (or in redirect mode) none is made.
        let relaySecret = mode == .redirect || serverReference.isEmpty ? [] : SecureRandom.bytes(RelayCredential.secretBytes)
        migratingOut[id] = OutgoingMigration(migrationId: migrationId, serverReference: serverReference,
                                             exportedNextSeq: state.nextSeq, heldConnection: connection, mode: mode,
                                             relaySecret: relaySecret)
        state.epoch = epoch
        state.ownerGateway = target
        state.relaySecret = relaySecret
        // Stored with this turn: a source killed before the decision comes back with the session
        // still moving, so the commit (re-sent by the coordinator) finds it.
        store.saveMigration(.exported(.init(migrationId: migrationId, clientId: clientId, target: target, serverReference: serverReference,
                                            mode: mode, relaySecret: relaySecret, exportedNextSeq: state.nextSeq)))
        metrics.migrationsExported += 1
        return .success(state.serialized(asOf: now))
    }

    /// The coordinator's commit: the target owns the session. The client is told to use the target
    /// (MQTT 5: DISCONNECT 0x9C with the Server Reference; MQTT 3.1.1 cannot be told and is
    /// closed), or, in relay mode (and auto for 3.1.1), its connection stays open and is relayed to
    /// the target (ClientRelay). The session leaves this gateway without its will (the will moved
    /// with it), and a later CONNECT for it is redirected or relayed for the session's lifetime.
    /// Returns what reached the session after the export, in order, with where each entered the
    /// fleet, for the target.
    func commitMigration(_ clientId: String) -> [(OutboundMessage, FabricIdentity?)]? {
        let id = ExactString(clientId)
        guard let outgoing = migratingOut.removeValue(forKey: id), let session = sessions[id] else { return nil }
        let arrived = session.machine.state.outbound.filter { $0.seq >= outgoing.exportedNextSeq }
            .map { ($0, session.handoffIdentities[$0.seq]) }
        session.handoffIdentities = [:]
        let relay = outgoing.relaySecret.isEmpty ? nil
            : MovedSession.Relay(secret: outgoing.relaySecret, relaysMQTT5: outgoing.mode == .relay)
        // Messages still to be re-sent on this connection (it resumed the session moments ago)
        // would never be: such a client is closed instead, and relayed when it comes back.
        if let c = session.connection, let relay, relay.relays(c.version), session.machine.awaitingResend.isEmpty {
            session.connection = nil
            c.session = nil
            metrics.clientsConnected -= 1
            startHandoverRelay(c, session: session, secret: relay.secret, target: outgoing.serverReference)
        } else if let c = session.connection {
            session.connection = nil
            c.session = nil
            if c.version == .v5 {
                var properties = c.reasonString("the session moved to another gateway")
                if !outgoing.serverReference.isEmpty { properties.serverReference = outgoing.serverReference }
                c.send(.disconnect(DisconnectPacket(reasonCode: .useAnotherServer, properties: properties)))
            }
            c.close()
            metrics.clientsConnected -= 1
        }
        outgoing.heldConnection?.release()
        let lifetimeMs = session.machine.expiryInterval == UInt32.max ? UInt64(UInt32.max) * 1000 : UInt64(session.machine.expiryInterval) * 1000
        movedSessions[id] = MovedSession(serverReference: outgoing.serverReference, untilMs: now &+ lifetimeMs, relay: relay)
        _ = session.machine.takeWill()
        discard(session)
        // The same turn's commit deletes the session and writes the redirect: a restart finds one.
        store.saveMoved(clientId, reference: outgoing.serverReference, untilMs: now &+ lifetimeMs, relay: relay?.stored)
        metrics.migrationsCommitted += 1
        return arrived
    }

    /// The migration is off: the client is read again and served what waited, the session stays.
    func abortMigration(_ clientId: String, migrationId: UInt64?) {
        let id = ExactString(clientId)
        if let outgoing = migratingOut[id] {
            guard migrationId == nil || outgoing.migrationId == migrationId else { return }
            migratingOut[id] = nil
            outgoing.heldConnection?.release()
            store.deleteMigration(outgoing.migrationId)
        }
        if let session = sessions[id], session.isMoving {
            session.handoffIdentities = [:]
            stopMoving(session)
        }
        metrics.migrationsAborted += 1
    }

    private func stopMoving(_ session: Session) {
        session.isMoving = false
        session.machine.pump(now: now, out: session)
    }

    /// What a CONNECT for a session that moved away or is moving gets, if it is not served here.
    enum MovedAnswer {
        /// MQTT 5 gets `v5` (with the reference, if any), 3.1.1 gets `v311`.
        case refuse(v5: ReasonCode, v311: ReasonCode, reference: String?, why: String)
        /// Relayed to the gateway that serves the session now.
        case relay(target: String, secret: [UInt8])
    }

    func movedAnswer(for clientId: String, version: MQTTVersion) -> MovedAnswer? {
        let id = ExactString(clientId)
        if migratingOut[id] != nil {
            return .refuse(v5: .serverUnavailable, v311: .v311ServerUnavailable, reference: nil,
                           why: "the session is moving to another gateway; try again")
        }
        guard let moved = movedSessions[id] else { return nil }
        guard now < moved.untilMs else {
            movedSessions[id] = nil
            store.deleteMoved(clientId)
            return nil
        }
        if let relay = moved.relay, relay.relays(version), !moved.serverReference.isEmpty {
            return .relay(target: moved.serverReference, secret: relay.secret)
        }
        return .refuse(v5: .useAnotherServer, v311: .v311ServerUnavailable, reference: moved.serverReference,
                       why: "the session moved to \(moved.serverReference)")
    }

    /// At start: migrations this agent was in the middle of (MigrationRecord). A session exported
    /// and not decided on is moving again (the coordinator re-sends its decision); one imported and
    /// not finished is arriving. The link takes the rest (`CoordinatorLink.restoreMigrations`).
    func restoreMigrations(_ records: [MigrationRecord]) {
        for record in records {
            switch record {
            case .exported(let e):
                guard let session = sessions[ExactString(e.clientId)] else { store.deleteMigration(e.migrationId); continue }
                session.isMoving = true
                migratingOut[ExactString(e.clientId)] = OutgoingMigration(
                    migrationId: e.migrationId, serverReference: e.serverReference, exportedNextSeq: e.exportedNextSeq,
                    heldConnection: nil, mode: e.mode, relaySecret: e.relaySecret)
                restoredMigrations.append(record)
            case .importing(_, let clientId, _, _):
                sessions[ExactString(clientId)]?.isArriving = true
                restoredMigrations.append(record)
            case .released:
                restoredMigrations.append(record)
            }
        }
    }

    // MARK: Target

    /// Stores a session moved here (fenced by its epoch) and puts it in the trie: from the next
    /// interest update on, the fleet routes its messages here. Not connected until its client
    /// comes.
    func importSession(_ bytes: [UInt8]) -> Result<String, MigrationRefusal> {
        let state: SessionState
        do { state = try SessionState(serialized: bytes, receivedAt: now) } catch { return .failure(.undecodable("\(error)")) }
        let id = ExactString(state.clientId)
        if let existing = sessions[id] {
            guard existing.connection == nil else { return .failure(.clientConnectedHere) }
            guard state.epoch > existing.machine.state.epoch else {
                return .failure(.staleEpoch(held: existing.machine.state.epoch, offered: state.epoch))
            }
            discard(existing)
        }
        if movedSessions.removeValue(forKey: id) != nil { store.deleteMoved(state.clientId) }
        var machine = SessionMachine(state: state)
        machine.restored(now: now)
        let session = Session(machine: machine, broker: self)
        session.isArriving = true
        sessions[id] = session
        for (filter, options) in session.machine.subscriptions { addToTables(filter: filter, options: options, session: session) }
        store.markDirty(session)
        metrics.migrationsImported += 1
        return .success(state.clientId)
    }

    /// A message that reached the session at the source after its export.
    func applyHandoff(_ message: Message, to clientId: String) {
        guard let session = sessions[ExactString(clientId)] else { return }
        session.machine.offer(message, subscriptionIdentifiers: [], maxQueued: limits.maxQueuedMessages, now: now, out: session)
    }

    func session(of clientId: String) -> Session? { sessions[ExactString(clientId)] }

    /// The migration was aborted after the import: the session goes again (the source keeps it).
    func dropImportedSession(_ clientId: String) {
        guard let session = sessions[ExactString(clientId)], session.connection == nil else { return }
        _ = session.machine.takeWill()
        discard(session)
    }
}
