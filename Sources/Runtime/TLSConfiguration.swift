/// Server-side TLS settings (the broker's `tls:` listener block). Plain values; ``TLSContext``
/// turns them into an SSL_CTX.
public struct TLSConfiguration: Sendable, Equatable {
    public enum ClientAuth: String, Sendable {
        /// Do not request a client certificate.
        case none
        /// Request one; verify it if given (a bad one fails the handshake); accept without.
        case optional
        /// SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT.
        case required
    }

    public enum Version: String, Sendable {
        case tls12 = "1.2", tls13 = "1.3"
    }

    public var certificateChainFile: String
    public var privateKeyFile: String
    /// CA certificates (PEM) that client certificates must chain to. Required unless clientAuth is none.
    public var caFile: String?
    public var clientAuth: ClientAuth = .none
    public var minimumVersion: Version = .tls12
    /// TLS 1.2 cipher list (OpenSSL syntax); nil = OpenSSL's default.
    public var ciphers: String?
    /// TLS 1.3 suites ("TLS_AES_128_GCM_SHA256:..."); nil = OpenSSL's default.
    public var cipherSuites: String?
    /// Protocols we accept, checked in the client's order; a client offering none of them still
    /// connects, without ALPN.
    public var alpn: [String] = ["mqtt", "x-amzn-mqtt-ca"]
    /// A stream still handshaking after this long is closed ("handshake timeout").
    public var handshakeTimeoutMs: UInt64 = 10_000
    /// New sockets beyond this many concurrent handshakes are closed at once.
    public var maxConcurrentHandshakes: Int = 1_000

    public init(certificateChainFile: String, privateKeyFile: String) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
    }
}

/// Client-side TLS settings (the coordinator link; tests).
public struct TLSClientConfiguration: Sendable, Equatable {
    /// CA certificates (PEM) that the server must chain to; nil = the system's default paths.
    public var caFile: String?
    /// Our certificate for mutual TLS (both or neither with `privateKeyFile`).
    public var certificateChainFile: String?
    public var privateKeyFile: String?
    /// Verify the server certificate and its name (`serverName` of `connect`). Tests only turn it off.
    public var verifyServer = true
    public var minimumVersion: TLSConfiguration.Version = .tls12
    /// nil = the newest OpenSSL supports.
    public var maximumVersion: TLSConfiguration.Version?
    public var ciphers: String?
    public var cipherSuites: String?
    /// Protocols offered, in preference order; empty = no ALPN extension.
    public var alpn: [String] = []
    public var handshakeTimeoutMs: UInt64 = 10_000

    public init(caFile: String? = nil) {
        self.caFile = caFile
    }
}

/// What the handshake negotiated.
public struct TLSSessionInfo: Sendable, Equatable {
    /// "TLSv1.3", "TLSv1.2".
    public var protocolVersion: String
    /// "TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES128-GCM-SHA256", ...
    public var cipher: String
    public var alpn: String?
    /// The SNI name the client sent (server side; log it). On the client: the name we sent.
    public var serverName: String?
    /// Server side: the verified client certificate, if any. Client side: the server's.
    public var peerCertificate: PeerCertificate?
}

public struct PeerCertificate: Sendable, Equatable {
    public var subjectCommonName: String?
    /// subjectAltName entries.
    public var dnsNames: [String]
    public var uris: [String]
    public var emails: [String]
    public var notAfterEpochSeconds: Int64
    /// SHA-256 of the DER certificate, lowercase hex without separators.
    public var sha256Fingerprint: String
}
