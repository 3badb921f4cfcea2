#if !FUZZING
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import FleetObservability
import FleetProtocol

/// Normal builds: a corpus replayer. `fleetgate-fuzz-mqtt FILE...` runs the fuzz oracle on each
/// file (a crash reproduces a finding); `--write-seeds DIR` writes a seed corpus of valid packets.
@main
struct Replayer {
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        if FleetgateVersion.isRequested(args) {
            print(FleetgateVersion.line(for: "fleetgate-fuzz-mqtt"))
            return
        }
        if args.first == "--write-seeds" {
            guard args.count == 2 else { fail("usage: fleetgate-fuzz-mqtt --write-seeds DIR") }
            writeSeeds(to: args[1])
            return
        }
        if args.first == "--" { args.removeFirst() }
        for path in args {
            guard let bytes = readFile(path) else { fail("cannot read \(path)") }
            bytes.withUnsafeBytes { FuzzOracle.check($0) }
        }
        print("replayed \(args.count) input(s)")
    }

    static func fail(_ message: String) -> Never {
        let line = Array((message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
        exit(2)
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let f = fopen(path, "rb") else { return nil }
        defer { fclose(f) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {  // bounded by the file size
            let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n <= 0 { break }
            out += chunk[..<n]
        }
        return ferror(f) == 0 ? out : nil
    }

    /// Each seed starts with the selector byte of its codec (`FuzzOracle`).
    static func writeSeeds(to dir: String) {
        for (i, (packet, version)) in SeedPackets.all.enumerated() {
            let bytes = [FuzzOracle.mqttSelector] + MQTTEncoder.encode(packet, version: version)
            writeSeed(bytes, to: "\(dir)/seed-\(i)-\(version.rawValue)")
        }
        for (i, frame) in SeedFrames.all.enumerated() {
            writeSeed([FuzzOracle.fleetSelector] + FleetFrameEncoder.encode(frame), to: "\(dir)/seed-fleet-\(i)")
        }
        for (i, line) in SeedSocketLines.all.enumerated() {
            writeSeed([FuzzOracle.socketSelector] + line, to: "\(dir)/seed-socket-\(i)")
        }
        for (i, head) in SeedHTTPHeads.all.enumerated() {
            writeSeed([FuzzOracle.httpSelector] + head, to: "\(dir)/seed-http-\(i)")
        }
        print("wrote \(SeedPackets.all.count + SeedFrames.all.count + SeedSocketLines.all.count + SeedHTTPHeads.all.count) seeds to \(dir)")
    }

    static func writeSeed(_ bytes: [UInt8], to path: String) {
        guard let f = fopen(path, "wb") else { fail("cannot write \(path)") }
        _ = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        fclose(f)
    }
}
#endif
