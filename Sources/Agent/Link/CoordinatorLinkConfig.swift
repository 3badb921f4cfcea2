import FleetConfig
import FleetProtocol
import FleetRuntime
import Foundation

/// How this agent joins the fabric: the `coordinator:` section of the config file and the
/// `--gateway-id`, `--coordinator`, `--token-file`, `--advertise` flags (flags win).
/// nil in `AgentConfig.coordinator` = a stand-alone broker with no link.
public struct CoordinatorLinkConfig: Sendable, Equatable {
    /// The coordinator's agent port, "HOST:PORT" (IPv6 in brackets).
    public var address: ListenAddress?
    /// File holding the HELLO auth token (surrounding whitespace trimmed); must exist and not be empty.
    public var tokenFile: String?
    /// This gateway's id, unique in the fleet (1-128 bytes).
    public var gatewayId: String?
    /// "host:port" devices are redirected to; nil = the first MQTT listener's bound address.
    public var advertise: String?
    public var region: String = ""
    public var labels: [String: String] = [:]
    /// Relative capacity weight sent in HELLO; 0 = take no migrated clients.
    public var capacity: UInt32 = 1
    /// Reconnect backoff: the first delay, doubled per failed attempt up to the maximum, with
    /// jitter (each delay is drawn from [d/2, d]).
    public var reconnectMinMs: UInt32 = 250
    public var reconnectMaxMs: UInt32 = 30_000
    /// QoS >= 1 forwards kept until the coordinator confirms them (`LinkLimits.maxUnacked`): at
    /// the bound, the publisher that reached it is not read until confirmations free half.
    public var maxUnconfirmedForwards: Int = LinkLimits().maxUnacked
    /// TLS to the coordinator (`coordinator.tls:`): the CA its certificate must chain to (set =
    /// TLS on), this gateway's certificate and key for mutual TLS (the certificate names the
    /// gateway id: CN or DNS SAN), and the name to verify (default: the address's host).
    public var tlsCAFile: String?
    public var tlsCertificateFile: String?
    public var tlsKeyFile: String?
    public var tlsServerName: String?

    public init() {}

    /// Every required field is present and within the protocol's limits (called once the file and
    /// the flags are applied). `file` is the config file, for the error.
    public func validate(file: String?) throws(ConfigError) { _ = try resolved(file: file) }

    /// The validated settings the link runs with, token read from its file.
    func resolved(file: String?) throws(ConfigError) -> LinkSettings {
        func fail(_ key: String, _ message: String) -> ConfigError { ConfigError(file: file, line: nil, key: key, message: message) }
        guard let address else { throw fail("coordinator.address", "required when a coordinator is configured (or --coordinator HOST:PORT)") }
        guard let id = gatewayId, !id.isEmpty else { throw fail("coordinator.gateway_id", "required when a coordinator is configured (or --gateway-id ID)") }
        guard id.utf8.count <= FleetLimits.maxIdentifierBytes else { throw fail("coordinator.gateway_id", "longer than \(FleetLimits.maxIdentifierBytes) bytes") }
        guard let tokenFile else { throw fail("coordinator.token_file", "required when a coordinator is configured (or --token-file FILE)") }
        let token = try Self.readToken(tokenFile, key: "coordinator.token_file", file: file)
        if let a = advertise, a.utf8.count > FleetLimits.maxAddressBytes { throw fail("coordinator.advertise", "longer than \(FleetLimits.maxAddressBytes) bytes") }
        if let a = advertise, AdvertisedAddress.isWildcard(a) {
            throw fail("coordinator.advertise", "\(a) is a wildcard address: devices a connection migration redirects here (MQTT 5 Server Reference) could not reach it; give the address they connect to")
        }
        guard region.utf8.count <= FleetLimits.maxShortStringBytes else { throw fail("coordinator.region", "longer than \(FleetLimits.maxShortStringBytes) bytes") }
        guard labels.count <= FleetLimits.maxLabels else { throw fail("coordinator.labels", "more than \(FleetLimits.maxLabels) labels") }
        for (k, v) in labels {
            guard !k.isEmpty, k.utf8.count <= FleetLimits.maxShortStringBytes else { throw fail("coordinator.labels.\(k)", "label keys are 1-\(FleetLimits.maxShortStringBytes) bytes") }
            guard v.utf8.count <= FleetLimits.maxLabelValueBytes else { throw fail("coordinator.labels.\(k)", "longer than \(FleetLimits.maxLabelValueBytes) bytes") }
        }
        guard reconnectMinMs >= 1, reconnectMinMs <= reconnectMaxMs else {
            throw fail("coordinator.reconnect_min_ms", "must be 1...reconnect_max_ms (\(reconnectMaxMs))")
        }
        return LinkSettings(gatewayId: id, token: token, coordinator: address, advertise: advertise, region: region,
                            labels: labels.sorted { $0.key < $1.key }.map { FleetFrame.Label($0.key, $0.value) },
                            capacity: capacity, backoff: Backoff(minMs: UInt64(reconnectMinMs), maxMs: UInt64(reconnectMaxMs)),
                            tls: try resolvedTLS(host: address.host, fail: fail))
    }

    /// nil = plain TCP. Any TLS key needs the CA (an unverified coordinator would be handed the
    /// token); certificate and key go together.
    private func resolvedTLS(host: String, fail: (String, String) -> ConfigError) throws(ConfigError) -> LinkTLSSettings? {
        guard tlsCAFile != nil || tlsCertificateFile != nil || tlsKeyFile != nil || tlsServerName != nil else { return nil }
        guard let tlsCAFile else { throw fail("coordinator.tls.ca", "required for TLS to the coordinator (the CA its certificate chains to)") }
        guard (tlsCertificateFile == nil) == (tlsKeyFile == nil) else {
            throw fail(tlsCertificateFile == nil ? "coordinator.tls.cert" : "coordinator.tls.key", "cert and key go together (mutual TLS)")
        }
        var client = TLSClientConfiguration(caFile: tlsCAFile)
        client.certificateChainFile = tlsCertificateFile
        client.privateKeyFile = tlsKeyFile
        return LinkTLSSettings(client: client, serverName: tlsServerName ?? host)
    }

    /// The token bytes of `path`, trimmed of surrounding whitespace; a ConfigError naming `key`
    /// when the file is missing, unreadable, empty or over the protocol's limit.
    public static func readToken(_ path: String, key: String, file: String?, line: Int? = nil) throws(ConfigError) -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(file: file, line: line, key: key, message: "cannot read the token file '\(path)'")
        }
        let token = Array(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8)
        guard !token.isEmpty else { throw ConfigError(file: file, line: line, key: key, message: "the token file '\(path)' is empty") }
        guard token.count <= FleetLimits.maxTokenBytes else {
            throw ConfigError(file: file, line: line, key: key, message: "the token in '\(path)' is longer than \(FleetLimits.maxTokenBytes) bytes")
        }
        return token
    }
}
