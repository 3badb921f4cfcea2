import Foundation
@testable import FleetObservability
import Logging
import Synchronization
import Testing

/// Collects what a handler writes.
private final class Lines: Sendable {
    let lines = Mutex<[String]>([])
    var all: [String] { lines.withLock { $0 } }
    func append(_ s: String) { lines.withLock { $0.append(s) } }
}

private func object(_ line: String) throws -> [String: Any] {
    #expect(line.hasSuffix("\n") && line.dropLast().firstIndex(of: "\n") == nil, "one record, one line")
    return try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
}

@Suite struct LogLineTests {
    @Test func jsonLineHasTheRecordAndItsFields() throws {
        let line = LogLine(timestamp: "2026-12-07T22:51:00.123Z", level: "info", logger: "fleetgate-agent",
                           message: "MQTT listening on 127.0.0.1:1883", fields: [("source", "FleetAgent"), ("client", "dev-1")]).json
        #expect(line == #"{"ts":"2026-12-07T22:51:00.123Z","level":"info","logger":"fleetgate-agent","message":"MQTT listening on 127.0.0.1:1883","source":"FleetAgent","client":"dev-1"}"# + "\n")
        let o = try object(line)
        #expect(o["client"] as? String == "dev-1")
    }

    @Test func escapesWhatJSONRequires() throws {
        let nasty = "quote \" backslash \\ newline \n tab \t bell \u{07} del \u{7F} é 漢 🚀"
        let o = try object(LogLine(timestamp: "t", level: "error", logger: "l", message: nasty, fields: [("k\"ey", nasty)]).json)
        #expect(o["message"] as? String == nasty)
        #expect(o["k\"ey"] as? String == nasty)
    }

    @Test func metadataNeverOverwritesTheRecord() throws {
        let line = LogLine(timestamp: "t", level: "info", logger: "l", message: "m", fields: [("message", "x"), ("ts", "y"), ("meta.ts", "z")]).json
        let o = try object(line)
        #expect(o["message"] as? String == "m")
        #expect(o["meta.message"] as? String == "x")
        #expect(o["meta.ts"] as? String == "y")
        #expect(o["meta.meta.ts"] as? String == "z")
    }

    @Test func timestampIsRFC3339UTCWithMilliseconds() {
        #expect(FleetLogHandler.timestamp(seconds: 0, milliseconds: 7) == "1970-01-01T00:00:00.007Z")
        #expect(FleetLogHandler.timestamp(seconds: 1_796_683_860, milliseconds: 999) == "2026-12-07T22:51:00.999Z")
    }

    @Test func handlerWritesOneJSONObjectPerRecord() throws {
        let sink = Lines()
        var logger = Logger(label: "fleetgate-coordinator") { label in
            FleetLogHandler(label: label, level: .debug, metadataProvider: nil, sink: { sink.append($0) })
        }
        logger[metadataKey: "gateway"] = "gw-1"
        logger.trace("below the level")
        logger.info("link up", metadata: ["peer": "10.0.0.2:7420", "labels": ["site": "paris"], "ids": ["1", "2"]])
        logger.error("multi\nline")
        let lines = sink.all
        #expect(lines.count == 2)
        let first = try object(lines[0])
        #expect(first["level"] as? String == "info")
        #expect(first["logger"] as? String == "fleetgate-coordinator")
        #expect(first["message"] as? String == "link up")
        #expect(first["gateway"] as? String == "gw-1")
        #expect(first["peer"] as? String == "10.0.0.2:7420")
        #expect(first["labels.site"] as? String == "paris")
        #expect(first["ids.1"] as? String == "2")
        #expect(first["source"] as? String == "FleetObservabilityTests")
        #expect((first["ts"] as? String)?.hasSuffix("Z") == true)
        #expect(try object(lines[1])["message"] as? String == "multi\nline")
    }

    @Test func versionLineAndFlag() {
        #expect(FleetgateVersion.line(for: "fleetgate-agent") == "fleetgate-agent \(FleetgateVersion.version)")
        #expect(FleetgateVersion.isRequested(["--listen", "x", "--version"]))
        #expect(!FleetgateVersion.isRequested(["--", "--version"]))
        #expect(LogFormat(rawValue: "json") == .json && LogFormat(rawValue: "JSON") == nil)
    }
}
