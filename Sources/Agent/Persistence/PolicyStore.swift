import FleetCore
import FleetRuntime
import Foundation

/// Named policy documents kept in the agent's database, next to the config file's rules, so an
/// operator (and later the coordinator) can change authorization without editing files on every
/// gateway. A document is the YAML of a `policies:` section, stored as text and parsed with the
/// config parser on every load, so one schema and one set of error messages serve both.
final class PolicyStore {
    private let db: SQLiteDatabase

    init(path: String) throws {
        db = try SQLiteDatabase(path: path)
        try db.execute("""
            CREATE TABLE IF NOT EXISTS policies(
                name TEXT PRIMARY KEY,
                document TEXT NOT NULL,
                updated_at INTEGER NOT NULL) WITHOUT ROWID;
            """)
    }

    /// Checks the document first: a document that does not parse is refused and nothing changes.
    func save(name: String, document: String, now: Int64) throws {
        _ = try ConfigFile.parsePolicies(yaml: document, file: "policy '\(name)'")
        try db.run("INSERT OR REPLACE INTO policies(name, document, updated_at) VALUES(?, ?, ?)",
                   [.text(name), .text(document), .integer(now)])
    }

    @discardableResult
    func remove(name: String) throws -> Bool {
        try db.run("DELETE FROM policies WHERE name = ?", [.text(name)])
        return db.changes > 0
    }

    func names() throws -> [String] {
        var out: [String] = []
        try db.query("SELECT name FROM policies ORDER BY name", []) { out.append($0.text(0) ?? "") }
        return out
    }

    /// Every stored document, parsed; a bad one names itself in the error.
    func loadAll() throws -> [(name: String, policies: PolicySet)] {
        var out: [(String, PolicySet)] = []
        try db.query("SELECT name, document FROM policies ORDER BY name", []) { row in
            let name = row.text(0) ?? ""
            out.append((name, try ConfigFile.parsePolicies(yaml: row.text(1) ?? "", file: "policy '\(name)'")))
        }
        return out
    }

    func close() { db.close() }
}

extension PolicySet {
    /// The union of two rule sets (deny still wins rule by rule). The default effect is the
    /// stricter of the two: one source saying "deny what is not allowed" is not overridden.
    func merged(with other: PolicySet) -> PolicySet {
        var m = self
        m.everyone += other.everyone
        for (k, v) in other.identities { m.identities[k, default: []] += v }
        for (k, v) in other.groups { m.groups[k, default: []] += v }
        for (k, v) in other.groupMembers { m.groupMembers[k, default: []].formUnion(v) }
        if other.defaultEffect == .deny { m.defaultEffect = .deny }
        return m
    }
}

/// The policy store as the command line sees it (the store type itself stays internal).
public final class AgentPolicies {
    private let store: PolicyStore
    public init(dataDir: String) throws { store = try PolicyStore(path: dataDir + "/fleetgate.db") }
    public func save(name: String, document: String) throws {
        try store.save(name: name, document: document, now: Int64(Date().timeIntervalSince1970))
    }
    public func remove(name: String) throws -> Bool { try store.remove(name: name) }
    public func names() throws -> [String] { try store.names() }
    public func close() { store.close() }
}
