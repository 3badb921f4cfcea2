import ArgumentParser
import Dispatch
import Foundation

/// `fleetgate top`: the gateways and their load, redrawn every second until Ctrl-C (or for
/// `--iterations N` frames). On a terminal each frame replaces the last; into a pipe the frames
/// follow each other, separated by a blank line; with `--json` each frame is one line (the
/// `GET /v1/gateways` answer), for scripts that watch the fleet.
struct Top: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "A live view of the gateways and their load, refreshed every second.",
        discussion: "Ctrl-C ends it (exit 0). A coordinator that stops answering after the first frame is shown and retried.")
    @OptionGroup var global: GlobalOptions
    @Option(help: ArgumentHelp("Stop after this many frames (for scripts and tests).", valueName: "n")) var iterations: Int?
    @Option(help: ArgumentHelp("Seconds between frames.", valueName: "seconds")) var interval: Double = 1

    func validate() throws {
        if let iterations, iterations < 1 { throw ValidationError("--iterations: at least 1") }
        if !(0.1...3600).contains(interval) { throw ValidationError("--interval: 0.1 to 3600 seconds") }
    }

    func run() async throws {
        let client = try global.client()
        let terminal = !global.json && isatty(STDOUT_FILENO) == 1
        let json = global.json, frames = iterations, pause = UInt64(interval * 1e9)
        // Untyped throws here: a typed-throws Task closure crashes Swift 6.3.1's SIL pass.
        let loop = Task { () async throws -> Void in
            var lastFailure: CLIFailure?
            var frame = 0
            while frames.map({ frame < $0 }) ?? true {
                if frame > 0 {
                    do { try await Task.sleep(nanoseconds: pause) } catch { return }  // cancelled: Ctrl-C
                }
                frame += 1
                let now = Format.nowMs()
                var text: String
                do throws(CLIFailure) {
                    let (answer, raw) = try await client.call(.gatewayList, as: GatewayListAnswer.self)
                    text = json ? String(decoding: raw, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                        : Render.top(answer.gateways, coordinator: client.endpoint.base, now: now)
                    lastFailure = nil
                } catch {
                    if Task.isCancelled { return }
                    // The first frame fails like any command; later ones are shown and retried.
                    if frame == 1 { throw error }
                    lastFailure = error
                    if json { continue }
                    text = Render.topHeader(coordinator: client.endpoint.base, now: now) + "\n" + error.message + " (retrying)"
                }
                if Task.isCancelled { return }
                if terminal {
                    Output.raw(TerminalControl.home + TerminalControl.clear + text + "\n")
                } else {
                    Output.line(frame > 1 && !json ? "\n" + text : text)
                }
            }
            if let lastFailure { throw lastFailure }
        }
        let stop = StopSignals { loop.cancel() }
        if terminal { Output.raw(TerminalControl.hideCursor) }
        let result = await loop.result
        stop.cancel()
        if terminal { Output.raw(TerminalControl.showCursor) }
        try result.get()
    }
}

/// The few ANSI sequences `top` uses on a terminal.
enum TerminalControl {
    static let home = "\u{1B}[H"
    static let clear = "\u{1B}[2J"
    static let hideCursor = "\u{1B}[?25l"
    static let showCursor = "\u{1B}[?25h"
}

/// SIGINT and SIGTERM end `top` through its task (so the cursor comes back and it exits 0)
/// instead of killing the process mid-frame. Dispatch sources take the signals; their default
/// action is ignored while the sources live, and restored by `cancel()`.
final class StopSignals {
    private let sources: [any DispatchSourceSignal]

    init(_ handler: @escaping @Sendable () -> Void) {
        sources = [SIGINT, SIGTERM].map { number in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func cancel() {
        for s in sources { s.cancel() }
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

extension Render {
    static func topHeader(coordinator: String, now: UInt64) -> String {
        "fleetgate top  \(coordinator)  \(Format.time(now))"
    }

    /// One frame of `top`: a header with the fleet's totals, then the gateways, busiest first.
    public static func top(_ gateways: [GatewayItem], coordinator: String, now: UInt64) -> String {
        let up = gateways.filter(\.connected).count
        var states: [String: Int] = [:]
        for g in gateways { states[g.state, default: 0] += 1 }
        let loads = gateways.compactMap(\.load)
        let conns = loads.reduce(UInt64(0)) { $0 + UInt64($1.connections) }
        let msgIn = loads.reduce(UInt64(0)) { $0 + UInt64($1.messages_in_per_second) }
        let msgOut = loads.reduce(UInt64(0)) { $0 + UInt64($1.messages_out_per_second) }
        var out = topHeader(coordinator: coordinator, now: now) + "\n"
        out += "gateways \(gateways.count) (\(up) up; \(byState(states)))  connections \(Format.count(conns))  "
        out += "msg/s in \(Format.count(msgIn)) out \(Format.count(msgOut))\n\n"
        guard !gateways.isEmpty else { return out + "no gateways" }
        func busy(_ g: GatewayItem) -> UInt64 { g.load.map { UInt64($0.messages_in_per_second) + UInt64($0.messages_out_per_second) } ?? 0 }
        let sorted = gateways.sorted { (busy($0), $1.id) > (busy($1), $0.id) }
        var t = Table([.init("GATEWAY"), .init("STATE"), .init("LINK"), .init("CONNS", .right), .init("MSG/S IN", .right),
                       .init("MSG/S OUT", .right), .init("IN/S", .right), .init("OUT/S", .right), .init("TOP TALKER", maxWidth: 40)])
        for g in sorted {
            let l = g.load
            let talker = l?.top_talkers?.first.map { "\($0.client_id) (\(Format.count(UInt64($0.messages_per_second))) msg/s)" }
            t.add([g.id, g.state, g.connected ? "up" : "down",
                   l.map { Format.count(UInt64($0.connections)) } ?? "-",
                   l.map { Format.count(UInt64($0.messages_in_per_second)) } ?? "-",
                   l.map { Format.count(UInt64($0.messages_out_per_second)) } ?? "-",
                   l.map { Format.bytes($0.bytes_in_per_second) } ?? "-",
                   l.map { Format.bytes($0.bytes_out_per_second) } ?? "-",
                   talker ?? "-"])
        }
        return out + t.render()
    }
}
