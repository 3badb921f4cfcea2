/// The one place the release version lives: `--version` of every executable, the agent's HELLO
/// (`softwareVersion`), `$SYS/broker/version` and the `fleetgate_agent_build_info` metric.
///
/// No git commit is compiled in: SwiftPM has no honest way to pass one at build time without a
/// generated source file or a build plugin that reruns git on every build (docs/DESIGN-NOTES.md
/// "Version and build identity").
public enum FleetgateVersion {
    public static let version = "0.1.0"

    /// "fleetgate-agent 0.1.0": what `--version` prints for the executable `name`.
    public static func line(for name: String) -> String { "\(name) \(version)" }

    /// True when the arguments ask for the version (`--version` anywhere before a `--`), so an
    /// executable can answer before parsing anything else (no config is read, no port bound).
    public static func isRequested(_ arguments: [String]) -> Bool {
        for a in arguments {
            if a == "--" { return false }
            if a == "--version" { return true }
        }
        return false
    }
}
