import FleetProtocol

/// When a device's connection moves to another gateway (issue #12): the `migration:` section of
/// the config file and `PUT /v1/migration/policy`. Pure value; `problems()` names every invalid field.
public struct MigrationPolicy: Sendable, Equatable, Codable {
    public enum Mode: String, Sendable, Codable, CaseIterable {
        /// MQTT 5 DISCONNECT 0x9C with a Server Reference.
        case redirect
        /// The source keeps the device's connection and relays its bytes to the target.
        case relay
        /// Redirect for MQTT 5, relay for 3.1.1.
        case auto

        /// The same choice as MIGRATE carries it (Protocol/agent-coordinator.md §5.14).
        public var wire: MigrationMode {
            switch self {
            case .redirect: .redirect
            case .relay: .relay
            case .auto: .auto
            }
        }
    }

    /// Off: throughput decides nothing (operator moves and drains still work).
    public var enabled = false
    /// A client above either threshold for `sustainSeconds` is moved (nil = not used).
    public var thresholdMsgsPerSecond: Double?
    public var thresholdBytesPerSecond: Double?
    public var sustainSeconds: Double = 10
    /// Hysteresis: below `threshold × releaseRatio` a client is calm again; between the two its
    /// sustain timer neither starts nor resets.
    public var releaseRatio: Double = 0.8
    /// A moved client is not moved again (for throughput) for this long: no ping-pong.
    public var cooldownSeconds: Double = 300
    /// Migrations in progress fleet-wide.
    public var maxConcurrent = 10
    /// A gateway above this (messages in per second) moves its top talkers first, and no client is
    /// moved to a gateway it would push above it.
    public var gatewayMaxMsgsPerSecond: Double?
    public var mode = Mode.auto

    public init() {}

    enum CodingKeys: String, CodingKey {
        case enabled, mode
        case thresholdMsgsPerSecond = "threshold_msgs_per_s"
        case thresholdBytesPerSecond = "threshold_bytes_per_s"
        case sustainSeconds = "sustain_s"
        case releaseRatio = "release_ratio"
        case cooldownSeconds = "cooldown_s"
        case maxConcurrent = "max_concurrent"
        case gatewayMaxMsgsPerSecond = "gateway_max_msgs_per_s"
    }

    /// Every key of the policy's JSON and YAML form.
    public static let fieldNames: Set<String> = ["enabled", "threshold_msgs_per_s", "threshold_bytes_per_s", "sustain_s", "release_ratio",
                                                 "cooldown_s", "max_concurrent", "gateway_max_msgs_per_s", "mode"]

    /// Keys left out take their defaults: a PUT states a whole policy.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = MigrationPolicy()
        enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? d.enabled
        thresholdMsgsPerSecond = try c.decodeIfPresent(Double.self, forKey: .thresholdMsgsPerSecond)
        thresholdBytesPerSecond = try c.decodeIfPresent(Double.self, forKey: .thresholdBytesPerSecond)
        sustainSeconds = try c.decodeIfPresent(Double.self, forKey: .sustainSeconds) ?? d.sustainSeconds
        releaseRatio = try c.decodeIfPresent(Double.self, forKey: .releaseRatio) ?? d.releaseRatio
        cooldownSeconds = try c.decodeIfPresent(Double.self, forKey: .cooldownSeconds) ?? d.cooldownSeconds
        maxConcurrent = try c.decodeIfPresent(Int.self, forKey: .maxConcurrent) ?? d.maxConcurrent
        gatewayMaxMsgsPerSecond = try c.decodeIfPresent(Double.self, forKey: .gatewayMaxMsgsPerSecond)
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? d.mode
    }

    /// (field, problem) for every value out of range; empty when the policy is usable.
    public func problems() -> [(field: String, problem: String)] {
        var out: [(String, String)] = []
        func positive(_ v: Double?, _ field: String) {
            if let v, !(v.isFinite && v > 0) { out.append((field, "must be a positive number")) }
        }
        positive(thresholdMsgsPerSecond, "threshold_msgs_per_s")
        positive(thresholdBytesPerSecond, "threshold_bytes_per_s")
        positive(gatewayMaxMsgsPerSecond, "gateway_max_msgs_per_s")
        if !(sustainSeconds.isFinite && sustainSeconds >= 0 && sustainSeconds <= 86_400) { out.append(("sustain_s", "must be in 0...86400")) }
        if !(releaseRatio.isFinite && releaseRatio > 0 && releaseRatio <= 1) { out.append(("release_ratio", "must be in (0, 1]")) }
        if !(cooldownSeconds.isFinite && cooldownSeconds >= 0 && cooldownSeconds <= 7 * 86_400) { out.append(("cooldown_s", "must be in 0...604800")) }
        if !(1...100_000).contains(maxConcurrent) { out.append(("max_concurrent", "must be in 1...100000")) }
        if enabled && thresholdMsgsPerSecond == nil && thresholdBytesPerSecond == nil && gatewayMaxMsgsPerSecond == nil {
            out.append(("enabled", "needs threshold_msgs_per_s, threshold_bytes_per_s or gateway_max_msgs_per_s"))
        }
        return out
    }
}
