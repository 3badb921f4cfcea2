import FleetObservability
import FleetRuntime

/// Everything `$SYS/broker/...` shows, as Prometheus metric families named `fleetgate_agent_*`
/// (docs/METRICS.md lists them). Counters end in `_total`; drops carry a `reason` label.
/// Gathered on the loop thread at each scrape: a scrape reads the same counters `$SYS` does.
///
/// **Loop-thread only.**
final class AgentExposition {
    private let shard: AgentShard
    var link: CoordinatorLink?
    var sockets: SocketService?
    weak var listener: MetricsListener?

    init(shard: AgentShard) { self.shard = shard }

    func render() -> String { PrometheusText.render(families()) }

    func families() -> [MetricFamily] {
        brokerFamilies() + loopFamilies() + (link.map(linkFamilies) ?? []) + (sockets.map(socketFamilies) ?? []) + selfFamilies()
    }

    private func counter(_ name: String, _ help: String, _ v: UInt64) -> MetricFamily {
        MetricFamily("fleetgate_agent_" + name, .counter, help: help, .unsigned(v))
    }

    private func gauge(_ name: String, _ help: String, _ v: Int) -> MetricFamily {
        MetricFamily("fleetgate_agent_" + name, .gauge, help: help, .integer(Int64(v)))
    }

    private func labelled(_ name: String, _ kind: MetricFamily.Kind, _ help: String, _ label: String, _ values: [(String, UInt64)]) -> MetricFamily {
        MetricFamily("fleetgate_agent_" + name, kind, help: help, samples: values.map { .init([(label, $0.0)], .unsigned($0.1)) })
    }

