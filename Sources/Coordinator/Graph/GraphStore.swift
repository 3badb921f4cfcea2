import FleetRuntime
import Foundation

/// The gateway graph in SQLite (WAL) under the data directory: `gateways` (nodes) and `links`
/// (edges, gateway <-> coordinator today; the schema already allows gateway <-> gateway).
/// Loop-thread only, like the connection it wraps. Writes are rare (HELLO, state changes, a batch
/// of last-seen times every few seconds), never per message.
public final class GraphStore {
    private let db: SQLiteDatabase
    public static let fileName = "coordinator.db"

    public init(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        db = try SQLiteDatabase(path: directory + "/" + Self.fileName)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS gateways (
                id TEXT PRIMARY KEY,
                mqtt_address TEXT NOT NULL,
                region TEXT NOT NULL,
                labels TEXT NOT NULL,            -- JSON array of [key, value]
                capacity_weight INTEGER NOT NULL,
                state TEXT NOT NULL,             -- active | draining | maintenance | down
                last_seen_ms INTEGER NOT NULL,
                software_version TEXT NOT NULL,
                session_epoch INTEGER NOT NULL,
                registered_ms INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS links (
                source TEXT NOT NULL,
                target TEXT NOT NULL,
                kind TEXT NOT NULL,              -- coordinator | peer
                state TEXT NOT NULL,             -- up | down
                updated_ms INTEGER NOT NULL,
                PRIMARY KEY (source, target, kind)
            );
            """)
    }

    public func close() { db.close() }

    /// Every stored gateway. After a restart nobody is connected: call `markAllDown` first.
    public func loadGateways() throws -> [GatewayRecord] {
        var out: [GatewayRecord] = []
        try db.query("SELECT id, mqtt_address, region, labels, capacity_weight, state, last_seen_ms, software_version, session_epoch, registered_ms FROM gateways ORDER BY id", []) { row in
            out.append(GatewayRecord(
                id: row.text(0) ?? "", mqttAddress: row.text(1) ?? "", region: row.text(2) ?? "",
                labels: Self.decodeLabels(row.text(3) ?? "[]"), capacityWeight: UInt32(clamping: row.int64(4)),
                state: GatewayState(rawValue: row.text(5) ?? "") ?? .down, lastSeenMs: UInt64(clamping: row.int64(6)),
                softwareVersion: row.text(7) ?? "", sessionEpoch: UInt64(clamping: row.int64(8)),
                registeredMs: UInt64(clamping: row.int64(9)), load: nil, remoteAddress: nil))
        }
        return out
    }

    public func loadLinks() throws -> [GraphLink] {
        var out: [GraphLink] = []
        try db.query("SELECT source, target, kind, state, updated_ms FROM links ORDER BY source, target, kind", []) { row in
            out.append(GraphLink(source: row.text(0) ?? "", target: row.text(1) ?? "",
                                 kind: GraphLink.Kind(rawValue: row.text(2) ?? "") ?? .coordinator,
                                 state: GraphLink.State(rawValue: row.text(3) ?? "") ?? .down,
                                 updatedMs: UInt64(clamping: row.int64(4))))
        }
        return out
    }

    /// Coordinator start: nothing is connected yet.
    public func markAllDown() throws {
        try db.transaction {
            try db.run("UPDATE gateways SET state = 'down' WHERE state != 'down'", [])
            try db.run("UPDATE links SET state = 'down' WHERE state != 'down'", [])
        }
    }

    public func save(_ g: GatewayRecord) throws {
        try db.run("""
            INSERT INTO gateways (id, mqtt_address, region, labels, capacity_weight, state, last_seen_ms, software_version, session_epoch, registered_ms)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(id) DO UPDATE SET mqtt_address = excluded.mqtt_address, region = excluded.region, labels = excluded.labels,
                capacity_weight = excluded.capacity_weight, state = excluded.state, last_seen_ms = excluded.last_seen_ms,
                software_version = excluded.software_version, session_epoch = excluded.session_epoch
            """, [.text(g.id), .text(g.mqttAddress), .text(g.region), .text(Self.encodeLabels(g.labels)),
                  .integer(Int64(g.capacityWeight)), .text(g.state.rawValue), .integer(Int64(clamping: g.lastSeenMs)),
                  .text(g.softwareVersion), .integer(Int64(clamping: g.sessionEpoch)), .integer(Int64(clamping: g.registeredMs))])
    }

    /// A gateway and every link it is an end of.
    public func deleteGateway(_ id: String) throws {
        try db.transaction {
            try db.run("DELETE FROM gateways WHERE id = ?", [.text(id)])
            try db.run("DELETE FROM links WHERE source = ? OR target = ?", [.text(id), .text(id)])
        }
    }

    public func save(_ l: GraphLink) throws {
        try db.run("""
            INSERT INTO links (source, target, kind, state, updated_ms) VALUES (?, ?, ?, ?, ?)
            ON CONFLICT(source, target, kind) DO UPDATE SET state = excluded.state, updated_ms = excluded.updated_ms
            """, [.text(l.source), .text(l.target), .text(l.kind.rawValue), .text(l.state.rawValue), .integer(Int64(clamping: l.updatedMs))])
    }

    /// One transaction for a batch of last-seen times.
    public func saveLastSeen(_ items: [(id: String, lastSeenMs: UInt64)]) throws {
        guard !items.isEmpty else { return }
        try db.transaction {
            for item in items {
                try db.run("UPDATE gateways SET last_seen_ms = ? WHERE id = ?", [.integer(Int64(clamping: item.lastSeenMs)), .text(item.id)])
            }
        }
    }

    static func encodeLabels(_ labels: [(key: String, value: String)]) -> String {
        let pairs = labels.map { [$0.key, $0.value] }
        guard let data = try? JSONSerialization.data(withJSONObject: pairs) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }

    static func decodeLabels(_ text: String) -> [(key: String, value: String)] {
        guard let any = try? JSONSerialization.jsonObject(with: Data(text.utf8)), let pairs = any as? [[String]] else { return [] }
        return pairs.compactMap { $0.count == 2 ? (key: $0[0], value: $0[1]) : nil }
    }
}
