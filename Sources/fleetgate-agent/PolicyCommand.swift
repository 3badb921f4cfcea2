import FleetConfig
import ArgumentParser
import FleetAgent
import Foundation

/// `fleetgate-agent policy --data-dir DIR import|remove|list`: policy documents in the agent's
/// database. A running agent picks changes up on SIGHUP (new connections get the new rules).
struct PolicyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fleetgate-agent policy",
        abstract: "Store, remove or list authorization policy documents in the agent's database.",
        discussion: """
            A document is the YAML body of a 'policies:' section (default, everyone, identities, groups).
            Stored documents are merged with the config file's rules; send SIGHUP to a running agent to apply them.
            """)

    enum Action: String, ExpressibleByArgument { case `import`, remove, list }

    @Option(name: .customLong("data-dir"), help: ArgumentHelp("The agent's data directory.", valueName: "DIR"))
    var dataDir = "./data"

    @Argument(help: "import NAME FILE | remove NAME | list")
    var action: Action

    @Argument(help: "Policy document name.")
    var name: String?

    @Argument(help: "YAML file to import.")
    var file: String?

    func run() throws {
        try FileManager.default.createDirectory(atPath: dataDir, withIntermediateDirectories: true)
        let store = try AgentPolicies(dataDir: dataDir)
        defer { store.close() }
        switch action {
        case .import:
            guard let name, let file else { throw ValidationError("usage: policy import NAME FILE") }
            guard let data = FileManager.default.contents(atPath: file) else { throw ValidationError("cannot read \(file)") }
            do {
                try store.save(name: name, document: String(decoding: data, as: UTF8.self))
            } catch let error as ConfigError {
                printError("fleetgate-agent: policy error: \(error)")
                throw ExitCode(65)  // EX_DATAERR: nothing was stored
            }
        case .remove:
            guard let name else { throw ValidationError("usage: policy remove NAME") }
            guard try store.remove(name: name) else { throw ValidationError("no policy named '\(name)'") }
        case .list:
            for n in try store.names() { print(n) }
        }
    }
}