    private func brokerFamilies() -> [MetricFamily] {
        let b = shard.broker
        let m = b.metrics
        var inflight = 0, queued = 0
        for s in b.sessions.values { inflight += s.machine.inflight.count; queued += s.machine.queue.count }
        let servers = shard.servers.map { ($0.refusedConnections, $0.acceptPauses) } + shard.tlsServers.map { ($0.refusedConnections, $0.acceptPauses) }
        return [
            MetricFamily("fleetgate_agent_build_info", .gauge, help: "Always 1; the version is a label.",
                         samples: [.init([("version", FleetgateVersion.version)], 1)]),
            gauge("clients_connected", "MQTT clients connected now (CONNECT accepted).", m.clientsConnected),
            gauge("connections_open", "MQTT connections open now, CONNECT pending included.", b.connections.count),
            gauge("sessions", "Sessions held (connected and persistent).", b.sessions.count),
            gauge("subscriptions", "Subscriptions (filter, session) in the subscription table.", b.subscriptionTable.count),
            gauge("retained_messages", "Retained messages held, $SYS topics included.", b.retained.count),
            gauge("inflight_messages", "Outbound QoS 1/2 messages in sessions' in-flight windows.", inflight),
            gauge("queued_messages", "Outbound messages queued in sessions beyond their in-flight windows.", queued),
            counter("connections_accepted_total", "MQTT connections accepted by the listeners.", m.connectionsAccepted),
            labelled("accept_refused_total", .counter, "Connections accepted only to be closed, the process being out of descriptors.", "transport",
                     [("tcp", shard.servers.reduce(0) { $0 + $1.refusedConnections }), ("tls", shard.tlsServers.reduce(0) { $0 + $1.refusedConnections })]),
            counter("accept_pauses_total", "Times a listener paused accepting for a back-off.", servers.reduce(0) { $0 + $1.1 }),
            counter("connects_total", "CONNECTs accepted.", m.connects),
            counter("connects_refused_total", "CONNECTs refused with a CONNACK error (redirects included).", m.connectsRefused),
            counter("connects_redirected_total", "CONNECTs of migrated clients refused with a redirect.", m.connectsRedirected),
            counter("sessions_refused_total", "CONNECTs refused because limits.max_sessions sessions exist.", m.sessionsRefused),
            counter("connect_too_large_total", "CONNECTs over limits.max_connect_packet_size.", m.connectPacketsTooLarge),
            labelled("connections_closed_total", .counter, "Connections ended by the broker, by reason.", "reason", [
                ("connect_timeout", m.connectTimeouts), ("keepalive_timeout", m.keepAliveTimeouts), ("takeover", m.takeovers),
                ("malformed", m.malformedPackets), ("preauth_budget", m.preAuthBudgetCloses)]),
            counter("messages_received_total", "PUBLISH packets received from clients.", m.messagesReceived),
            counter("bytes_received_total", "Payload bytes of PUBLISH packets received from clients.", m.bytesReceived),
            counter("messages_sent_total", "PUBLISH packets sent to clients.", m.messagesSent),
            counter("messages_acknowledged_total", "Outbound QoS 1/2 messages the client acknowledged.", m.messagesAcknowledged),
            labelled("messages_dropped_total", .counter, "Messages not delivered, by reason.", "reason", [
                ("queue_full", m.messagesDroppedQueueFull), ("write_backlog", m.messagesDroppedWriteBacklog),
                ("over_client_maximum", m.messagesDroppedOverClientMaximum), ("expired", m.messagesExpired),
                ("not_authorized", m.authorizationDenials)]),
            counter("messages_unrouted_total", "Messages published with no subscriber anywhere to take them.", m.messagesUnrouted),
            counter("packets_over_client_maximum_total", "Acknowledgements not sent: over the client's Maximum Packet Size.", m.packetsOverClientMaximum),
            counter("wills_published_total", "Will messages published.", m.willsPublished),
            counter("retained_refused_total", "Retained messages refused at limits.max_retained_messages.", m.retainedRefused),
            counter("subscriptions_denied_total", "Subscriptions refused by policy.deny_subscribe or a policy.", m.subscriptionsDenied),
            counter("sessions_expired_total", "Sessions ended by their expiry interval.", m.sessionsExpired),
            counter("store_commit_failures_total", "Group commits to SQLite that failed.", m.commitFailures),
            counter("publishers_throttled_total", "Times a publisher stopped being read because a subscriber was congested.", m.publishersThrottled),
            counter("slow_consumers_total", "Subscribers congested past the grace period (publishers released).", m.slowConsumers),
            counter("tls_handshake_failures_total", "TLS handshakes that failed.", m.tlsHandshakeFailures),
            labelled("password_checks_total", .counter, "Password verifications that did not simply pass, by outcome.", "outcome", [
                ("failed", m.passwordFailures), ("busy", m.passwordChecksBusy), ("delayed", m.passwordChecksDelayed), ("skipped", m.passwordChecksSkipped)]),
            labelled("migrations_total", .counter, "Connection migrations (sessions moved between gateways), by step.", "step", [
                ("exported", m.migrationsExported), ("committed", m.migrationsCommitted), ("aborted", m.migrationsAborted),
                ("imported", m.migrationsImported)]),
            labelled("relays_total", .counter, "Relayed connections of migrated clients, by event.", "event", [
                ("started", m.relaysStarted), ("failed", m.relaysFailed), ("accepted", m.relaysAccepted)]),
            gauge("relays_active", "Relayed connections this gateway serves now.", m.relaysActive),
            labelled("relayed_bytes_total", .counter, "Bytes relayed for migrated clients, by direction.", "direction", [
                ("to_target", m.relayedBytesToTarget), ("from_target", m.relayedBytesFromTarget)]),
            counter("fabric_messages_delivered_total", "Messages forwarded from other gateways and delivered here.", m.messagesForwardedIn),
        ]
    }

    private func loopFamilies() -> [MetricFamily] {
        let l = shard.loop.statistics
        return [
            counter("loop_iterations_total", "Event loop iterations.", l.iterations),
            counter("loop_reads_total", "Read callbacks with data.", l.reads),
            counter("loop_bytes_read_total", "Bytes read from every socket of the loop.", l.bytesRead),
            counter("loop_bytes_written_total", "Bytes written to every socket of the loop ($SYS load/bytes/sent).", l.bytesWritten),
            counter("loop_try_writes_total", "uv_try_write calls of the loop's flushes.", l.tryWrites),
            counter("loop_queued_writes_total", "uv_write requests for bytes uv_try_write did not take.", l.queuedWrites),
            counter("loop_held_flushes_total", "Small writes held for another iteration.", l.heldFlushes),
            gauge("store_gated_streams", "Streams whose bytes wait for a commit in progress.", shard.loop.gatedStreamCount),
        ]
    }

