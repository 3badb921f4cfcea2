import FleetCore
import FleetProtocol
import FleetRuntime
import Logging

/// The MQTT broker of one gateway: sessions, the subscription table, retained messages and the
/// routing between them. Packets arrive decoded from `MQTTConnection`; every durable change goes
/// into `store`'s current batch, which the agent's `TurnCommitter` takes once per loop turn and
/// commits off the loop thread, while the loop holds the turn's writes until that commit is
/// done, so no acknowledgement leaves before its data is on disk.
/// Loop-thread only: one loop owns one broker, no locks.
final class Broker {
    let limits: BrokerLimits
    let denySubscribe: [String]
    let log: Logger
    let loop: EventLoop
    let store: SessionStore
    let security: SecurityState
    /// Wall-clock milliseconds since the epoch (expiry and persistence survive restarts).
    let wallClock: () -> UInt64
    var metrics = BrokerMetrics()
    /// Extra `$SYS/broker/...` values the agent gathers from outside the broker (its listeners).
    var extraSysTopics: () -> [(String, String)] = { [] }

    /// By client id as bytes: MQTT compares client ids byte for byte, Swift's String == by
    /// canonical equivalence, which let "café" spelled two ways take over each other's session.
    var sessions: [ExactString: Session] = [:]
    var connections: [ObjectIdentifier: MQTTConnection] = [:]
    let subscriptionTable = SubscriptionTrie<Session, SubscriptionOptions>()
    let sharedTable = SubscriptionTrie<SharedGroup, Bool>()
    var sharedGroups: [String: SharedGroup] = [:]
    /// Retained messages by topic, with a level tree for wildcard subscriptions (RetainedTable).
    var retained = RetainedTable<Message>()
    /// The coordinator link, when the agent is part of a fabric.
    weak var fabric: FabricLink?
    /// Sessions being given away to another gateway, until the coordinator decides (Broker+Migration).
    var migratingOut: [ExactString: OutgoingMigration] = [:]
    /// While routing: the forwarded message's identity, a session that must not get it again, and
    /// the moving sessions that took it (Broker+Fabric).
    var routeIdentity: FabricIdentity?
    /// An identity, not a reference: `route` reads it per message, and a strong reference read
    /// from a class property was a retain and a release per delivery (callgrind, fan-out-1000).
    var routeExcluded: ObjectIdentifier?
    var movingDeliveries: [(Session, Int64)] = []
    /// Sessions that moved away: their CONNECTs are redirected for the session's lifetime.
    var movedSessions: [ExactString: MovedSession] = [:]
    /// Connections of migrated clients relayed to their new gateway (ClientRelay keeps itself here
    /// until both ends are closed).
    var relays: [ObjectIdentifier: ClientRelay] = [:]
    /// Migrations found in progress at start, for the coordinator link to pick up (then emptied).
    var restoredMigrations: [MigrationRecord] = []
    /// Exact topics a part of the agent itself listens on (Broker+Taps): managed sockets with an
    /// MQTT endpoint hear their `<prefix>/<socket-id>/tx` here.
    var topicTaps: [String: (Message) -> Void] = [:]
    /// Local subscriptions per plain filter (shared ones counted under their filter).
    var interestCounts: [String: Int] = [:]
    /// Of those, the subscriptions that are durable interest (`Broker.isDurable`), per plain filter.
    var durableInterestCounts: [String: Int] = [:]

    // Route scratch space, reused by every publish (no allocation per route once warm).
    var routeGeneration: UInt64 = 0
    var routeTargets: [RouteTarget] = []
    var encodeBuffers = EncodeBuffers()

    var loopNow: UInt64 { loop.now }
    /// The connection whose bytes are being handled now (a device's or the coordinator link's):
    /// the one to pause if a delivery congests.
    var currentPublisher: (any PausableSource)?
    /// Wall clock derived from the loop's cached monotonic time: one clock_gettime per loop turn
    /// instead of one per message. Drift against the real clock over a run is irrelevant for
    /// expiry intervals counted in seconds.
    private(set) var wallOffset: UInt64 = 0
    private var lastCommitFailureLog: UInt64 = 0

