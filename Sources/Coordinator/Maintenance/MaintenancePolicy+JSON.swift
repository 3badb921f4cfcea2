import Foundation

/// The policy from a request body as JSONSerialization gives it (the admin API's way of reading
/// bodies: `AdminAPI.jsonObject`). Unknown keys are refused, as everywhere in the API: a typo must
/// not fall back to a default. Keys left out take their defaults.
extension MaintenancePolicy {
    public init(json object: Any, field: String = "policy") throws(MaintenancePolicyError) {
        let fields = try Self.object(object, field: field, known: Self.fieldNames)
        self.init()
        if let v = fields["max_concurrent"] { maxConcurrent = try MaintenanceAmount.parse(v, field: "\(field).max_concurrent", minimumCount: 1) }
        if let v = fields["min_active"] { minActive = try MaintenanceAmount.parse(v, field: "\(field).min_active", minimumCount: 0) }
        if let v = fields["max_errors"] { maxErrors = try MaintenanceAmount.parse(v, field: "\(field).max_errors", minimumCount: 0) }
        if let v = fields["cutoff_s"] { cutoffSeconds = try Self.integer(v, field: "\(field).cutoff_s", in: 0...86_400) }
        if let v = fields["windows"] {
            guard let list = v as? [Any] else { throw MaintenancePolicyError(field: "\(field).windows", problem: "must be a list of windows") }
            guard list.count <= 64 else { throw MaintenancePolicyError(field: "\(field).windows", problem: "at most 64 windows") }
            windows = try list.enumerated().map { (i, w) throws(MaintenancePolicyError) in try MaintenanceWindow(json: w, field: "\(field).windows[\(i)]") }
        }
        if let v = fields["drain"] {
            let drainFields = try Self.object(v, field: "\(field).drain", known: ["deadline_s", "rate"])
            if let d = drainFields["deadline_s"] { drain.deadlineSeconds = try Self.integer(d, field: "\(field).drain.deadline_s", in: 1...86_400) }
            if let r = drainFields["rate"] { drain.rate = try Self.number(r, field: "\(field).drain.rate", in: 1...1_000_000) }
        }
        if let v = fields["verify"] {
            let verifyFields = try Self.object(v, field: "\(field).verify", known: ["healthy_s"])
            if let h = verifyFields["healthy_s"] { verify.healthySeconds = try Self.integer(h, field: "\(field).verify.healthy_s", in: 0...86_400) }
        }
    }

    /// The policy in its JSON shape, for `GET /v1/maintenance/policies/{name}` and for storage.
    public func jsonData() throws -> Data {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return try e.encode(self)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MaintenancePolicy()
        maxConcurrent = try c.decodeIfPresent(MaintenanceAmount.self, forKey: .maxConcurrent) ?? d.maxConcurrent
        minActive = try c.decodeIfPresent(MaintenanceAmount.self, forKey: .minActive) ?? d.minActive
        windows = try c.decodeIfPresent([MaintenanceWindow].self, forKey: .windows) ?? d.windows
        cutoffSeconds = try c.decodeIfPresent(Int.self, forKey: .cutoffSeconds) ?? d.cutoffSeconds
        maxErrors = try c.decodeIfPresent(MaintenanceAmount.self, forKey: .maxErrors) ?? d.maxErrors
        drain = try c.decodeIfPresent(Drain.self, forKey: .drain) ?? d.drain
        verify = try c.decodeIfPresent(Verify.self, forKey: .verify) ?? d.verify
    }

    // MARK: Field readers shared by the policy and its windows

    static func object(_ value: Any, field: String, known: [String]) throws(MaintenancePolicyError) -> [String: Any] {
        guard let object = value as? [String: Any] else { throw MaintenancePolicyError(field: field, problem: "must be a JSON object") }
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw MaintenancePolicyError(field: "\(field).\(unknown)", problem: "unknown field (known: \(known.sorted().joined(separator: ", ")))")
        }
        return object
    }

    /// A JSON number, not true or false. `value is Bool` is no test: on Linux the numbers 0 and 1
    /// from JSONSerialization pass it too; a boolean is the NSNumber whose type is `c`.
    static func jsonNumber(_ value: Any) -> NSNumber? {
        guard let n = value as? NSNumber, String(cString: n.objCType) != "c" else { return nil }
        return n
    }

    /// A JSON number that is a whole number in `range`.
    static func integer(_ value: Any, field: String, in range: ClosedRange<Int>) throws(MaintenancePolicyError) -> Int {
        guard let n = jsonNumber(value), let i = Int(exactly: n.doubleValue), range.contains(i) else {
            throw MaintenancePolicyError(field: field, problem: "must be a whole number in \(range.lowerBound)...\(range.upperBound)")
        }
        return i
    }

    static func number(_ value: Any, field: String, in range: ClosedRange<Double>) throws(MaintenancePolicyError) -> Double {
        guard let n = jsonNumber(value), n.doubleValue.isFinite, range.contains(n.doubleValue) else {
            throw MaintenancePolicyError(field: field, problem: "must be a number in \(Int(range.lowerBound))...\(Int(range.upperBound))")
        }
        return n.doubleValue
    }

    static func string(_ value: Any, field: String) throws(MaintenancePolicyError) -> String {
        guard let s = value as? String else { throw MaintenancePolicyError(field: field, problem: "must be a string") }
        return s
    }
}

extension MaintenanceAmount {
    /// A count (a whole number, at least `minimumCount`) or a percentage string ("25%", 0-100).
    static func parse(_ value: Any, field: String, minimumCount: Int) throws(MaintenancePolicyError) -> MaintenanceAmount {
        if let s = value as? String {
            guard s.hasSuffix("%"), let p = Double(s.dropLast().trimmingCharacters(in: .whitespaces)), p.isFinite,
                  p >= 0, p <= 100, !(minimumCount > 0 && p == 0) else {
                throw MaintenancePolicyError(field: field, problem: "a percentage must look like \"25%\", \(minimumCount > 0 ? "above 0" : "0") to 100")
            }
            return .percent(p)
        }
        guard let n = MaintenancePolicy.jsonNumber(value), let i = Int(exactly: n.doubleValue), (minimumCount...100_000).contains(i) else {
            throw MaintenancePolicyError(field: field, problem: "must be a count (\(minimumCount) to 100000) or a percentage like \"25%\"")
        }
        return .count(i)
    }
}
