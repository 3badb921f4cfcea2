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
            CREATE TABLE IF NOT EXISTS settings (
                key TEXT PRIMARY KEY,
                value TEXT NOT NULL             -- JSON
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS migrations (
                id INTEGER PRIMARY KEY,
                record TEXT NOT NULL             -- JSON of HandoverTable.Handover
            );
            CREATE TABLE IF NOT EXISTS maintenance_runs (
                id TEXT PRIMARY KEY,
                record TEXT NOT NULL             -- MaintenanceRun.encoded(), versioned JSON
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS maintenance_policies (
                name TEXT PRIMARY KEY,
                policy TEXT NOT NULL             -- JSON, the API's shape
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS mappings (
                name TEXT PRIMARY KEY,
                document TEXT NOT NULL           -- canonical JSON of the mapping (issue #14)
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS durable_interest (
                gateway TEXT NOT NULL,
                filter TEXT NOT NULL,
                PRIMARY KEY (gateway, filter)
            ) WITHOUT ROWID;
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
            try db.run("DELETE FROM durable_interest WHERE gateway = ?", [.text(id)])
        }
    }

    // MARK: Settings changed through the API (JSON), e.g. the migration policy.

    public func saveSetting<T: Encodable>(_ key: String, json value: T) throws {
        let text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
        try db.run("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                   [.text(key), .text(text)])
    }

    public func loadSetting<T: Decodable>(_ key: String) throws -> T? {
        var text: String?
        try db.query("SELECT value FROM settings WHERE key = ?", [.text(key)]) { row in text = row.text(0) }
        guard let text else { return nil }
        return try JSONDecoder().decode(T.self, from: Data(text.utf8))
    }

    // MARK: Migrations (issue #12): one row per handover, written at each of its steps.

    public func saveMigration(_ h: HandoverTable.Handover) throws {
        let text = String(decoding: try JSONEncoder().encode(h), as: UTF8.self)
        try db.run("INSERT INTO migrations (id, record) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                   [.integer(Int64(h.id)), .text(text)])
    }

    public func loadMigrations() throws -> [HandoverTable.Handover] {
        var out: [HandoverTable.Handover] = []
        var bad = 0
        try db.query("SELECT record FROM migrations ORDER BY id", []) { row in
            if let h = try? JSONDecoder().decode(HandoverTable.Handover.self, from: Data((row.text(0) ?? "").utf8)) { out.append(h) } else { bad += 1 }
        }
        if bad > 0 { throw SQLiteError(code: 0, message: "\(bad) unreadable rows in migrations", sql: nil) }
        return out
    }

    public func deleteMigrations(_ ids: [UInt64]) throws {
        for id in ids { try db.run("DELETE FROM migrations WHERE id = ?", [.integer(Int64(id))]) }
    }

    // MARK: Maintenance (issue #13): a run's row is written before anything it announces is sent.

    public func saveMaintenanceRun(_ run: MaintenanceRun) throws {
        try db.run("INSERT INTO maintenance_runs (id, record) VALUES (?, ?) ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                   [.text(run.id), .text(String(decoding: try run.encoded(), as: UTF8.self))])
    }

    public func loadMaintenanceRuns() throws -> [MaintenanceRun] {
        var out: [MaintenanceRun] = []
        var bad: [String] = []
        try db.query("SELECT id, record FROM maintenance_runs ORDER BY id", []) { row in
            if let run = try? MaintenanceRun.decoded(from: Data((row.text(1) ?? "").utf8)) { out.append(run) } else { bad.append(row.text(0) ?? "?") }
        }
        if !bad.isEmpty { throw SQLiteError(code: 0, message: "unreadable maintenance runs: \(bad.joined(separator: ", "))", sql: nil) }
        return out
    }

    public func saveMaintenancePolicy(_ name: String, _ policy: MaintenancePolicy) throws {
        try db.run("INSERT INTO maintenance_policies (name, policy) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET policy = excluded.policy",
                   [.text(name), .text(String(decoding: try policy.jsonData(), as: UTF8.self))])
    }

    public func loadMaintenancePolicies() throws -> [String: MaintenancePolicy] {
        var out: [String: MaintenancePolicy] = [:]
        try db.query("SELECT name, policy FROM maintenance_policies", []) { row in
            let json = try JSONSerialization.jsonObject(with: Data((row.text(1) ?? "").utf8))
            out[row.text(0) ?? ""] = try MaintenancePolicy(json: json)
        }
        return out
    }

    // MARK: Socket mappings (issue #14): one row per mapping, its canonical JSON.

    public func saveMapping(_ name: String, document: String) throws {
        try db.run("INSERT INTO mappings (name, document) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET document = excluded.document",
                   [.text(name), .text(document)])
    }

    public func deleteMapping(_ name: String) throws {
        try db.run("DELETE FROM mappings WHERE name = ?", [.text(name)])
    }

    public func loadMappings() throws -> [String: String] {
        var out: [String: String] = [:]
        try db.query("SELECT name, document FROM mappings", []) { row in out[row.text(0) ?? ""] = row.text(1) ?? "" }
        return out
    }

    // MARK: Durable interest (issue #11): written when a gateway's durable filters change, which is
    // when a persistent session subscribes or unsubscribes, never per message.

    public func loadDurableInterest() throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        try db.query("SELECT gateway, filter FROM durable_interest", []) { row in
            if let g = row.text(0), let f = row.text(1) { out[g, default: []].insert(f) }
        }
        return out
    }

    /// A complete DURABLE_INTEREST snapshot replaces the gateway's rows.
    public func replaceDurableInterest(_ gateway: String, with filters: Set<String>) throws {
        try db.transaction {
            try db.run("DELETE FROM durable_interest WHERE gateway = ?", [.text(gateway)])
            for f in filters.sorted() { try db.run("INSERT INTO durable_interest (gateway, filter) VALUES (?, ?)", [.text(gateway), .text(f)]) }
        }
    }

    /// A DURABLE_INTEREST delta (a filter in both lists ends up present, as in the index).
    public func applyDurableInterest(_ gateway: String, added: [String], removed: [String]) throws {
        try db.transaction {
            for f in removed { try db.run("DELETE FROM durable_interest WHERE gateway = ? AND filter = ?", [.text(gateway), .text(f)]) }
            for f in added { try db.run("INSERT OR IGNORE INTO durable_interest (gateway, filter) VALUES (?, ?)", [.text(gateway), .text(f)]) }
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