    // What this turn's gate must hold (TurnCommitter): the streams written while handling inbound
    // packets that changed something durable (marked through the loop), unless some change of the
    // turn came from elsewhere, which gates everything the turn wrote.
    /// Durable changes recorded by the broker's store and the link's (one counter both count in).
    var durableWrites: UInt64 { store.changes.count }
    /// Durable changes recorded between `beginTracked` and `endTracked` this turn.
    var turnTrackedWrites: UInt64 = 0
    /// `beginTracked` calls under way (a CONNECT completing inside a read nests one).
    private var trackingDepth = 0

    /// Before handling one read of a client's packets: where the counters stand. Pair with
    /// `endTracked`; if they changed anything on disk, the streams written meanwhile wait for the
    /// turn's commit, and only those. Per read rather than per packet: cheaper, and what it adds
    /// to a gate is the same client's traffic.
    @inline(__always)
    func beginTracked() -> (writes: UInt64, sequence: UInt64) {
        trackingDepth += 1
        return (store.changes.count, loop.writeSequence)
    }

    @inline(__always)
    func endTracked(_ start: (writes: UInt64, sequence: UInt64)) {
        trackingDepth -= 1
        let changed = store.changes.count &- start.writes
        guard changed != 0 else { return }
        loop.markWritten(since: start.sequence)
        if trackingDepth == 0 { turnTrackedWrites &+= changed }  // an outer call counts nested ones
    }

    init(limits: BrokerLimits, denySubscribe: [String], security: SecurityState, log: Logger, loop: EventLoop,
         store: SessionStore, wallClock: @escaping () -> UInt64) {
        self.limits = limits; self.denySubscribe = denySubscribe; self.security = security; self.log = log; self.loop = loop
        self.store = store; self.wallClock = wallClock
        self.wallOffset = wallClock() &- loop.now
    }

    /// Wall-clock milliseconds at the loop's current time (see `wallOffset`).
    var now: UInt64 { wallOffset &+ loop.now }

    /// Restores sessions, subscriptions and retained messages from the store.
    func restore() throws {
        let now = self.now
        let loaded = try store.loadAll()
        for state in loaded.sessions {
            var machine = SessionMachine(state: state)
            machine.restored(now: now)
            let session = Session(machine: machine, broker: self)
            sessions[ExactString(session.clientId)] = session
            for (filter, options) in session.machine.subscriptions { addToTables(filter: filter, options: options, session: session) }
            store.markDirty(session)
        }
        retained = RetainedTable(loaded.retained.map { (topic: $0.topic, value: $0) })
        for m in loaded.moved where sessions[ExactString(m.clientId)] == nil {
            movedSessions[ExactString(m.clientId)] = MovedSession(serverReference: m.reference, untilMs: m.untilMs,
                                                                  relay: m.relay.flatMap(MovedSession.Relay.init(stored:)))
        }
        restoreMigrations(loaded.migrations)
        log.info("restored \(sessions.count) sessions, \(retained.count) retained messages\(loaded.migrations.isEmpty ? "" : ", \(loaded.migrations.count) migrations in progress")")
    }

    // MARK: Connections

    func accept(_ stream: any ByteStream) {
        let c = MQTTConnection(stream: stream, broker: self, now: loopNow)
        connections[ObjectIdentifier(c)] = c
        stream.handler = c
        stream.startReading()
        metrics.connectionsAccepted += 1
    }

    func connectionClosed(_ c: MQTTConnection) {
        connections[ObjectIdentifier(c)] = nil
        defer { c.session = nil }  // breaks the session <-> connection cycle
        guard let session = c.session, session.connection === c else { return }
        session.connection = nil
        metrics.clientsConnected -= 1
        endConnection(of: session, cleanly: c.disconnectedCleanly)
    }

    /// The session's connection is gone: publish or schedule the will, then keep or drop the session.
    func endConnection(of session: Session, cleanly: Bool) {
        if session.machine.connectionEnded(cleanly: cleanly, now: now) { publishWill(of: session) }
        if session.isPersistent {
            store.markDirty(session)
        } else {
            discard(session)
        }
    }

