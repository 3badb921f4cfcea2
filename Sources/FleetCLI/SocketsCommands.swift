import ArgumentParser
import Foundation

/// `fleetgate mappings list|put|delete`: the managed-socket function mappings.
struct Mappings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mappings", abstract: "Managed-socket function mappings: list, set, delete.",
        subcommands: [List.self, Put.self, Delete.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every mapping by name.")
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let raw = try await global.client().call(.mappingList)
            if global.json {
                global.emit(raw) { "" }
            } else {
                Output.line(try Render.mappings(raw))
            }
        }
    }

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a mapping from a JSON document; it is pushed to every gateway (admin token).",
            discussion: "The document's shape is in the README's config section; the coordinator validates it and answers with its canonical form.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The mapping's name ([A-Za-z0-9._-]).") var name: String
        @Option(name: .customLong("file"), help: ArgumentHelp("The JSON document; '-' for stdin.", valueName: "file"),
                completion: .file(extensions: ["json"]))
        var file: String

        func run() async throws {
            let document = try Input.read(file, flag: "--file")
            let raw = try await global.client().call(.putMapping(name, document: document))
            global.emit(raw) { "mapping \(name) stored and pushed" }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a mapping; gateways drop it (admin token).")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The mapping's name.") var name: String

        func run() async throws {
            let raw = try await global.client().call(.deleteMapping(name))
            global.emit(raw) { "mapping \(name) deleted" }
        }
    }
}

/// `fleetgate sockets list|close`: the open managed sockets.
struct Sockets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sockets", abstract: "Open managed sockets, as the gateways last reported them.",
        subcommands: [List.self, Close.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Every open socket with its gateway, mapping and traffic.")
        @OptionGroup var global: GlobalOptions
        @Option(help: ArgumentHelp("Only this gateway's sockets (tables only; --json prints the whole answer).", valueName: "id"))
        var gateway: String?

        func run() async throws {
            var (answer, raw) = try await global.client().call(.socketList, as: SocketsAnswer.self)
            if let gateway { answer.sockets.removeAll { $0.gateway != gateway } }
            global.emit(raw) { Render.sockets(answer, now: Format.nowMs()) }
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Close a socket (needs DELETE /v1/sockets/{id} on the coordinator; admin token).",
            discussion: "Coordinators without that endpoint are told apart from an unknown socket: exit 7, not 4.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The socket id, as `fleetgate sockets list` shows it.") var id: String

        func run() async throws {
            let client = try global.client()
            // Known first: a 404 to the DELETE is then "no such endpoint", not "no such socket".
            let (listed, _) = try await client.call(.socketList, as: SocketsAnswer.self)
            guard listed.sockets.contains(where: { $0.socket_id == id }) else {
                throw CLIFailure(.notFound, "no open socket '\(id)' (fleetgate sockets list)")
            }
            let response = try await client.send(.closeSocket(id))
            if let failure = SocketClose.failure(for: response, request: .closeSocket(id), endpoint: client.endpoint) { throw failure }
            global.emit(response.body) { "socket \(id) closing" }
        }
    }
}

/// What a refused `DELETE /v1/sockets/{id}` means once the socket is known to be open.
enum SocketClose {
    static func failure(for response: AdminResponse, request: AdminRequest, endpoint: AdminEndpoint) -> CLIFailure? {
        if response.status == 404 || response.status == 405 {
            return CLIFailure(.unsupported, "this coordinator cannot close sockets: it has no DELETE /v1/sockets/{id} endpoint")
        }
        return AdminClient.failure(for: response, request: request, endpoint: endpoint)
    }
}
