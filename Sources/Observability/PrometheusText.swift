/// A metric family in the Prometheus text exposition format 0.0.4: one HELP and one TYPE line,
/// then its samples. Counters are named `..._total` (OpenMetrics' rule, kept in 0.0.4 output so
/// both parsers read the same names).
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable { case counter, gauge }

    public struct Sample: Sendable {
        public var labels: [(String, String)]
        public var value: MetricValue
        public init(_ labels: [(String, String)] = [], _ value: MetricValue) { self.labels = labels; self.value = value }
    }

    public let name: String
    public let kind: Kind
    public let help: String
    public var samples: [Sample]

    /// A family of one sample without labels.
    public init(_ name: String, _ kind: Kind, help: String, _ value: MetricValue) {
        self.init(name, kind, help: help, samples: [Sample([], value)])
    }

    public init(_ name: String, _ kind: Kind, help: String, samples: [Sample]) {
        precondition(PrometheusText.isValidMetricName(name), "bad metric name \(name)")
        precondition(kind != .counter || name.hasSuffix("_total"), "counter \(name) must end in _total")
        for s in samples { for (l, _) in s.labels { precondition(PrometheusText.isValidLabelName(l), "bad label \(l) on \(name)") } }
        self.name = name; self.kind = kind; self.help = help; self.samples = samples
    }
}

/// A sample's value: integers are written exactly (a UInt64 counter past 2^53 keeps its digits).
public enum MetricValue: Sendable, Equatable {
    case integer(Int64)
    case unsigned(UInt64)
    case real(Double)

    var text: String {
        switch self {
        case .integer(let v): return String(v)
        case .unsigned(let v): return String(v)
        case .real(let v):
            if v.isNaN { return "NaN" }
            if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
            return "\(v)"
        }
    }
}

extension MetricValue: ExpressibleByIntegerLiteral {
    public init(integerLiteral value: Int64) { self = .integer(value) }
}

public enum PrometheusText {
    /// The exposition of `families`, in the order given (names must be unique).
    public static func render(_ families: [MetricFamily]) -> String {
        var out = ""
        out.reserveCapacity(families.count * 160)
        for f in families {
            out += "# HELP \(f.name) \(escapeHelp(f.help))\n# TYPE \(f.name) \(f.kind.rawValue)\n"
            for s in f.samples {
                out += f.name
                if !s.labels.isEmpty {
                    out += "{" + s.labels.map { "\($0.0)=\"\(escapeLabelValue($0.1))\"" }.joined(separator: ",") + "}"
                }
                out += " " + s.value.text + "\n"
            }
        }
        return out
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`
    public static func isValidMetricName(_ s: String) -> Bool {
        guard let first = s.utf8.first, isLetter(first) || first == 0x5F || first == 0x3A else { return false }
        return s.utf8.allSatisfy { isLetter($0) || isDigit($0) || $0 == 0x5F || $0 == 0x3A }
    }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved for Prometheus itself).
    public static func isValidLabelName(_ s: String) -> Bool {
        guard let first = s.utf8.first, isLetter(first) || first == 0x5F, !s.hasPrefix("__") else { return false }
        return s.utf8.allSatisfy { isLetter($0) || isDigit($0) || $0 == 0x5F }
    }

    /// HELP text: backslash and line feed escaped.
    static func escapeHelp(_ s: String) -> String { escape(s, quote: false) }
    /// Label values: backslash, double quote and line feed escaped.
    static func escapeLabelValue(_ s: String) -> String { escape(s, quote: true) }

    private static func escape(_ s: String, quote: Bool) -> String {
        guard s.utf8.contains(where: { $0 == 0x5C || $0 == 0x0A || (quote && $0 == 0x22) }) else { return s }
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\"" where quote: out += "\\\""
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    private static func isLetter(_ b: UInt8) -> Bool { (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) }
    private static func isDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }
}
