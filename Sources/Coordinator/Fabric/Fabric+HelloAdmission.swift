import FleetCore
import FleetProtocol
import FleetRuntime

/// HELLO under attack: a host whose HELLOs keep failing waits before its next one is looked at,
/// and the failures are logged at a bounded rate. Loop-thread only.
extension Fabric {
    /// A HELLO arrived: answered now, or after the delay its host has earned by failing. The
    /// connection is not read meanwhile (within the handshake timeout, which still applies).
    func admitHello(_ h: FleetFrame.Hello, on c: GatewayConnection) {
        let delay = helloFailures.delay(for: LoginFailureTable.host(of: c.stream.remoteAddress), now: loop.now)
        guard delay > 0 else { return hello(h, on: c) }
        counters.hellosDelayed += 1
        c.stream.stopReading()
        let timer = LoopTimer(loop: loop)
        c.helloTimer = timer
        timer.start(afterMilliseconds: delay) { [weak self, weak c] in
            guard let self, let c, c.phase == .awaitingHello else { return }
            c.helloTimer?.close()
            c.helloTimer = nil
            c.stream.startReading()
            self.hello(h, on: c)
        }
    }

    /// A HELLO that does not authenticate: counted against its host, logged at most every
    /// `authFailureLogIntervalMs` (with how many were not), answered with ERROR notAuthorized.
    func refuseHello(_ why: String, gateway id: String, message: String, on c: GatewayConnection) {
        counters.authFailures += 1
        let now = loop.now
        helloFailures.recordFailure(LoginFailureTable.host(of: c.stream.remoteAddress), now: now)
        if let last = lastAuthFailureLogMs, now < last + Self.authFailureLogIntervalMs {
            authFailuresNotLogged += 1
        } else {
            let more = authFailuresNotLogged > 0 ? "; \(authFailuresNotLogged) more refused since the last such line" : ""
            log.warning("HELLO from \(c.stream.remoteAddress) (gateway id \(id)) refused: \(why)\(more)")
            lastAuthFailureLogMs = now
            authFailuresNotLogged = 0
        }
        c.fail(.notAuthorized, related: .hello, message)
    }
}
