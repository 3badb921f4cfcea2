/// How a maintenance run may take gateways out (issue #13; DESIGN.md §3 "Maintenance"): the
/// `policy` of `POST /v1/maintenance` and of `PUT /v1/maintenance/policies/{name}`. Pure value;
/// `MaintenancePolicy(json:)` names the first invalid field, so the API can answer 400 with it.
///
/// Its Codable form is the API's JSON shape (counts as numbers, percentages as "25%"), so a stored
/// run reads back the policy it was created with.
public struct MaintenancePolicy: Sendable, Equatable, Codable {
    /// Gateways out at once (draining through verifying), of the run's gateways. Default 1: an
    /// operator who states nothing gets the most careful run.
    public var maxConcurrent = MaintenanceAmount.count(1)
    /// Per region: gateways that must stay up and taking clients, of all the region's gateways
    /// (not only the run's), as Kubernetes' PodDisruptionBudget `minAvailable`.
    public var minActive = MaintenanceAmount.count(0)
    /// When hosts may start; none means always.
    public var windows: [MaintenanceWindow] = []
    /// Start nothing this close to the end of a window (SSM Maintenance Windows' cutoff).
    public var cutoffSeconds = 0
    /// Failed hosts the run tolerates: `max_errors: N` lets N fail, the next failure stops the run
    /// (SSM's MaxErrors). Default 0: the first failure stops it.
    public var maxErrors = MaintenanceAmount.count(0)
    public var drain = Drain()
    public var verify = Verify()

    /// The drain that empties a gateway before its operation (connection migration's drain).
    public struct Drain: Sendable, Equatable, Codable {
        /// After this long the operation runs even if clients are left (Nomad's drain deadline).
        public var deadlineSeconds = 300
        /// Clients moved per second (the default of `POST /v1/gateways/{id}/drain`).
        public var rate = 500.0
        public init(deadlineSeconds: Int = 300, rate: Double = 500) {
            self.deadlineSeconds = deadlineSeconds
            self.rate = rate
        }
        enum CodingKeys: String, CodingKey {
            case deadlineSeconds = "deadline_s"
            case rate
        }
    }

    /// What "came back fine" means: healthy for this long after rejoining, else the host failed.
    public struct Verify: Sendable, Equatable, Codable {
        public var healthySeconds = 60
        public init(healthySeconds: Int = 60) { self.healthySeconds = healthySeconds }
        enum CodingKeys: String, CodingKey { case healthySeconds = "healthy_s" }
    }

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case maxConcurrent = "max_concurrent"
        case minActive = "min_active"
        case windows
        case cutoffSeconds = "cutoff_s"
        case maxErrors = "max_errors"
        case drain, verify
    }

    /// Every key of the policy's JSON form.
    public static let fieldNames: [String] = CodingKeys.allCases.map(\.rawValue)

    /// The windows as one schedule (always open when there are none).
    public var openHours: MaintenanceWindows { MaintenanceWindows(windows) }

    // MARK: The policy applied to a fleet

    /// Hosts out at once for a run of `hosts` gateways: a percentage rounds down but never below
    /// one, or the run could never start.
    public func maxConcurrent(ofHosts hosts: Int) -> Int { max(1, maxConcurrent.resolved(of: hosts, roundingUp: false)) }

    /// Gateways that must stay active in a region of `gateways`: a percentage rounds up (the
    /// careful side, as PodDisruptionBudget does).
    public func minActive(ofRegionGateways gateways: Int) -> Int { minActive.resolved(of: gateways, roundingUp: true) }

    /// Failures tolerated in a run of `hosts`: a percentage rounds down (the careful side).
    public func maxErrors(ofHosts hosts: Int) -> Int { maxErrors.resolved(of: hosts, roundingUp: false) }
}

/// A count, or a percentage of a whole that is known only when the policy is applied.
public enum MaintenanceAmount: Sendable, Equatable, Codable, CustomStringConvertible {
    case count(Int)
    /// 0...100.
    case percent(Double)

    public func resolved(of whole: Int, roundingUp: Bool) -> Int {
        switch self {
        case .count(let n): return n
        case .percent(let p):
            let exact = p * Double(whole) / 100
            // 1e-9 absorbs binary noise (10% of 30 is 3, not 3.0000000000000004 rounded up to 4).
            return Int(roundingUp ? (exact - 1e-9).rounded(.up) : (exact + 1e-9).rounded(.down))
        }
    }

    public var description: String {
        switch self {
        case .count(let n): return "\(n)"
        case .percent(let p): return p == p.rounded() ? "\(Int(p))%" : "\(p)%"
        }
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        let raw: Any = (try? c.decode(Int.self)) ?? (try? c.decode(String.self)) ?? ()
        let field = decoder.codingPath.map(\.stringValue).joined(separator: ".")
        do {
            self = try MaintenanceAmount.parse(raw, field: field, minimumCount: 0)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.problem))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .count(let n): try c.encode(n)
        case .percent: try c.encode(description)
        }
    }
}

/// An invalid policy: `field` is its path in the request body (`policy.windows[0].timezone`).
public struct MaintenancePolicyError: Error, Equatable, Sendable, CustomStringConvertible {
    public let field: String
    public let problem: String
    public init(field: String, problem: String) {
        self.field = field
        self.problem = problem
    }
    public var description: String { "\(field): \(problem)" }
}
