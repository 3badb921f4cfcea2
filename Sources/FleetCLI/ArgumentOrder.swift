/// `fleetgate --json gateways list` as well as `fleetgate gateways list --json`: argument-parser
/// only accepts a subcommand's options after its name, so the global options written before
/// the noun are moved behind the words. Pure.
public enum ArgumentOrder {
    /// Global options that take a value, and the one flag.
    static let valued: Set<String> = ["--coordinator", "--token-file", "--timeout"]
    static let flags: Set<String> = ["--json"]

    public static func hoistGlobalOptions(_ arguments: [String]) -> [String] {
        var moved: [String] = []
        var i = 0
        while i < arguments.count {
            let a = arguments[i]
            let name = a.split(separator: "=", maxSplits: 1).first.map(String.init) ?? a
            if flags.contains(a) {
                moved.append(a)
                i += 1
            } else if valued.contains(name) {
                if a.contains("=") {
                    moved.append(a)
                    i += 1
                } else {
                    // A value-less option at the end is left for argument-parser to report.
                    moved.append(contentsOf: arguments[i..<min(i + 2, arguments.count)])
                    i += 2
                }
            } else {
                break  // the noun, --help, --version, or anything else: the rest stays in order
            }
        }
        guard !moved.isEmpty else { return arguments }
        var rest = Array(arguments[min(i, arguments.count)...])
        // Behind `--` everything is positional: keep the options before it.
        if let end = rest.firstIndex(of: "--") {
            rest.insert(contentsOf: moved, at: end)
            return rest
        }
        return rest + moved
    }
}
