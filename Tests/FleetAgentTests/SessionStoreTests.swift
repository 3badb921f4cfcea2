import Foundation
import Testing
import FleetCore
import FleetProtocol
import FleetRuntime
@testable import FleetAgent

/// The store against a real SQLite file in a temporary directory.
@Suite struct SessionStoreTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "fleetgate-store-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    private func open() throws -> SessionStore { try SessionStore(path: dir + "/fleetgate.db", synchronous: .normal) }

    private func message(_ n: Int, qos: QoS = .atLeastOnce) -> Message {
        Message(topic: "t/\(n)", payload: Array("payload \(n)".utf8), qos: qos, retain: false, origin: "pub")
    }

    @Test func sessionsMessagesAndRetainedSurviveReopen() throws {
        let store = try open()
        let s = TestSession(clientId: "dev-1", expiryInterval: 3600, protocolVersion: .v5)
        s.state.subscriptions["a/+"] = SubscriptionOptions(qos: .exactlyOnce, noLocal: true, subscriptionIdentifier: 9)
        s.state.will = Will(topic: "will/dev-1", payload: [1, 2], qos: .atLeastOnce, retain: true)
        s.state.inboundQoS2 = [7, 8]
        store.markDirty(s)
        for n in 1...3 { store.saveOutbound(OutboundMessage(seq: Int64(n), message: message(n)), of: "dev-1", bodyNeeded: true) }
        store.saveRetained(Message(topic: "r/1", payload: [42], qos: .atLeastOnce, retain: true))
        try store.commit()
        store.close()

        let loaded = try open().loadAll()
        #expect(loaded.sessions.count == 1)
        let state = try #require(loaded.sessions.first)
        #expect(state.clientId == "dev-1")
        #expect(state.expiryInterval == 3600)
        #expect(state.subscriptions == s.state.subscriptions)
        #expect(state.will == s.state.will)
        #expect(state.inboundQoS2 == [7, 8])
        #expect(state.outbound.map(\.seq) == [1, 2, 3])
        #expect(state.outbound.map(\.message) == [message(1), message(2), message(3)])
        #expect(loaded.retained.map(\.topic) == ["r/1"] && loaded.retained.first?.payload == [42])
    }

    @Test func insertAndDeleteInOneTurnNeverReachTheDisk() throws {
        let store = try open()
        store.saveOutbound(OutboundMessage(seq: 1, message: message(1)), of: "c", bodyNeeded: true)
        store.deleteOutbound(seq: 1, of: "c")
        #expect(!store.hasPendingWrites)
    }

    /// Rows in the outbound table, counted with SQL: `loadAll` hides rows whose session is gone,
    /// so it cannot tell a deleted row from an orphan one.
    private func outboundRowCount() throws -> Int64 {
        let db = try FleetRuntime.SQLiteDatabase(path: dir + "/fleetgate.db")
        defer { db.close() }
        var n: Int64 = -1
        try db.query("SELECT count(*) FROM outbound", []) { n = $0.int64(0) }
        return n
    }

    @Test func committedRowIsDeletedLater() throws {
        let store = try open()
        store.markDirty(TestSession(clientId: "c", expiryInterval: 60, protocolVersion: .v5))
        store.saveOutbound(OutboundMessage(seq: 1, message: message(1)), of: "c", bodyNeeded: true)
        store.saveOutbound(OutboundMessage(seq: 2, message: message(2)), of: "c", bodyNeeded: true)
        try store.commit()
        #expect(try outboundRowCount() == 2)
        store.deleteOutbound(seq: 1, of: "c")
        #expect(store.hasPendingWrites)
        try store.commit()
        store.close()
        #expect(try outboundRowCount() == 1)
        let sessions = try open().loadAll().sessions
        #expect(sessions.map(\.clientId) == ["c"])
        #expect(sessions.first?.outbound.map(\.seq) == [2])
    }

    @Test func orphanOutboundRowsAreDeletedWhenLoading() throws {
        let store = try open()
        store.markDirty(TestSession(clientId: "kept", expiryInterval: 60, protocolVersion: .v5))
        store.saveOutbound(OutboundMessage(seq: 1, message: message(1)), of: "kept", bodyNeeded: true)
        store.saveOutbound(OutboundMessage(seq: 1, message: message(2)), of: "orphan", bodyNeeded: true)
        try store.commit()
        store.close()
        #expect(try outboundRowCount() == 2)
        let reopened = try open()
        let loaded = try reopened.loadAll()
        reopened.close()
        #expect(loaded.sessions.map(\.clientId) == ["kept"])
        #expect(try outboundRowCount() == 1)
    }

    /// A commit that fails keeps its batch: the next commit writes it (issue #10 §4.2: the batch
    /// used to be discarded before the transaction ran, losing the turn's rows and deletes).
    @Test func aFailedCommitKeepsItsBatchForTheNextOne() throws {
        let store = try open()
        let s = TestSession(clientId: "c", expiryInterval: 60, protocolVersion: .v5)
        store.markDirty(s)
        store.saveOutbound(OutboundMessage(seq: 1, message: message(1)), of: "c", bodyNeeded: true)
        store.saveOutbound(OutboundMessage(seq: 2, message: message(2)), of: "c", bodyNeeded: true)
        try store.commit()
        // Inject a real SQLite failure from a second connection: every write to outbound aborts.
        let saboteur = try FleetRuntime.SQLiteDatabase(path: dir + "/fleetgate.db")
        try saboteur.execute("CREATE TRIGGER fail_insert BEFORE INSERT ON outbound BEGIN SELECT RAISE(ABORT, 'injected'); END;")
        store.saveOutbound(OutboundMessage(seq: 3, message: message(3)), of: "c", bodyNeeded: true)
        store.deleteOutbound(seq: 1, of: "c")
        store.saveRetained(Message(topic: "r", payload: [7], qos: .atLeastOnce, retain: true))
        #expect(throws: (any Error).self) { try store.commit() }
        #expect(store.hasPendingWrites)
        try saboteur.execute("DROP TRIGGER fail_insert")
        saboteur.close()
        // A later turn adds to the kept batch; one commit writes both turns.
        store.saveOutbound(OutboundMessage(seq: 4, message: message(4)), of: "c", bodyNeeded: true)
        try store.commit()
        #expect(!store.hasPendingWrites)
        store.close()
        let loaded = try open().loadAll()
        #expect(loaded.sessions.first?.outbound.map(\.seq) == [2, 3, 4])
        #expect(loaded.retained.map(\.topic) == ["r"])
    }

    /// After a failed commit, an insert and its delete in a later turn still cancel out: the row
    /// never reached the disk, so nothing may be left behind.
    @Test func aFailedInsertCancelledLaterLeavesNoRow() throws {
        let store = try open()
        store.markDirty(TestSession(clientId: "c", expiryInterval: 60, protocolVersion: .v5))
        try store.commit()
        let saboteur = try FleetRuntime.SQLiteDatabase(path: dir + "/fleetgate.db")
        try saboteur.execute("CREATE TRIGGER fail_insert BEFORE INSERT ON outbound BEGIN SELECT RAISE(ABORT, 'injected'); END;")
        store.saveOutbound(OutboundMessage(seq: 1, message: message(1)), of: "c", bodyNeeded: true)
        #expect(throws: (any Error).self) { try store.commit() }
        try saboteur.execute("DROP TRIGGER fail_insert")
        saboteur.close()
        store.deleteOutbound(seq: 1, of: "c")
        try store.commit()
        store.close()
        #expect(try outboundRowCount() == 0)
    }

    @Test func phaseAndPacketIdUpdatesArePersisted() throws {
        let store = try open()
        let s = TestSession(clientId: "c", expiryInterval: 60, protocolVersion: .v311)
        store.markDirty(s)
        var m = OutboundMessage(seq: 1, message: message(1, qos: .exactlyOnce))
        store.saveOutbound(m, of: "c", bodyNeeded: true)
        try store.commit()
        m.packetId = 77
        m.phase = .released
        store.saveOutbound(m, of: "c", bodyNeeded: false)
        try store.commit()
        store.close()
        let out = try #require(try open().loadAll().sessions.first?.outbound.first)
        #expect(out.packetId == 77)
        #expect(out.phase == .released)
    }

    @Test func deletingASessionDropsItsRowsAndEarlierBatchedWrites() throws {
        let store = try open()
        let s = TestSession(clientId: "c", expiryInterval: 60, protocolVersion: .v5)
        store.markDirty(s)
        store.saveOutbound(OutboundMessage(seq: 1, message: message(1)), of: "c", bodyNeeded: true)
        try store.commit()
        store.saveOutbound(OutboundMessage(seq: 2, message: message(2)), of: "c", bodyNeeded: true)
        store.deleteSession("c")
        // A new incarnation in the same turn keeps its own writes.
        let fresh = TestSession(clientId: "c", expiryInterval: 60, protocolVersion: .v5)
        store.markDirty(fresh)
        store.saveOutbound(OutboundMessage(seq: 1, message: message(10)), of: "c", bodyNeeded: true)
        try store.commit()
        store.close()
        let sessions = try open().loadAll().sessions
        #expect(sessions.count == 1)
        #expect(sessions.first?.outbound.map(\.message) == [message(10)])
    }

    @Test("a moved session's redirect survives a reopen, and a delete removes it")
    func movedSessionsSurviveReopen() throws {
        let store = try open()
        store.saveMoved("dev-1", reference: "10.0.0.2:1883", untilMs: 5_000)
        store.saveMoved("dev-2", reference: "10.0.0.3:1883", untilMs: 6_000, relay: [1, 2, 3])
        try store.commit()
        store.close()
        let again = try open()
        var loaded = try again.loadAll()
        #expect(loaded.moved.sorted { $0.clientId < $1.clientId }.map { "\($0.clientId) \($0.reference) \($0.untilMs) \($0.relay ?? [])" }
                == ["dev-1 10.0.0.2:1883 5000 []", "dev-2 10.0.0.3:1883 6000 [1, 2, 3]"])
        again.deleteMoved("dev-1")
        try again.commit()
        again.close()
        loaded = try open().loadAll()
        #expect(loaded.moved.map(\.clientId) == ["dev-2"])
    }

    /// A database written before relays existed (moved_sessions without its `relay` column) is
    /// opened and gains the column; its redirects stay.
    @Test func movedSessionsOfAnOlderDatabaseGainTheRelayColumn() throws {
        let old = try SQLiteDatabase(path: dir + "/fleetgate.db")
        try old.run("CREATE TABLE moved_sessions(client_id TEXT PRIMARY KEY, server_reference TEXT NOT NULL, until_ms INTEGER NOT NULL) WITHOUT ROWID", [])
        try old.run("INSERT INTO moved_sessions VALUES('dev-1', '10.0.0.2:1883', 5000)", [])
        old.close()
        let store = try open()
        store.saveMoved("dev-2", reference: "10.0.0.3:1883", untilMs: 6_000, relay: [1])
        try store.commit()
        let loaded = try store.loadAll()
        #expect(loaded.moved.sorted { $0.clientId < $1.clientId }.map { "\($0.clientId) \($0.relay ?? [])" } == ["dev-1 []", "dev-2 [1]"])
    }

    @Test func retainedDeleteRemovesTheRow() throws {
        let store = try open()
        store.saveRetained(Message(topic: "r", payload: [1], qos: .atMostOnce, retain: true))
        try store.commit()
        store.deleteRetained("r")
        try store.commit()
        store.close()
        #expect(try open().loadAll().retained.isEmpty)
    }

    @Test func corruptSessionRowIsReportedNotIgnored() throws {
        let store = try open()
        store.markDirty(TestSession(clientId: "c", expiryInterval: 60, protocolVersion: .v5))
        try store.commit()
        store.close()
        let db = try FleetRuntime.SQLiteDatabase(path: dir + "/fleetgate.db")
        try db.run("UPDATE sessions SET state = ?", [.blob([1, 0])])
        db.close()
        #expect(throws: SessionCodecError.self) { _ = try open().loadAll() }
    }
}

