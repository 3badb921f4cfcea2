import Yams

/// Parses config text into YAML nodes; a syntax error becomes a ConfigError at its line.
/// Shared by the agent and the coordinator so both report bad files the same way.
public enum YAMLConfig {
    /// nil for an empty document (a valid, empty config).
    public static func compose(_ text: String, file: String) throws(ConfigError) -> Node? {
        do { return try Yams.compose(yaml: text) } catch let error as YamlError {
            throw ConfigError(file: file, line: line(of: error), key: "(syntax)", message: problem(of: error))
        } catch {
            throw ConfigError(file: file, line: nil, key: "(syntax)", message: "\(error)")
        }
    }

    private static func line(of e: YamlError) -> Int? {
        switch e {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): return mark.line
        case .duplicatedKeysInMapping(_, let context): return context.mark.line
        default: return nil
        }
    }

    private static func problem(of e: YamlError) -> String {
        switch e {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _): return "YAML: \(problem)"
        case .duplicatedKeysInMapping(let keys, _): return "duplicated key(s) \(keys.joined(separator: ", "))"
        default: return "YAML: \(e)"
        }
    }
}
