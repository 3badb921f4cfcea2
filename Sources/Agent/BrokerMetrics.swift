import FleetObservability

/// Counters of the broker, published on `$SYS/broker/...` (mosquitto's names where one exists).
struct BrokerMetrics {
    var clientsConnected = 0
    var connectionsAccepted: UInt64 = 0
    var connects: UInt64 = 0
    var connectsRefused: UInt64 = 0
    var connectTimeouts: UInt64 = 0
    var keepAliveTimeouts: UInt64 = 0
    var takeovers: UInt64 = 0
    /// Connection migration (Broker+Migration): sessions exported, given away at a commit, kept
    /// after an abort, and imported from another gateway; CONNECTs redirected after a move.
    var migrationsExported: UInt64 = 0
    var migrationsCommitted: UInt64 = 0
    var migrationsAborted: UInt64 = 0
    var migrationsImported: UInt64 = 0
    /// Migrated clients whose connection this gateway relays to their new gateway (ClientRelay).
    var relaysStarted: UInt64 = 0
    var relaysFailed: UInt64 = 0
    /// Relayed connections this gateway serves (it is their target).
    var relaysAccepted: UInt64 = 0
    var relaysActive = 0
    var relayedBytesToTarget: UInt64 = 0
    var relayedBytesFromTarget: UInt64 = 0
    var connectsRedirected: UInt64 = 0
    var malformedPackets: UInt64 = 0
    var messagesReceived: UInt64 = 0
    var bytesReceived: UInt64 = 0
    var messagesSent: UInt64 = 0
    var messagesAcknowledged: UInt64 = 0
    /// Messages dropped by a bound, by reason: a session's queue full (`limits.maxQueuedMessages`),
    /// a stalled reader's write backlog (`limits.maxPendingWriteBytes`, QoS 0), or larger than the
    /// client's Maximum Packet Size. `$SYS` shows their sum, Prometheus each (reason label).
    var messagesDroppedQueueFull: UInt64 = 0
    var messagesDroppedWriteBacklog: UInt64 = 0
    var messagesDroppedOverClientMaximum: UInt64 = 0
    var messagesDropped: UInt64 { messagesDroppedQueueFull + messagesDroppedWriteBacklog + messagesDroppedOverClientMaximum }
    var messagesExpired: UInt64 = 0
    var messagesUnrouted: UInt64 = 0
    var willsPublished: UInt64 = 0
    var retainedRefused: UInt64 = 0
    var subscriptionsDenied: UInt64 = 0
    var sessionsExpired: UInt64 = 0
    var commitFailures: UInt64 = 0
    var publishersThrottled: UInt64 = 0
    var slowConsumers: UInt64 = 0
    var messagesForwardedIn: UInt64 = 0
    var authorizationDenials: UInt64 = 0
    var tlsHandshakeFailures: UInt64 = 0
    /// Acknowledgements and other non-PUBLISH packets not sent because even without reason string
    /// and user properties they exceed the client's Maximum Packet Size (MQTT 5 §3.1.2.11.4).
    var packetsOverClientMaximum: UInt64 = 0
    // Admission before authentication (Admission.swift).
    /// Wrong passwords (verified and failed), abandoned logins included.
    var passwordFailures: UInt64 = 0
    /// CONNECTs refused as server busy: the password queue or the address's share was full.
    var passwordChecksBusy: UInt64 = 0
    /// Verifications delayed because their address failed repeatedly.
    var passwordChecksDelayed: UInt64 = 0
    /// Verifications skipped because the connection closed before a worker was free.
    var passwordChecksSkipped: UInt64 = 0
    /// CONNECTs (or packets pipelined behind one) over `limits.maxConnectPacketSize`.
    var connectPacketsTooLarge: UInt64 = 0
    /// Unauthenticated connections closed because partial packets passed `limits.maxPreAuthBytes`.
    var preAuthBudgetCloses: UInt64 = 0
    /// CONNECTs refused because `limits.maxSessions` sessions exist.
    var sessionsRefused: UInt64 = 0

    func sysTopics(sessions: Int, retained: Int, subscriptions: Int) -> [(String, String)] {
        [
            ("version", FleetgateVersion.line(for: "fleetgate-agent")),
            ("clients/connected", "\(clientsConnected)"),
            ("clients/total", "\(sessions)"),
            ("messages/received", "\(messagesReceived)"),
            ("messages/sent", "\(messagesSent)"),
            ("publish/messages/dropped", "\(messagesDropped)"),
            ("publish/messages/expired", "\(messagesExpired)"),
            ("load/bytes/received", "\(bytesReceived)"),
            ("retained messages/count", "\(retained)"),
            ("subscriptions/count", "\(subscriptions)"),
            ("connections/refused", "\(connectsRefused)"),
            ("connections/redirected", "\(connectsRedirected)"),
            ("migration/exported", "\(migrationsExported)"),
            ("migration/committed", "\(migrationsCommitted)"),
            ("migration/aborted", "\(migrationsAborted)"),
            ("migration/imported", "\(migrationsImported)"),
            ("migration/relays/started", "\(relaysStarted)"),
            ("migration/relays/failed", "\(relaysFailed)"),
            ("migration/relays/accepted", "\(relaysAccepted)"),
            ("migration/relays/active", "\(relaysActive)"),
            ("migration/relays/bytes/to-target", "\(relayedBytesToTarget)"),
            ("migration/relays/bytes/from-target", "\(relayedBytesFromTarget)"),
            ("connections/malformed", "\(malformedPackets)"),
            ("connections/keepalive_timeouts", "\(keepAliveTimeouts)"),
            ("subscriptions/denied", "\(subscriptionsDenied)"),
            ("store/commit_failures", "\(commitFailures)"),
            ("publish/throttled", "\(publishersThrottled)"),
            ("clients/slow_consumers", "\(slowConsumers)"),
            ("fabric/messages/received", "\(messagesForwardedIn)"),
            ("security/denied", "\(authorizationDenials)"),
            ("security/tls_handshake_failures", "\(tlsHandshakeFailures)"),
            ("packets/dropped/over_client_maximum", "\(packetsOverClientMaximum)"),
            ("security/password_failures", "\(passwordFailures)"),
            ("security/password_checks/busy", "\(passwordChecksBusy)"),
            ("security/password_checks/delayed", "\(passwordChecksDelayed)"),
            ("security/password_checks/skipped", "\(passwordChecksSkipped)"),
            ("connections/connect_too_large", "\(connectPacketsTooLarge)"),
            ("connections/preauth_budget_closed", "\(preAuthBudgetCloses)"),
            ("clients/sessions_refused", "\(sessionsRefused)"),
        ]
    }
}
