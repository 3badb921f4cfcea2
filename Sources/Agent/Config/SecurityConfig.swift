import FleetCore

/// TLS for the `mqtts` listeners (flags `--tls-*` or the `tls:` section).
public struct TLSSettings: Sendable, Equatable {
    public enum ClientAuth: String, Sendable, CaseIterable { case none, optional, required }
    public var certificateFile: String
    public var keyFile: String
    public var caFile: String?
    public var clientAuth: ClientAuth = .none
    public var minimumVersion: String = "1.2"
    public var ciphers: String?
    public var cipherSuites: String?
    public var alpn: [String] = ["mqtt", "x-amzn-mqtt-ca"]
    public var handshakeTimeoutMs: UInt64 = 10_000
    public var maxConcurrentHandshakes: Int = 1_000

    public init(certificateFile: String, keyFile: String) { self.certificateFile = certificateFile; self.keyFile = keyFile }
}

/// Who may connect, and as whom.
public struct AuthSettings: Sendable, Equatable {
    /// Which certificate field names the device under mutual TLS (AWS IoT and EMQX use the CN).
    public enum IdentityField: String, Sendable, CaseIterable { case cn, san_dns, san_uri, san_email }
    /// Off by default: only `make run`'s development profile turns it on.
    public var allowAnonymous = false
    /// mosquitto-style `user:$pbkdf2-sha512$...` lines, managed with `fleetgate-agent passwd`.
    public var passwordFile: String?
    public var identityField: IdentityField = .cn
    /// AWS IoT's thing-name rule: the MQTT client id must equal the certificate identity.
    public var clientIdMustMatchIdentity = false

    public init() {}
}

import FleetRuntime

extension TLSSettings {
    var runtimeConfiguration: TLSConfiguration {
        var c = TLSConfiguration(certificateChainFile: certificateFile, privateKeyFile: keyFile)
        c.caFile = caFile
        c.clientAuth = TLSConfiguration.ClientAuth(rawValue: clientAuth.rawValue) ?? .none
        c.minimumVersion = minimumVersion == "1.3" ? .tls13 : .tls12
        c.ciphers = ciphers
        c.cipherSuites = cipherSuites
        c.alpn = alpn
        c.handshakeTimeoutMs = handshakeTimeoutMs
        c.maxConcurrentHandshakes = maxConcurrentHandshakes
        return c
    }
}