    func publishWill(of session: Session) {
        guard let will = session.machine.takeWill() else { return }
        // A will is a publish by its session: the same rules apply (a device must not reach a
        // topic through its will that it could not publish to).
        if let policy = session.machine.policy, !policy.mayPublish(will.topic) {
            metrics.authorizationDenials += 1
            log.notice("will of \(session.clientId) on '\(will.topic)' not published: not authorized")
            if session.isPersistent { store.markDirty(session) }
            return
        }
        let p = PublishPacket(topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: will.properties)
        let message = Message(publish: p, origin: session.clientId, now: now)
        metrics.willsPublished += 1
        publishLocally(message)
        if session.isPersistent { store.markDirty(session) }
    }

    /// Removes a session and everything it subscribed to, in memory and on disk.
    func discard(_ session: Session) {
        for filter in session.machine.removeAllSubscriptions() { removeFromTables(filter: filter, session: session) }
        session.machine.clearDeliveries()
        let id = ExactString(session.clientId)
        if sessions[id] === session { sessions[id] = nil }
        store.deleteSession(session.clientId)
    }

    // MARK: Dispatch

    func handle(_ packet: MQTTPacket, on c: MQTTConnection) {
        guard c.phase == .connected, let session = c.session else {
            if case .connect(let p) = packet { handleConnect(p, on: c) } else { c.close() }  // MQTT §3.1: CONNECT first
            return
        }
        switch packet {
        case .publish(let p): handlePublish(p, from: session, on: c)
        case .puback(let a): handlePubAck(a, session: session, on: c)
        case .pubrec(let a): handlePubRec(a, session: session, on: c)
        case .pubrel(let a): handlePubRel(a, session: session, on: c)
        case .pubcomp(let a): handlePubComp(a, session: session, on: c)
        case .subscribe(let s): handleSubscribe(s, session: session, on: c)
        case .unsubscribe(let u): handleUnsubscribe(u, session: session, on: c)
        case .pingreq: c.send(.pingresp)
        case .disconnect(let d): handleDisconnect(d, session: session, on: c)
        case .connect: c.protocolViolation(.protocolError, "second CONNECT on one connection")
        case .auth: c.protocolViolation(.protocolError, "AUTH without an authentication method")
        case .connack, .suback, .unsuback, .pingresp: c.protocolViolation(.protocolError, "a packet only a server sends")
        }
    }

    // MARK: Persistence outcomes (TurnCommitter)

    /// A turn's transaction failed; the writer keeps its writes and retries, and the loop keeps
    /// holding what the turn wrote. Logged once per run of failures and then every 10 s.
    func noteCommitFailure(_ error: any Error, attempt: Int) {
        metrics.commitFailures += 1
        let loopTime = loopNow
        if attempt == 1 || loopTime >= lastCommitFailureLog + 10_000 {
            log.error("persistence commit failed (attempt \(attempt)): \(error); retrying, acknowledgements wait")
            lastCommitFailureLog = loopTime
        }
    }

    func noteCommitRecovered(afterAttempts attempts: Int) {
        log.notice("persistence commit succeeded again after \(attempts) failed attempts")
    }
}

/// One session's merged delivery for the message being routed.
/// One session a routed message goes to. Lives only in `routeTargets` during one `route` call,
/// while `sessions` holds every session strongly (nothing is discarded mid-route), hence
/// unowned(unsafe): no reference counting per target. Stale entries are cleared, never read.
struct RouteTarget {
    unowned(unsafe) let session: Session
    var qos: QoS
    var retainAsPublished: Bool
    var subscriptionIdentifiers: [UInt32]
}

/// A `$share/{group}/{filter}` group: every message matching the filter goes to one member.
final class SharedGroup: Hashable {
    let name: String
    let filter: String
    var members: [Session] = []
    var options: [ObjectIdentifier: SubscriptionOptions] = [:]
    var next = 0

    init(name: String, filter: String) { self.name = name; self.filter = filter }
    static func == (a: SharedGroup, b: SharedGroup) -> Bool { a === b }
    func hash(into h: inout Hasher) { h.combine(ObjectIdentifier(self)) }
}
