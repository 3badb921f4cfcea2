import FleetCore
import FleetProtocol
import FleetRuntime

extension Broker {
    /// The first packet was not a valid CONNECT. A protocol level we do not speak is answered
    /// with the refusal the client can read (MQTT 3.1.1 §3.1.2.2, MQTT 5 §3.1.2.2); anything else
    /// is closed without an answer, as both specs require for a malformed CONNECT. A CONNECT over
    /// `limits.maxConnectPacketSize` gets CONNACK 0x95 when its bytes so far show MQTT 5 (3.1.1
    /// has no code for it: closed).
    func rejectConnect(_ c: MQTTConnection, error: MQTTDecodeError, bytes: UnsafeRawBufferPointer) {
        log.notice("refusing connection from \(c.stream.remoteAddress): \(error)")
        if case .limitExceeded(let why) = error {
            // Only MQTT 5 packets carry what our limits bound (user properties): a well-formed
            // CONNECT over them hears why, which a malformed one cannot.
            c.version = .v5
            c.send(.connack(ConnAckPacket(sessionPresent: false, reasonCode: error.reasonCode, properties: c.reasonString(why))))
        } else if case .packetTooLarge = error {
            metrics.connectPacketsTooLarge += 1
            if Self.connectProtocolLevel(bytes) == MQTTVersion.v5.rawValue {
                c.version = .v5
                c.send(.connack(ConnAckPacket(sessionPresent: false, reasonCode: .packetTooLarge)))
            }
        } else if case .unsupportedProtocolVersion(let level) = error {
            let asV5 = level > MQTTVersion.v5.rawValue
            c.version = asV5 ? .v5 : .v311
            c.send(.connack(ConnAckPacket(sessionPresent: false,
                                          reasonCode: asV5 ? .unsupportedProtocolVersion : .v311UnacceptableProtocolVersion)))
        }
        c.close()
    }

    /// The protocol level byte of the CONNECT at the start of `bytes`, if that far has arrived
    /// (fixed header, then the 2-byte length of "MQTT", the name, the level).
    static func connectProtocolLevel(_ bytes: UnsafeRawBufferPointer) -> UInt8? {
        var i = 1
        while i < bytes.count && i <= 4 && bytes[i] & 0x80 != 0 { i += 1 }
        let level = i + 1 + 2 + 4
        return level < bytes.count ? bytes[level] : nil
    }

    func handleConnect(_ p: ConnectPacket, on c: MQTTConnection) {
        c.version = p.version
        c.decoder.version = p.version
        let v5 = p.version == .v5
        // Known from here, so a refusing CONNACK honours it too.
        if v5, let maximum = p.properties.maximumPacketSize { c.clientMaxPacketSize = Int(maximum) }

        func refuse(_ v5Code: ReasonCode, _ v311Code: ReasonCode, _ why: String) {
            refuseConnect(p, on: c, v5Code, v311Code, why)
        }

        let admitted: (clientId: String, assigned: Bool)
        switch ConnectRules.admit(p, limits: limits, assignClientId: {
            "fleetgate-" + SecureRandom.bytes(12).map { String($0, radix: 16).leftPadded(2) }.joined()
        }) {
        case .failure(let refusal): return refuse(refusal.v5Code, refusal.v311Code, refusal.reason)
        case .success(let result): admitted = result
        }
        let clientId = admitted.clientId
        let assigned = admitted.assigned ? clientId : nil

        // A gateway relaying a migrated client (Broker+Relay): authenticated by the session's
        // relay secret, with the identity the relaying gateway authenticated.
        if p.username == RelayCredential.username {
            guard let (identity, credential) = acceptRelay(p, clientId: clientId, on: c) else { return }
            return completeConnect(p, clientId: clientId, assigned: nil, identity: identity, on: c, relay: credential)
        }

        // Authentication may take a worker thread (PBKDF2); the connection waits in
        // `.authenticating`, holding any packets pipelined behind CONNECT.
        switch authenticationStep(p, clientId: clientId, on: c) {
        case .decided(let outcome):
            connectAuthenticated(p, outcome, clientId: clientId, assigned: assigned, on: c)
        case .checkPassword(let username, let password, let passwords, let identity):
            verifyPassword(username, password, passwords, on: c) { [unowned self] result in
                connectAuthenticated(p, Self.passwordOutcome(result, identity), clientId: clientId, assigned: assigned, on: c)
            }
        }
    }

    private func connectAuthenticated(_ p: ConnectPacket, _ outcome: AuthOutcome, clientId: String, assigned: String?, on c: MQTTConnection) {
        switch outcome {
        case .accepted(let identity):
            completeConnect(p, clientId: clientId, assigned: assigned, identity: identity, on: c)
        case .refused(let v5Code, let v311Code, let why):
            refuseConnect(p, on: c, v5Code, v311Code, why)
        }
    }

    func refuseConnect(_ p: ConnectPacket, on c: MQTTConnection, _ v5Code: ReasonCode, _ v311Code: ReasonCode, _ why: String) {
        log.notice("refusing CONNECT from \(c.stream.remoteAddress) (\(p.clientId)): \(why)")
        metrics.connectsRefused += 1
        c.send(.connack(ConnAckPacket(sessionPresent: false, reasonCode: p.version == .v5 ? v5Code : v311Code,
                                      properties: c.reasonString(why))))
        c.close()
    }

