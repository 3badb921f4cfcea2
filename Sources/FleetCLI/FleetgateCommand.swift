import ArgumentParser
import FleetObservability
import Foundation

/// `fleetgate`: the operator's CLI for a fleet, over the coordinator's admin API. Nouns are
/// subcommands, verbs theirs: `fleetgate gateways drain gw-2`.
public struct FleetgateCommand: AsyncParsableCommand {
    /// The release every executable reports (FleetObservability).
    public static let version = FleetgateVersion.version

    public static let configuration = CommandConfiguration(
        commandName: "fleetgate",
        abstract: "Operate a Fleetgate fleet through the coordinator's admin API.",
        usage: "fleetgate [--coordinator URL] [--token-file FILE] [--json] <noun> <verb> [arguments]",
        discussion: """
            The coordinator's admin API is http://127.0.0.1:8080 unless --coordinator or \
            FLEETGATE_COORDINATOR says otherwise; the bearer token is read from --token-file or \
            FLEETGATE_TOKEN_FILE (the read token reads, the admin token also writes). Options go \
            before or after the noun. Tables by default; --json prints the API's answer.

            \(FleetExit.legend)

            Shell completions: fleetgate --generate-completion-script bash|zsh|fish
            """,
        version: "fleetgate \(version)",
        subcommands: [Gateways.self, Graph.self, Interest.self, Migrations.self, Maintenance.self, Mappings.self, Sockets.self,
                      Top.self])

    public init() {}

    /// The process entry: parses, runs, and exits with the `FleetExit` of what happened. Usage
    /// errors exit 1 (argument-parser's own default would be 64); help, `--version` and
    /// completion scripts go to stdout and exit 0.
    public static func entry(_ arguments: [String] = Array(CommandLine.arguments.dropFirst())) async -> Never {
        do {
            var command = try parseAsRoot(ArgumentOrder.hoistGlobalOptions(arguments))
            if var async = command as? AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            terminate(FleetExit.ok.rawValue)
        } catch let failure as CLIFailure {
            Output.error("fleetgate: \(failure.message)")
            terminate(failure.status.rawValue)
        } catch let code as ExitCode {
            terminate(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { Output.line(message) }
                terminate(FleetExit.ok.rawValue)
            }
            Output.error(message)
            terminate(code == .validationFailure ? FleetExit.usage.rawValue : code.rawValue)
        }
    }
}

/// `exit` from inside a type that also has argument-parser's `exit(withError:)`.
private func terminate(_ status: Int32) -> Never { exit(status) }
