import FleetConfig
import Foundation
import Testing
import FleetCore
@testable import FleetAgent

/// Stored policy documents on a real SQLite file, and how they merge with the config's rules.
@Suite struct PolicyStoreTests {
    let path: String

    init() throws {
        let dir = NSTemporaryDirectory() + "fleetgate-policy-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        path = dir + "/fleetgate.db"
    }

    @Test func documentsSurviveReopenAndMergeWithTheConfig() throws {
        let store = try PolicyStore(path: path)
        try store.save(name: "sensors", document: """
            identities:
              device-1:
                - {effect: allow, actions: [publish], filters: ["telemetry/device-1/#"]}
            """, now: 1)
        try store.save(name: "lockdown", document: """
            default: deny
            everyone:
              - {effect: deny, actions: [publish], filters: ["admin/#"]}
            """, now: 2)
        store.close()

        let reopened = try PolicyStore(path: path)
        #expect(try reopened.names() == ["lockdown", "sensors"])
        var config = PolicySet(defaultEffect: .allow)
        config.everyone = [PolicyRule(effect: .allow, actions: [.subscribe], filters: ["#"])]
        let merged = try #require(try Agent.effectivePolicies(config: config, store: reopened))
        #expect(merged.defaultEffect == .deny)  // the stricter default wins
        #expect(merged.everyone.count == 2)
        #expect(merged.identities["device-1"]?.count == 1)

        let device1 = ConnectionPolicy(policies: merged, identity: ClientIdentity(clientId: "c", username: "device-1"))
        #expect(device1.mayPublish("telemetry/device-1/t"))
        #expect(!device1.mayPublish("admin/x"))
        #expect(!device1.mayPublish("telemetry/device-2/t"))
    }

    @Test func aBadDocumentIsRefusedAndNothingChanges() throws {
        let store = try PolicyStore(path: path)
        try store.save(name: "good", document: "everyone: []\n", now: 1)
        #expect(throws: ConfigError.self) {
            try store.save(name: "good", document: "everyone:\n  - {effect: maybe, actions: [publish], filters: [a]}\n", now: 2)
        }
        #expect(try store.loadAll().first?.policies.everyone.isEmpty == true)
    }

    @Test func removeReportsWhetherItExisted() throws {
        let store = try PolicyStore(path: path)
        try store.save(name: "a", document: "everyone: []\n", now: 1)
        #expect(try store.remove(name: "a"))
        #expect(try !store.remove(name: "a"))
        #expect(try Agent.effectivePolicies(config: nil, store: store) == nil)
    }
}