    /// Everything after authentication: takeover, session, CONNACK, resumption. `relay`: the
    /// connection is a gateway relaying the client (Broker+Relay).
    private func completeConnect(_ p: ConnectPacket, clientId: String, assigned: String?, identity: ClientIdentity, on c: MQTTConnection,
                                 relay: RelayCredential? = nil) {
        let terms = ConnectNegotiation(p, assignedClientId: assigned, limits: limits)

        // A session that moved to another gateway, or is moving: relayed there (relay mode, and
        // auto for 3.1.1), else MQTT 5 is told where (0x9C with a Server Reference) and 3.1.1 that
        // the server is unavailable.
        switch movedAnswer(for: clientId, version: p.version) {
        case nil:
            break
        case .relay(let target, let secret)?:
            return startConnectRelay(p, identity: identity, target: target, secret: secret, on: c)
        case .refuse(let v5, let v311, let reference, let why)?:
            metrics.connectsRedirected += 1
            log.notice("refusing CONNECT from \(c.stream.remoteAddress) (\(clientId)): \(why)")
            metrics.connectsRefused += 1
            var properties = c.reasonString(why)
            if p.version == .v5, let reference, !reference.isEmpty { properties.serverReference = reference }
            c.send(.connack(ConnAckPacket(sessionPresent: false, reasonCode: p.version == .v5 ? v5 : v311, properties: properties)))
            return c.close()
        }

        // Take over a live connection with the same client id (MQTT §3.1.4 step 3).
        let id = ExactString(clientId)
        let existing = sessions[id]
        // Only a new session counts against the limit: resuming or taking one over never does.
        if existing == nil && sessions.count >= limits.maxSessions {
            metrics.sessionsRefused += 1
            return refuseConnect(p, on: c, .quotaExceeded, .v311ServerUnavailable, "the broker holds its maximum of \(limits.maxSessions) sessions")
        }
        if let existing, let old = existing.connection {
            metrics.takeovers += 1
            if old.version == .v5 {
                old.send(.disconnect(DisconnectPacket(reasonCode: .sessionTakenOver, properties: old.reasonString("another connection took the session"))))
            }
            existing.connection = nil
            old.session = nil
            old.close()
            metrics.clientsConnected -= 1
            endConnection(of: existing, cleanly: false)
        }

        let session: Session
        // A session can only be here now if one was before (the takeover may have ended it).
        let stale = existing == nil ? nil : sessions[id]
        // A relayed client's session keeps the secret its relay authenticates with, also when
        // Clean Start replaces the session.
        let relayedOwnership = relay == nil ? nil : existing?.machine.ownership
        let opening = SessionMachine.opening(existing: stale?.machine, cleanStart: p.cleanStart, now: now)
        if opening == .resume, let stale {
            session = stale
        } else {
            if let stale {
                // An expired session ends as the sweep would have ended it, will included; Clean
                // Start discards a live one without its will.
                if opening == .expireAndStartNew { expire(stale) } else { discard(stale) }
            }
            session = Session(machine: SessionMachine(clientId: clientId, expiryInterval: terms.sessionExpiry, protocolVersion: p.version),
                              broker: self)
            sessions[id] = session
        }
        let sessionPresent = opening == .resume
        if let relayedOwnership, session.machine.ownership !== relayedOwnership { session.machine.ownership = relayedOwnership }
        session.connection = c
        c.session = session
        c.phase = .connected
        c.decoder.maximumPacketSize = limits.maxPacketSize  // the pre-CONNECT limit no longer applies
        c.identity = identity
        c.policy = security.policy(for: identity)
        metrics.clientsConnected += 1
        metrics.connects += 1

        c.keepAliveMs = terms.keepAliveMs
        c.clientMaxPacketSize = terms.clientMaxPacketSize
        c.requestProblemInformation = terms.requestProblemInformation
        c.outboundAliasLimit = terms.outboundAliasLimit
        // A hand-over keeps the session's will: the relay's CONNECT is not the client's.
        let handover = relay?.kind == .handover && sessionPresent
        let will = handover ? session.machine.will : p.will
        keepingDurableInterest(of: session) {
            session.machine.attach(ConnectionTerms(sendWindow: terms.sendWindow), will: will, expiryInterval: terms.sessionExpiry,
                                   version: p.version, policy: c.policy)
        }
        c.send(.connack(ConnAckPacket(sessionPresent: sessionPresent, reasonCode: .success, properties: terms.connackProperties)))
        log.debug("\(clientId) connected from \(c.stream.remoteAddress) (MQTT \(p.version), session present \(sessionPresent)\(relay == nil ? "" : ", relayed"))")
        if handover, let relay {
            for (alias, topic) in relay.inboundAliases { c.inboundAliases.set(alias, to: topic) }
            session.machine.continueRelayed(now: now, out: session)
        } else {
            session.machine.resume(now: now, out: session)
        }
    }

    func handleDisconnect(_ d: DisconnectPacket, session: Session, on c: MQTTConnection) {
        let outcome = keepingDurableInterest(of: session) {
            session.machine.receiveDisconnect(reason: d.reasonCode, sessionExpiry: d.properties.sessionExpiryInterval,
                                              maximumExpiry: limits.maxSessionExpiry)
        }
        switch outcome {
        case .violation(let reason, let why):
            c.protocolViolation(reason, why)
        case .close(let publishWill):
            c.disconnectedCleanly = !publishWill
            c.close()
        }
    }
}

extension String {
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
