import FleetConfig
import Testing
@testable import FleetAgent

/// The `maintenance:` section (issue #13): the issue's shape, and every bad field named by file,
/// line and key.
@Suite struct MaintenanceConfigTests {
    private func load(_ yaml: String) throws(ConfigError) -> AgentConfig {
        var config = AgentConfig()
        try ConfigFile.apply(yaml: yaml, file: "agent.yaml", to: &config)
        return config
    }

    private func error(_ yaml: String) -> ConfigError? {
        do { _ = try load(yaml); return nil } catch { return error }
    }

    @Test func theIssuesShapeIsRead() throws {
        let c = try load("""
            data_dir: ./data
            maintenance:
              availability: ["/usr/local/lib/fleetgate/can-maintain"]     # optional; exit 0 = available
              operations:
                os-patch: {command: ["/usr/local/sbin/patch-host", "--reboot"], timeout_s: 900, drain: true}
                restart-modem:
                  command: [/usr/bin/systemctl, restart, "modem manager"]
                  timeout_s: 60
                  drain: false
                firmware: {command: [/opt/fw/apply], timeout_s: 86400}
            """)
        let m = try #require(c.maintenance)
        #expect(m.availability == ["/usr/local/lib/fleetgate/can-maintain"])
        #expect(m.operations.count == 3)
        #expect(m.operations["os-patch"] == .init(command: ["/usr/local/sbin/patch-host", "--reboot"], timeoutSeconds: 900, drain: true))
        #expect(m.operations["restart-modem"] == .init(command: ["/usr/bin/systemctl", "restart", "modem manager"], timeoutSeconds: 60, drain: false))
        #expect(m.operations["firmware"]?.drain == true, "drain defaults to true")
        #expect(m.operations["firmware"]?.timeoutSeconds == 86_400)
    }

    @Test func noSectionMeansNoMaintenanceAndNoAvailabilityCommandIsFine() throws {
        #expect(try load("data_dir: ./data\n").maintenance == nil)
        let m = try #require(try load("maintenance:\n  operations:\n    x: {command: [/bin/true], timeout_s: 5}\n").maintenance)
        #expect(m.availability == nil)
        #expect(try load("maintenance: {}\n").maintenance == MaintenanceConfig())
    }

    @Test(arguments: [
        // (yaml, line, key, message fragment)
        ("maintenance:\n  availabilty: [/bin/true]\n", 2, "maintenance.availabilty", "unknown key"),
        ("maintenance:\n  availability: /usr/local/lib/can-maintain\n", 2, "maintenance.availability", "argv, not a shell string"),
        ("maintenance:\n  availability: []\n", 2, "maintenance.availability", "empty"),
        ("maintenance:\n  operations:\n    os-patch: {command: [/bin/true], timeout_s: 900, drian: true}\n", 3,
         "maintenance.operations.os-patch.drian", "unknown key"),
        ("maintenance:\n  operations:\n    os-patch: {command: /usr/local/sbin/patch-host --reboot, timeout_s: 900}\n", 3,
         "maintenance.operations.os-patch.command", "a list of strings"),
        ("maintenance:\n  operations:\n    os-patch: {command: [], timeout_s: 900}\n", 3, "maintenance.operations.os-patch.command", "empty"),
        ("maintenance:\n  operations:\n    os-patch: {command: [\"\", x], timeout_s: 900}\n", 3, "maintenance.operations.os-patch.command[0]", "empty"),
        ("maintenance:\n  operations:\n    os-patch: {command: [/bin/true, [nested]], timeout_s: 900}\n", 3,
         "maintenance.operations.os-patch.command[1]", "a string"),
        ("maintenance:\n  operations:\n    os-patch:\n      command: [/bin/true]\n", 4, "maintenance.operations.os-patch.timeout_s", "required"),
        ("maintenance:\n  operations:\n    os-patch: {timeout_s: 900}\n", 3, "maintenance.operations.os-patch.command", "required"),
        ("maintenance:\n  operations:\n    os-patch: {command: [/bin/true], timeout_s: 0}\n", 3, "maintenance.operations.os-patch.timeout_s", "1...86400"),
        ("maintenance:\n  operations:\n    os-patch: {command: [/bin/true], timeout_s: 86401}\n", 3, "maintenance.operations.os-patch.timeout_s", "1...86400"),
        ("maintenance:\n  operations:\n    os-patch: {command: [/bin/true], timeout_s: soon}\n", 3, "maintenance.operations.os-patch.timeout_s", "whole number"),
        ("maintenance:\n  operations:\n    os-patch: {command: [/bin/true], timeout_s: 9, drain: maybe}\n", 3, "maintenance.operations.os-patch.drain", "true or false"),
        ("maintenance:\n  operations:\n    os-patch: [/bin/true]\n", 3, "maintenance.operations.os-patch", "mapping"),
        ("maintenance:\n  operations: [os-patch]\n", 2, "maintenance.operations", "mapping"),
        ("maintenance:\n  operations:\n    \"\": {command: [/bin/true], timeout_s: 9}\n", 3, "maintenance.operations.", "1-128 bytes"),
        ("maintenance: [os-patch]\n", 1, "maintenance", "mapping"),
    ] as [(String, Int, String, String)])
    func badFieldsAreNamedWithLineAndKey(yaml: String, line: Int, key: String, fragment: String) {
        let e = error(yaml)
        #expect(e?.file == "agent.yaml")
        #expect(e?.line == line, "\(e?.description ?? "no error")")
        #expect(e?.key == key, "\(e?.description ?? "no error")")
        #expect(e?.message.contains(fragment) == true, "\(e?.description ?? "no error")")
    }

    @Test func anOperationNameOfMoreThan128BytesIsRefused() {
        let name = String(repeating: "é", count: 65)  // 130 bytes
        let e = error("maintenance:\n  operations:\n    \(name): {command: [/bin/true], timeout_s: 9}\n")
        #expect(e?.key == "maintenance.operations.\(name)")
        #expect(e?.line == 3)
        #expect(e?.message.contains("got 130") == true)
        let ok = String(repeating: "é", count: 64)  // 128 bytes
        #expect(error("maintenance:\n  operations:\n    \(ok): {command: [/bin/true], timeout_s: 9}\n") == nil)
    }

    @Test func maintenanceIsAKnownTopLevelKey() {
        let e = error("maintenanc:\n  operations: {}\n")
        #expect(e?.key == "maintenanc")
        #expect(e?.message.contains("maintenance") == true)
    }
}
