import Yams

/// Typed access to YAML nodes, turning every mismatch into a ConfigError at the node's line.
public struct NodeReader {
    public let file: String

    public init(file: String) { self.file = file }

    public func error(_ node: Node, key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: node.mark?.line, key: key, message: message)
    }

    public func unknown(_ node: Node, key: String, known: [String]) -> ConfigError {
        error(node, key: key, "unknown key (known here: \(known.joined(separator: ", ")))")
    }

    public func mapping(_ node: Node, key: String) throws(ConfigError) -> [(String, Node)] {
        guard case .mapping(let m) = node else { throw error(node, key: key, "expected a mapping of key: value") }
        var seen = Set<String>()
        var out: [(String, Node)] = []
        for (k, v) in m {
            guard let name = k.scalar?.string else { throw error(k, key: key, "keys must be plain strings") }
            guard seen.insert(name).inserted else { throw error(k, key: name, "key given twice") }
            out.append((name, v))
        }
        return out
    }

    public func sequence(_ node: Node, key: String) throws(ConfigError) -> [Node] {
        guard case .sequence(let s) = node else { throw error(node, key: key, "expected a list") }
        return Array(s)
    }

    public func string(_ node: Node, key: String) throws(ConfigError) -> String {
        guard let s = node.scalar?.string else { throw error(node, key: key, "expected a string") }
        return s
    }

    public func nonEmptyString(_ node: Node, key: String) throws(ConfigError) -> String {
        guard let s = node.scalar?.string, !s.isEmpty else { throw error(node, key: key, "expected a non-empty string") }
        return s
    }

    public func integer<T: FixedWidthInteger>(_ node: Node, key: String, _ range: ClosedRange<T>) throws(ConfigError) -> T {
        guard let s = node.scalar?.string, let v = Int64(s) else { throw error(node, key: key, "expected a whole number") }
        guard v >= Int64(range.lowerBound), v <= Int64(range.upperBound), let t = T(exactly: v) else {
            throw error(node, key: key, "must be in \(range.lowerBound)...\(range.upperBound), got \(s)")
        }
        return t
    }

    public func bool(_ node: Node, key: String) throws(ConfigError) -> Bool {
        switch node.scalar?.string {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error(node, key: key, "expected true or false")
        }
    }

    public func strings(_ node: Node, key: String) throws(ConfigError) -> [String] {
        try sequence(node, key: key).enumerated().map { (i, n) throws(ConfigError) in try string(n, key: "\(key)[\(i)]") }
    }

    public func choice<E: RawRepresentable & CaseIterable>(_ node: Node, key: String, _ type: E.Type) throws(ConfigError) -> E where E.RawValue == String {
        let s = try string(node, key: key)
        guard let v = E(rawValue: s) else {
            throw error(node, key: key, "expected one of \(E.allCases.map(\.rawValue).joined(separator: ", ")), got '\(s)'")
        }
        return v
    }
}
