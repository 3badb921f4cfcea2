import ArgumentParser
import Foundation

/// `fleetgate gateways list|show|drain|resume|remove`.
struct Gateways: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gateways", abstract: "The fleet's gateways: list, inspect, drain, resume, remove.",
        subcommands: [List.self, Show.self, Drain.self, Resume.self, Remove.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every gateway with its state and last load report.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let (answer, raw) = try await global.client().call(.gatewayList, as: GatewayListAnswer.self)
            global.emit(raw) { Render.gateways(answer.gateways, now: Format.nowMs()) }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One gateway: labels, load, top talkers, drain progress.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gateway id.") var id: String

        func run() async throws {
            let (answer, raw) = try await global.client().call(.gateway(id), as: GatewayItem.self)
            global.emit(raw) { Render.gateway(answer, now: Format.nowMs()) }
        }
    }

    struct Drain: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move every client off a gateway by handover; it takes no migrated clients meanwhile (admin token).",
            discussion: "Progress shows under 'drain' in `fleetgate gateways show ID`; `fleetgate gateways resume ID` ends it.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gateway id.") var id: String
        @Option(help: ArgumentHelp("Clients moved per second, 1 to 1000000 (the coordinator's default: 500).", valueName: "n"))
        var rate: Double?

        func validate() throws {
            if let rate, !(1...1_000_000).contains(rate) { throw ValidationError("--rate: 1 to 1000000 clients per second") }
        }

        func run() async throws {
            let (answer, raw) = try await global.client().call(.drain(id, rate: rate), as: GatewayItem.Drain.self)
            global.emit(raw) { "\(id): draining at \(Render.drainSummary(answer))" }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "End a drain: the gateway takes clients again (admin token).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gateway id.") var id: String

        func run() async throws {
            let (answer, raw) = try await global.client().call(.resume(id), as: GatewayItem.self)
            global.emit(raw) { "\(answer.id): \(answer.state)" }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Forget a gateway that is not connected, and what origins hold for it (admin token).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The gateway id.") var id: String

        func run() async throws {
            let raw = try await global.client().call(.removeGateway(id))
            global.emit(raw) { "removed \(id)" }
        }
    }
}
