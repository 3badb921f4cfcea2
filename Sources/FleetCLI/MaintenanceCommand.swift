import ArgumentParser
import Foundation

/// `fleetgate maintenance create|list|show|pause|resume|cancel`.
struct Maintenance: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "maintenance", abstract: "Maintenance runs: create one, follow it, pause, resume or cancel it.",
        subcommands: [Create.self, List.self, Show.self, Pause.self, Resume.self, Cancel.self], defaultSubcommand: List.self)

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a run of an operation over gateways (admin token).",
            discussion: """
                Name the gateways with --gateway (repeatable) or select them with --region and/or \
                --label KEY=VALUE. The policy (concurrency, windows, drain, ...) is a saved one \
                (--policy NAME) or a JSON object in a file (--policy-file FILE, '-' for stdin); \
                without either, the coordinator's defaults: one gateway at a time.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("The operation's name, as the agents' config maps it to a command.", valueName: "name"))
        var operation: String
        @Option(name: .customLong("gateway"), help: ArgumentHelp("A gateway id; repeatable.", valueName: "id"))
        var gateways: [String] = []
        @Option(help: ArgumentHelp("Select the gateways of this region.", valueName: "region")) var region: String?
        @Option(name: .customLong("label"), help: ArgumentHelp("Select gateways with this label; repeatable.", valueName: "key=value"))
        var labels: [String] = []
        @Option(help: ArgumentHelp("A saved policy's name.", valueName: "name")) var policy: String?
        @Option(name: .customLong("policy-file"), help: ArgumentHelp("A policy as a JSON object.", valueName: "file"),
                completion: .file(extensions: ["json"]))
        var policyFile: String?

        func spec() throws(CLIFailure) -> MaintenanceSpec {
            var labelMap: [String: String] = [:]
            for l in labels {
                let (k, v) = try MaintenanceSpec.parseLabel(l)
                labelMap[k] = v
            }
            let chosen: MaintenanceSpec.Policy
            switch (policy, policyFile) {
            case (nil, nil): chosen = .defaults
            case (let name?, nil): chosen = .named(name)
            case (nil, let file?):
                let data = try Input.read(file, flag: "--policy-file")
                guard (try? JSONSerialization.jsonObject(with: data)) is [String: Any] else {
                    throw CLIFailure(.usage, "--policy-file \(file): not a JSON object")
                }
                chosen = .inline(data)
            case (_?, _?): throw CLIFailure(.usage, "--policy and --policy-file: give one")
            }
            let spec = MaintenanceSpec(operation: operation, gateways: gateways, region: region, labels: labelMap, policy: chosen)
            try spec.validate()
            return spec
        }

        func run() async throws {
            let (answer, raw) = try await global.client().call(.createMaintenance(try spec()), as: MaintenanceRunAnswer.self)
            global.emit(raw) { Render.maintenanceRun(answer, now: Format.nowMs()) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every run, newest first.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (answer, raw) = try await global.client().call(.maintenanceList, as: MaintenanceListAnswer.self)
            global.emit(raw) { Render.maintenanceRuns(answer.runs, now: Format.nowMs()) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One run and each host: planned start, state, exit status, error.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The run id.") var id: String

        func run() async throws {
            let (answer, raw) = try await global.client().call(.maintenanceRun(id), as: MaintenanceRunAnswer.self)
            global.emit(raw) { Render.maintenanceRun(answer, now: Format.nowMs()) }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Start nothing new; hosts out go on (admin token).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The run id.") var id: String
        func run() async throws { try await steer(global, id, "pause") }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Let a paused run go on (admin token).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The run id.") var id: String
        func run() async throws { try await steer(global, id, "resume") }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Skip the hosts not started; a drain in progress is undone (admin token).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The run id.") var id: String
        func run() async throws { try await steer(global, id, "cancel") }
    }

    static func steer(_ global: GlobalOptions, _ id: String, _ verb: String) async throws {
        let (answer, raw) = try await global.client().call(.maintenanceEvent(id, verb), as: MaintenanceRunAnswer.self)
        global.emit(raw) { "run \(answer.id): \(answer.state)" }
    }
}

/// A file named on the command line, `-` meaning standard input.
enum Input {
    static func read(_ path: String, flag: String) throws(CLIFailure) -> Data {
        if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        guard let data = FileManager.default.contents(atPath: path) else { throw CLIFailure(.usage, "\(flag) \(path): cannot be read") }
        return data
    }
}