    private func linkFamilies(_ link: CoordinatorLink) -> [MetricFamily] {
        let m = link.metrics
        return [
            gauge("coordinator_link_up", "1 while the link to the coordinator is established.", link.isEstablished ? 1 : 0),
            counter("coordinator_link_attempts_total", "Connection attempts to the coordinator.", m.connectAttempts),
            counter("coordinator_link_sessions_total", "Link sessions established (HELLO_ACK received).", m.sessions),
            counter("coordinator_link_disconnects_total", "Link sessions lost.", m.disconnects),
            counter("coordinator_link_errors_received_total", "ERROR frames received from the coordinator.", m.errorsReceived),
            counter("coordinator_link_commit_failures_total", "Commits of the link's forward log that failed.", m.commitFailures),
            gauge("coordinator_link_reconnect_delay_ms", "The last reconnect back-off chosen, in milliseconds.", Int(m.lastReconnectDelayMs)),
            labelled("fabric_forwards_total", .counter, "FORWARD frames of this gateway's publications, by event.", "event", [
                ("sent", m.forwardsSent), ("resent", m.forwardsResent), ("confirmed", m.forwardsConfirmed)]),
            labelled("fabric_forwards_dropped_total", .counter, "Forwards not sent, by reason.", "reason", [
                ("qos0_no_room", m.forwardsDroppedQoS0), ("too_large", m.forwardsTooLarge), ("expired", m.forwardsExpired)]),
            gauge("fabric_forwards_unconfirmed", "QoS 1/2 forwards in the outbound log awaiting confirmation.", link.outbound.count),
            counter("fabric_replays_total", "REPLAY requests from the coordinator.", m.replays),
            counter("fabric_publishers_held_by_log_total", "Times a publisher was paused: the outbound log at its bound.", m.publishersHeldByLog),
            labelled("fabric_forwards_received_total", .counter, "FORWARD frames from other gateways, by outcome.", "outcome", [
                ("delivered", m.forwardsReceived), ("duplicate", m.duplicatesDropped), ("handoff_duplicate", m.handoffDuplicatesSkipped)]),
            counter("fabric_delivery_acks_sent_total", "DELIVERY_ACK frames sent.", m.deliveryAcksSent),
            counter("fabric_paused_for_subscribers_total", "Times the link stopped reading for congested local subscribers.", m.pausedForSubscribers),
            gauge("fabric_interest_local_filters", "Filters announced to the coordinator.", link.interest.announced.count),
            gauge("fabric_interest_durable_filters", "Durable filters announced to the coordinator.", link.durableInterest.announced.count),
            gauge("fabric_interest_remote_filters", "Filters other gateways want.", link.remote.filterCount),
            gauge("fabric_retained_held_while_down", "Retained messages kept for the coordinator while the link is down.", link.retainedWhileDown.count),
            labelled("fabric_interest_updates_total", .counter, "Interest updates, by kind.", "kind", [
                ("snapshot_sent", m.snapshotsSent), ("delta_sent", m.deltasSent),
                ("out_of_sync_received", m.outOfSyncReceived), ("out_of_sync_sent", m.outOfSyncSent)]),
        ]
    }

    private func socketFamilies(_ s: SocketService) -> [MetricFamily] {
        let m = s.metrics
        return [
            gauge("sockets_open", "Managed sockets open now.", s.sockets.count),
            gauge("socket_mappings", "Socket mappings known (config and coordinator).", s.mappingCount),
            labelled("sockets_total", .counter, "Managed sockets, by event.", "event", [
                ("opened", m.opened), ("refused", m.refused), ("closed", m.closed)]),
            counter("socket_calls_total", "Webhook calls made for managed sockets.", m.calls),
            counter("socket_call_errors_total", "Webhook calls that failed.", m.callErrors),
        ]
    }

    private func selfFamilies() -> [MetricFamily] {
        guard let l = listener else { return [] }
        let statuses: [HTTPStatus] = [.ok, .badRequest, .notFound, .methodNotAllowed, .requestTimeout, .headerFieldsTooLarge, .serviceUnavailable, .versionNotSupported]
        return [
            labelled("metrics_requests_total", .counter, "Requests to this endpoint, by status answered (this scrape not yet counted).", "code",
                     statuses.map { (String($0.rawValue), l.answered[$0] ?? 0) }),
            gauge("metrics_connections_open", "Connections to this endpoint open now.", l.openConnections),
        ]
    }
}
