import FleetCore
import FleetProtocol
import FleetRuntime

/// The result of authenticating a CONNECT.
enum AuthOutcome {
    case accepted(ClientIdentity)
    /// Refused with the MQTT 5 and 3.1.1 codes and a reason for the log and reason string.
    case refused(ReasonCode, ReasonCode, String)
}

/// What authenticating a CONNECT takes: nothing more, or a password check (user name, password,
/// the password file, the identity if it verifies).
enum AuthenticationStep {
    case decided(AuthOutcome)
    case checkPassword(String, [UInt8], PasswordFile, ClientIdentity)
}

/// Authentication and authorization settings of a running broker; `reload` swaps the password
/// file on SIGHUP. Loop-thread only.
final class SecurityState {
    let auth: AuthSettings
    /// The config file's rules merged with the documents stored in the database; nil when there
    /// are none at all (every authenticated client may do anything).
    private(set) var policies: PolicySet?
    private(set) var passwords: PasswordFile?
    /// The bounds on what unauthenticated connections may cost (password queue, pre-auth bytes).
    let admission: Admission

    init(auth: AuthSettings, policies: PolicySet?, limits: BrokerLimits) throws(PasswordFileError) {
        self.auth = auth
        self.policies = policies
        self.admission = Admission(limits: limits)
        if let path = auth.passwordFile { passwords = try PasswordFile.load(path: path) }
    }

    /// Re-reads the password file; on error the old one stays in force.
    func reload() throws(PasswordFileError) {
        if let path = auth.passwordFile { passwords = try PasswordFile.load(path: path) }
    }

    /// New rules for connections made from now on; established ones keep what they were given.
    func replacePolicies(_ p: PolicySet?) { policies = p }

    /// The compiled rules for one connection; nil when nothing is restricted (the broker then
    /// skips every check on the hot path).
    func policy(for identity: ClientIdentity) -> ConnectionPolicy? {
        guard let policies else { return nil }
        let p = ConnectionPolicy(policies: policies, identity: identity)
        return p.isUnrestricted ? nil : p
    }

    /// The device identity a certificate carries, from the configured field.
    func identity(of certificate: PeerCertificate) -> String? {
        switch auth.identityField {
        case .cn: certificate.subjectCommonName
        case .san_dns: certificate.dnsNames.first
        case .san_uri: certificate.uris.first
        case .san_email: certificate.emails.first
        }
    }
}

extension Broker {
    /// Decides who the client is: its verified certificate (mutual TLS), else username and password
    /// against the password file, else anonymous if allowed. Decided at once unless a password must
    /// be checked (`verifyPassword`: on a worker thread, PBKDF2 costs tens of milliseconds); only
    /// that case pays for an escaping completion.
    func authenticationStep(_ p: ConnectPacket, clientId: String, on c: MQTTConnection) -> AuthenticationStep {
        if let certificate = c.stream.tls?.peerCertificate {
            guard let name = security.identity(of: certificate) else {
                return .decided(.refused(.notAuthorized, .v311NotAuthorized, "the certificate has no \(security.auth.identityField.rawValue)"))
            }
            if security.auth.clientIdMustMatchIdentity && clientId != name {
                return .decided(.refused(.clientIdentifierNotValid, .v311IdentifierRejected,
                                         "client id must equal the certificate identity"))
            }
            // A user name next to a certificate counts only if its password verifies; a claimed
            // name without one is ignored, so a device certificate cannot borrow a user's rules.
            if let username = p.username, let password = p.password, let passwords = security.passwords {
                return .checkPassword(username, password, passwords,
                                      ClientIdentity(clientId: clientId, username: username, certificateCN: name))
            }
            return .decided(.accepted(ClientIdentity(clientId: clientId, username: nil, certificateCN: name)))
        }
        if let username = p.username, let passwords = security.passwords {
            guard let password = p.password else { return .decided(Self.badCredentials) }
            return .checkPassword(username, password, passwords, ClientIdentity(clientId: clientId, username: username))
        }
        if p.username != nil && security.auth.passwordFile != nil { return .decided(Self.badCredentials) }
        guard security.auth.allowAnonymous else {
            return .decided(.refused(.notAuthorized, .v311NotAuthorized, "anonymous access is off"))
        }
        return .decided(.accepted(ClientIdentity(clientId: clientId, username: p.username)))
    }

