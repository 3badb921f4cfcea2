import ArgumentParser
import Foundation

/// `fleetgate migrations list|move`.
struct Migrations: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrations", abstract: "Connection migrations: the handovers and the policy's decisions; move a client now.",
        subcommands: [List.self, Move.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Handovers (in progress and recent) and the policy's recent decisions.")
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("Rows of each table, newest kept.", valueName: "n")) var limit = 20

        func validate() throws {
            if limit < 1 { throw ValidationError("--limit: at least 1") }
        }

        func run() async throws {
            let (answer, raw) = try await global.client().call(.migrationList, as: MigrationsAnswer.self)
            global.emit(raw) { Render.migrations(answer, limit: limit, now: Format.nowMs()) }
        }
    }

    struct Move: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move one client to another gateway now, by handover (admin token).",
            discussion: """
                Without --to the coordinator picks the least-loaded eligible gateway; without --from, \
                the gateway whose load report lists the client.
                """)
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The MQTT client id.") var clientId: String
        @Option(help: ArgumentHelp("Target gateway.", valueName: "gateway")) var to: String?
        @Option(help: ArgumentHelp("The gateway that holds the client now.", valueName: "gateway")) var from: String?

        func run() async throws {
            let (answer, raw) = try await global.client().call(.move(client: clientId, to: to, from: from), as: HandoverItem.self)
            global.emit(raw) { "handover \(answer.id): \(answer.client_id) \(answer.from) -> \(answer.to) (\(answer.state))" }
        }
    }
}
