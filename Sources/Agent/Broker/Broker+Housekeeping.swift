import FleetCore
import FleetProtocol

extension Broker {
    /// Four times a second: connect and keepalive timeouts, due wills, expired sessions. One pass over
    /// the connections instead of a timer per connection keeps an idle connection's memory small.
    func sweep() {
        let loopTime = loopNow
        for c in connections.values {
            // A subscriber congested past the grace period becomes a slow consumer and lets go.
            if let since = c.congestedSince, loopTime >= since + limits.slowConsumerMs, !c.heldPublishers.isEmpty {
                metrics.slowConsumers += 1
                releaseHeldPublishers(of: c)
            }
            switch c.phase {
            case .awaitingConnect where loopTime >= c.acceptedAt + limits.connectTimeoutMs:
                log.debug("no CONNECT from \(c.stream.remoteAddress) within \(limits.connectTimeoutMs) ms")
                metrics.connectTimeouts += 1
                c.close()
            // MQTT §3.1.2.10: one and a half keepalive periods without a packet ends the connection.
            // A publisher we stopped reading is not silent: skip it until it is resumed.
            case .connected where c.keepAliveMs > 0 && !c.isThrottled && loopTime >= c.lastActivity + c.keepAliveMs * 3 / 2:
                metrics.keepAliveTimeouts += 1
                c.protocolViolation(.keepAliveTimeout, "keep alive timeout")
            default:
                break
            }
        }
        let now = self.now
        var expired: [Session] = []
        for session in sessions.values where session.connection == nil {
            let due = session.machine.due(now: now)
            if due.willDue { publishWill(of: session) }
            if due.expired { expired.append(session) }
        }
        for session in expired { expire(session) }
    }

    /// Ends a session whose expiry interval ran out while no connection held it. The same rule
    /// at run time (sweep), after a restart (the first sweep) and when a client comes back just
    /// after expiry (CONNECT): a will not yet published is published now, at the latest when the
    /// session ends (MQTT 5 §3.1.3.2.2), then everything of the session goes.
    func expire(_ session: Session) {
        publishWill(of: session)
        metrics.sessionsExpired += 1
        discard(session)
    }

    /// Publishes the metrics on mosquitto's `$SYS/broker/...` names (retained, QoS 0).
    func publishSys() {
        let now = self.now
        let l = loop.statistics
        // How the loop batches work: messages per read and per write show whether a load is
        // handled in big batches or one packet per wakeup.
        let loopTopics = [("load/loop/iterations", "\(l.iterations)"), ("load/loop/reads", "\(l.reads)"),
                          ("load/loop/try_writes", "\(l.tryWrites)"), ("load/loop/queued_writes", "\(l.queuedWrites)"),
                          ("load/loop/held_flushes", "\(l.heldFlushes)"),
                          ("load/bytes/sent", "\(l.bytesWritten)"),
                          // Streams whose bytes wait for a commit in progress (TurnCommitter).
                          ("store/gated_streams", "\(loop.gatedStreamCount)")] + extraSysTopics()
        for (name, value) in metrics.sysTopics(sessions: sessions.count, retained: retained.count, subscriptions: subscriptionTable.count) + loopTopics {
            var m = Message(topic: "$SYS/broker/" + name, payload: Array(value.utf8), qos: .atMostOnce, retain: true)
            m.expiresAt = nil
            retained[m.topic] = m  // not persisted: it is rebuilt each interval
            routeSys(m, now: now)
        }
    }

    private func routeSys(_ m: Message, now: UInt64) {
        route(m)
    }
}

extension Broker {
    /// Ends every connection for a shutdown: MQTT 5 clients hear 0x8B (server shutting down).
    /// Sessions stay as they are; persistent ones are marked disconnected and committed.
    func shutDown() {
        for c in connections.values {
            if c.phase == .connected && c.version == .v5 {
                c.send(.disconnect(DisconnectPacket(reasonCode: .serverShuttingDown)))
            }
            if let s = c.session {
                s.connection = nil
                // Disconnected now; a will due now is left for the next start's first sweep
                // (the will stays in the session until published).
                _ = s.machine.connectionEnded(cleanly: false, now: now)
                if s.isPersistent { store.markDirty(s) }
            }
            c.session = nil
            c.close()
        }
    }
}