    static var badCredentials: AuthOutcome {
        .refused(.badUserNameOrPassword, .v311BadUserNameOrPassword, "bad user name or password")
    }

    /// The outcome of a `.checkPassword` step, given the check's result.
    static func passwordOutcome(_ result: PasswordCheckResult, _ identity: ClientIdentity) -> AuthOutcome {
        switch result {
        case .verified: .accepted(identity)
        case .wrong: badCredentials
        case .busy: .refused(.serverBusy, .v311ServerUnavailable, "too many logins are being checked; try again later")
        }
    }

    /// PBKDF2 on libuv's thread pool, through `Admission`'s bounded queue: refused at once
    /// (`.busy`, no hashing) when the queue or this address's share is full, delayed (on a timer,
    /// not a worker) after repeated failures from the same address, and skipped if the connection
    /// is gone by the time a worker is free. The connection holds later packets until the answer.
    /// Loop thread.
    func verifyPassword(_ username: String, _ password: [UInt8], _ passwords: PasswordFile, on c: MQTTConnection,
                        _ done: @escaping (PasswordCheckResult) -> Void) {
        let admission = security.admission
        let address = LoginFailureTable.host(of: c.stream.remoteAddress)
        guard admission.checks.admit(address: address) else {
            metrics.passwordChecksBusy += 1
            return done(.busy)
        }
        c.phase = .authenticating
        let check = PasswordCheck(connection: c, username: username, password: password, passwords: passwords) { [weak c] result in
            guard let c, c.phase == .authenticating else { return }  // closed meanwhile
            c.phase = .awaitingConnect
            done(result)
            c.processPendingBytes()
        }
        let delay = admission.failures.delay(for: address, now: loopNow)
        guard delay > 0 else {
            admission.checks.enqueue(check, address: address)
            return startPasswordChecks()
        }
        metrics.passwordChecksDelayed += 1
        let timer = LoopTimer(loop: loop)
        timer.start(afterMilliseconds: delay) { [unowned self] in
            timer.close()
            if check.isAbandoned {
                admission.checks.finish(address: address, wasRunning: false)
                metrics.passwordChecksSkipped += 1
            } else {
                admission.checks.enqueue(check, address: address)
                startPasswordChecks()
            }
        }
    }

    /// Starts queued checks while workers are free; skips those whose connection went away.
    /// Loop thread.
    private func startPasswordChecks() {
        let admission = security.admission
        while let (address, check) = admission.checks.next() {
            if check.isAbandoned {
                admission.checks.finish(address: address, wasRunning: true)
                metrics.passwordChecksSkipped += 1
                continue
            }
            let username = check.username, password = check.password, passwords = check.passwords
            loop.runBlocking({ passwords.verify(username: username, password: password) }) { [unowned self] ok in
                admission.checks.finish(address: address, wasRunning: true)
                // An abandoned wrong guess counts too: closing quickly must not dodge the delay.
                if ok {
                    admission.failures.recordSuccess(address, now: loopNow)
                } else {
                    admission.failures.recordFailure(address, now: loopNow)
                    metrics.passwordFailures += 1
                }
                check.done(ok ? .verified : .wrong)
                startPasswordChecks()
            }
        }
    }

    /// Logs a refusal at most once per client per minute; the metric counts every one.
    func logDenial(_ c: MQTTConnection, _ action: String, _ topic: String) {
        metrics.authorizationDenials += 1
        let now = loopNow
        guard now >= c.lastDenialLog + 60_000 || c.lastDenialLog == 0 else { return }
        c.lastDenialLog = now
        log.notice("denied \(action) on '\(topic)' for \(c.session?.clientId ?? "?") (\(c.identity?.username ?? c.identity?.certificateCN ?? "anonymous"))")
    }
}
