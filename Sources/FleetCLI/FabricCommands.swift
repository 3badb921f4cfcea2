import ArgumentParser
import Foundation

/// `fleetgate graph`: the gateway graph (nodes and links).
struct Graph: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The gateway graph: the coordinator, the gateways and their links.")
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        let (answer, raw) = try await global.client().call(.graph, as: GraphAnswer.self)
        global.emit(raw) { Render.graph(answer, now: Format.nowMs()) }
    }
}

/// `fleetgate interest TOPIC`: the gateways a message on TOPIC would be forwarded to.
struct Interest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Which gateways want a topic, and by which filters.",
        discussion: "TOPIC is a topic name as a device would publish it (no wildcards).")
    @OptionGroup var global: GlobalOptions
    @Argument(help: "An MQTT topic name, e.g. sensors/room1/temp.") var topic: String

    func run() async throws {
        let (answer, raw) = try await global.client().call(.interest(topic: topic), as: InterestAnswer.self)
        global.emit(raw) { Render.interest(answer) }
    }
}