/// A session as the store sees it, without a broker.
final class TestSession: PersistedSession {
    var state: SessionState
    var clientId: String { state.clientId }
    init(clientId: String, expiryInterval: UInt32, protocolVersion: MQTTVersion) {
        state = SessionState(clientId: clientId, expiryInterval: expiryInterval, protocolVersion: protocolVersion)
    }
}

/// The socket service's store (issue #14) against a real SQLite file.
@Suite struct SocketStoreTests {
    let path = NSTemporaryDirectory() + "fleetgate-sockets-\(UUID().uuidString).db"

    /// Ids never repeat across restarts: a restart continues after the reserved block.
    @Test func socketIdsAreNeverReused() throws {
        let first = try SocketStore(path: path)
        let a = try first.allocateId(), b = try first.allocateId()
        first.close()
        let second = try SocketStore(path: path)
        let c = try second.allocateId()
        second.close()
        #expect(a == 1 && b == 2)
        #expect(c == SocketStore.idBlock + 1)
    }

    @Test func pushedMappingsSurviveAndAReplacingSetReplaces() throws {
        let store = try SocketStore(path: path)
        try store.replacePushedMappings(["a": "{}", "b": "{\"reply\":\"write\"}"])
        try store.savePushedMapping("c", document: "{}")
        try store.deletePushedMapping("a")
        store.close()
        let again = try SocketStore(path: path)
        #expect(try again.loadPushedMappings() == ["b": "{\"reply\":\"write\"}", "c": "{}"])
        try again.replacePushedMappings(["z": "{}"])
        #expect(try again.loadPushedMappings() == ["z": "{}"])
        again.close()
    }
}
