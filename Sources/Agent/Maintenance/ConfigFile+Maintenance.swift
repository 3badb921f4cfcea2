import FleetConfig
import Yams

extension ConfigFile {
    /// The `maintenance:` section (issue #13). Every error names the file, the line and the
    /// dotted key (`maintenance.operations.os-patch.timeout_s`).
    static func maintenance(_ node: Node, _ r: NodeReader) throws(ConfigError) -> MaintenanceConfig {
        var m = MaintenanceConfig()
        for (k, v) in try r.mapping(node, key: "maintenance") {
            let key = "maintenance.\(k)"
            switch k {
            case "availability": m.availability = try command(v, r, key: key)
            case "operations":
                for (name, op) in try r.mapping(v, key: key) {
                    let opKey = "\(key).\(name)"
                    guard MaintenanceConfig.operationNameBytes.contains(name.utf8.count) else {
                        throw r.error(op, key: opKey, "an operation name is \(MaintenanceConfig.operationNameBytes.lowerBound)-\(MaintenanceConfig.operationNameBytes.upperBound) bytes, got \(name.utf8.count)")
                    }
                    m.operations[name] = try operation(op, r, key: opKey)
                }
            default: throw r.unknown(v, key: key, known: ["availability", "operations"])
            }
        }
        return m
    }

    private static func operation(_ node: Node, _ r: NodeReader, key: String) throws(ConfigError) -> MaintenanceConfig.Operation {
        var command: [String]?
        var timeout: UInt32?
        var drain = true
        for (k, v) in try r.mapping(node, key: key) {
            let fieldKey = "\(key).\(k)"
            switch k {
            case "command": command = try Self.command(v, r, key: fieldKey)
            case "timeout_s": timeout = try r.integer(v, key: fieldKey, MaintenanceConfig.timeoutSecondsRange)
            case "drain": drain = try r.bool(v, key: fieldKey)
            default: throw r.unknown(v, key: fieldKey, known: ["command", "timeout_s", "drain"])
            }
        }
        guard let command else { throw r.error(node, key: "\(key).command", "required: the argv to run, e.g. [\"/usr/local/sbin/patch-host\", \"--reboot\"]") }
        guard let timeout else {
            throw r.error(node, key: "\(key).timeout_s", "required: seconds before the command's process group is killed (\(MaintenanceConfig.timeoutSecondsRange.lowerBound)...\(MaintenanceConfig.timeoutSecondsRange.upperBound))")
        }
        return MaintenanceConfig.Operation(command: command, timeoutSeconds: timeout, drain: drain)
    }

    /// An argv: a non-empty list of strings whose first one (the program) is not empty.
    private static func command(_ node: Node, _ r: NodeReader, key: String) throws(ConfigError) -> [String] {
        guard case .sequence = node else {
            throw r.error(node, key: key, "expected a list of strings (an argv, not a shell string), e.g. [\"/usr/local/sbin/patch-host\", \"--reboot\"]")
        }
        let argv = try r.strings(node, key: key)
        guard let program = argv.first else { throw r.error(node, key: key, "the command is empty: name a program") }
        guard !program.isEmpty else { throw r.error(node, key: "\(key)[0]", "the program is an empty string") }
        for (i, item) in argv.enumerated() where item.utf8.contains(0) {
            throw r.error(node, key: "\(key)[\(i)]", "contains a NUL byte")
        }
        return argv
    }
}
