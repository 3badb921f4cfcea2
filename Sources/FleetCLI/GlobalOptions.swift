import ArgumentParser
import Foundation

/// The options every command takes, before or after the noun: where the coordinator is, the
/// token, and JSON instead of tables. Each leaf command includes them with `@OptionGroup`.
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: ArgumentHelp("The coordinator's admin API (env FLEETGATE_COORDINATOR).", valueName: "URL"))
    var coordinator: String?

    @Option(name: .customLong("token-file"), help: ArgumentHelp(
        "File holding the read or admin bearer token (env FLEETGATE_TOKEN_FILE).", valueName: "file"),
        completion: .file())
    var tokenFile: String?

    @Flag(name: .long, help: "Print the API's JSON answer instead of a table (for scripts).")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for an answer.", valueName: "seconds"))
    var timeout: Double = 10

    public init() {}

    /// Flags win over the environment, the environment over the defaults (`make run`'s admin
    /// address, no token). Empty variables count as unset. Pure apart from reading the token file.
    public static func endpoint(coordinator: String?, tokenFile: String?, environment: [String: String]) throws(CLIFailure) -> AdminEndpoint {
        func nonEmpty(_ s: String?) -> String? { s.flatMap { $0.isEmpty ? nil : $0 } }
        let fromEnvironment = nonEmpty(coordinator) == nil ? nonEmpty(environment["FLEETGATE_COORDINATOR"]) : nil
        let address = nonEmpty(coordinator) ?? fromEnvironment ?? AdminEndpoint.defaultAddress
        guard let base = AdminEndpoint.base(address) else {
            let source = fromEnvironment != nil ? "FLEETGATE_COORDINATOR=" : "--coordinator "
            throw CLIFailure(.usage, "\(source)\(address): expected http://HOST:PORT or https://HOST:PORT")
        }
        let file = nonEmpty(tokenFile) ?? nonEmpty(environment["FLEETGATE_TOKEN_FILE"])
        return AdminEndpoint(base: base, token: try file.map { (f: String) throws(CLIFailure) in try AdminEndpoint.token(file: f) })
    }

    func client() throws(CLIFailure) -> AdminClient {
        guard timeout > 0, timeout <= 3600 else { throw CLIFailure(.usage, "--timeout: 0 to 3600 seconds") }
        return AdminClient(endpoint: try Self.endpoint(coordinator: coordinator, tokenFile: tokenFile,
                                                       environment: ProcessInfo.processInfo.environment),
                           timeout: timeout)
    }

    /// The API's answer as it came with `--json`, else the human rendering.
    func emit(_ raw: Data, _ human: () -> String) {
        if json {
            Output.line(String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            Output.line(human())
        }
    }
}

/// Standard output and error, flushed at once so `top` frames and pipes see each line when it is
/// written.
public enum Output {
    public static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    public static func raw(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    public static func error(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}
