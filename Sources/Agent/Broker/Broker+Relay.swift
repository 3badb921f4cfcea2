import FleetCore
import FleetProtocol
import FleetRuntime

/// Relay mode of a connection migration (Protocol/agent-coordinator.md §10): the source keeps a migrated
/// client's connection and relays its MQTT stream to the target (ClientRelay); the target serves
/// the session on the relayed connection with the identity the source authenticated. Loop-thread
/// only.
extension Broker {
    // MARK: Source

    /// At commit: the client's live connection goes on at the target. The relay's CONNECT carries
    /// what the client negotiated here, so the target holds it to the same terms.
    func startHandoverRelay(_ c: MQTTConnection, session: Session, secret: [UInt8], target: String) {
        var credential = RelayCredential(kind: .handover, secret: secret, username: c.identity?.username,
                                         certificateIdentity: c.identity?.certificateCN,
                                         inboundAliases: c.version == .v5 ? c.inboundAliases.entries : [])
        var password = credential.encoded()
        if password == nil {
            // Only a huge alias table fails to fit: without it, an alias the client reuses is a
            // protocol error at the target, and the client reconnects (relayed again).
            credential.inboundAliases = []
            password = credential.encoded()
        }
        var connect = ConnectPacket(version: c.version, cleanStart: false, keepAlive: UInt16(clamping: c.keepAliveMs / 1000),
                                    clientId: session.clientId, username: RelayCredential.username, password: password)
        if c.version == .v5 {
            connect.properties.sessionExpiryInterval = session.machine.expiryInterval
            if let window = session.machine.terms?.sendWindow, window < Int(UInt16.max) { connect.properties.receiveMaximum = UInt16(window) }
            if c.clientMaxPacketSize < Int(UInt32.max) { connect.properties.maximumPacketSize = UInt32(c.clientMaxPacketSize) }
            if c.outboundAliasLimit > 0 { connect.properties.topicAliasMaximum = c.outboundAliasLimit }
            if !c.requestProblemInformation { connect.properties.requestProblemInformation = 0 }
        }
        ClientRelay(clientId: session.clientId, kind: .handover, target: target, opening: MQTTEncoder.encode(.connect(connect), version: c.version),
                    connection: c, broker: self).start()
    }

    /// A client whose session moved away connected here again: its CONNECT goes to the target
    /// with the user name and password replaced by the relay credential (the client was
    /// authenticated here), and everything after it is relayed both ways.
    func startConnectRelay(_ p: ConnectPacket, identity: ClientIdentity, target: String, secret: [UInt8], on c: MQTTConnection) {
        var connect = p
        connect.username = RelayCredential.username
        connect.password = RelayCredential(kind: .connect, secret: secret, username: identity.username,
                                           certificateIdentity: identity.certificateCN).encoded()
        log.info("relaying CONNECT of \(p.clientId) from \(c.stream.remoteAddress) to \(target)")
        ClientRelay(clientId: p.clientId, kind: .connect(p.version), target: target, opening: MQTTEncoder.encode(.connect(connect), version: p.version),
                    connection: c, broker: self).start()
    }

    // MARK: Target

    /// A CONNECT with the relay user name: accepted only for a session held here whose relay
    /// secret the credential carries; the identity is the one the source authenticated.
    func acceptRelay(_ p: ConnectPacket, clientId: String, on c: MQTTConnection) -> (ClientIdentity, RelayCredential)? {
        let credential: RelayCredential
        do {
            credential = try RelayCredential(password: p.password ?? [])
        } catch {
            refuseConnect(p, on: c, .badUserNameOrPassword, .v311BadUserNameOrPassword, "relay credential: \(error)")
            return nil
        }
        guard let session = sessions[ExactString(clientId)], let secret = session.machine.ownership?.relaySecret,
              RelayCredential.secretsMatch(secret, credential.secret) else {
            refuseConnect(p, on: c, .notAuthorized, .v311NotAuthorized, "no session here that this relay may serve")
            return nil
        }
        if credential.kind == .handover && p.cleanStart {
            refuseConnect(p, on: c, .protocolError, .v311ServerUnavailable, "a relay hand-over must not start a clean session")
            return nil
        }
        metrics.relaysAccepted += 1
        return (ClientIdentity(clientId: clientId, username: credential.username, certificateCN: credential.certificateIdentity), credential)
    }
}
