internal import COpenSSL
internal import Glibc

/// Owns one SSL_CTX reference and what its callbacks read (the ALPN list). Every ``TLSStream``
/// holds the box it was created from, so the callbacks' data outlives each SSL using the SSL_CTX,
/// even after a reload replaced the context.
final class SSLContextBox {
    let ctx: OpaquePointer
    /// Protocols the server accepts (ALPN select callback).
    let acceptedALPN: [[UInt8]]
    let isServer: Bool
    /// Client side: verify the server's name.
    let verifyServer: Bool

    init(ctx: OpaquePointer, acceptedALPN: [[UInt8]], isServer: Bool, verifyServer: Bool) {
        self.ctx = ctx
        self.acceptedALPN = acceptedALPN
        self.isServer = isServer
        self.verifyServer = verifyServer
    }

    deinit { SSL_CTX_free(ctx) }

    func accepts(_ protocolName: UnsafeRawBufferPointer) -> Bool {
        acceptedALPN.contains { $0.elementsEqual(protocolName) }
    }
}

/// A server SSL_CTX built from a ``TLSConfiguration``. **Loop-thread only (not Sendable).**
///
/// `reload()` builds a NEW SSL_CTX from the same files (certificate/key rotation on SIGHUP): new
/// handshakes use it, established connections keep theirs (each SSL holds a reference to its
/// SSL_CTX) and are not dropped. A reload that fails throws and keeps the old context.
public final class TLSContext {
    public let configuration: TLSConfiguration
    private(set) var current: SSLContextBox

    public init(_ configuration: TLSConfiguration) throws(TLSError) {
        self.configuration = configuration
        self.current = try Self.makeServerContext(configuration)
    }

    public func reload() throws(TLSError) {
        current = try Self.makeServerContext(configuration)
    }

    static func makeServerContext(_ configuration: TLSConfiguration) throws(TLSError) -> SSLContextBox {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_server_method()) else { throw TLSError.drainingQueue("SSL_CTX_new") }
        let box = SSLContextBox(ctx: ctx, acceptedALPN: configuration.alpn.map { Array($0.utf8) },
                                isServer: true, verifyServer: false)
        try applyCommon(ctx, minimum: configuration.minimumVersion, maximum: nil,
                        ciphers: configuration.ciphers, cipherSuites: configuration.cipherSuites)
        try useCertificate(ctx, chain: configuration.certificateChainFile, key: configuration.privateKeyFile)
        SSL_CTX_set_options(ctx, shim_SSL_OP_CIPHER_SERVER_PREFERENCE())
        // Resumption by stateless tickets only: no per-session memory in a server-side cache.
        shim_SSL_CTX_set_session_cache_mode(ctx, 0)
        let sessionContext: [UInt8] = Array("fleetgate".utf8)
        SSL_CTX_set_session_id_context(ctx, sessionContext, UInt32(sessionContext.count))

        if configuration.clientAuth != .none {
            guard let caFile = configuration.caFile else {
                throw TLSError(message: "clientAuth \(configuration.clientAuth.rawValue) needs caFile")
            }
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                throw TLSError.drainingQueue("SSL_CTX_load_verify_locations(\(caFile))")
            }
            // Tell clients which CAs we accept (CertificateRequest).
            guard let names = SSL_load_client_CA_file(caFile) else {
                throw TLSError.drainingQueue("SSL_load_client_CA_file(\(caFile))")
            }
            SSL_CTX_set_client_CA_list(ctx, names)
            let mode = configuration.clientAuth == .required
                ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT : SSL_VERIFY_PEER
            SSL_CTX_set_verify(ctx, mode, nil)
        } else {
            SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nil)
        }

        // ALPN: the first protocol the client offers that we accept; none -> continue without ALPN.
        // `arg` is the box, unretained: every SSL of this SSL_CTX is owned by a stream that holds it.
        SSL_CTX_set_alpn_select_cb(ctx, { _, out, outLength, offered, offeredLength, arg in
            guard let out, let outLength, let offered, let arg else { return SSL_TLSEXT_ERR_NOACK }
            let box = Unmanaged<SSLContextBox>.fromOpaque(arg).takeUnretainedValue()
            var index = 0
            let total = Int(offeredLength)
            while index < total {
                let length = Int(offered[index])
                let start = index + 1
                guard length > 0, start + length <= total else { break }
                if box.accepts(UnsafeRawBufferPointer(start: offered + start, count: length)) {
                    out.pointee = offered + start
                    outLength.pointee = UInt8(length)
                    return SSL_TLSEXT_ERR_OK
                }
                index = start + length
            }
            return SSL_TLSEXT_ERR_NOACK
        }, Unmanaged.passUnretained(box).toOpaque())
        return box
    }

    /// Versions, ciphers, options and modes shared by server and client contexts.
    static func applyCommon(_ ctx: OpaquePointer, minimum: TLSConfiguration.Version, maximum: TLSConfiguration.Version?,
                            ciphers: String?, cipherSuites: String?) throws(TLSError) {
        guard shim_SSL_CTX_set_min_proto_version(ctx, minimum.openSSLVersion) == 1 else {
            throw TLSError.drainingQueue("SSL_CTX_set_min_proto_version(\(minimum.rawValue))")
        }
        if let maximum, shim_SSL_CTX_set_max_proto_version(ctx, maximum.openSSLVersion) != 1 {
            throw TLSError.drainingQueue("SSL_CTX_set_max_proto_version(\(maximum.rawValue))")
        }
        if let ciphers, SSL_CTX_set_cipher_list(ctx, ciphers) != 1 {
            throw TLSError.drainingQueue("SSL_CTX_set_cipher_list(\(ciphers))")
        }
        if let cipherSuites, SSL_CTX_set_ciphersuites(ctx, cipherSuites) != 1 {
            throw TLSError.drainingQueue("SSL_CTX_set_ciphersuites(\(cipherSuites))")
        }
        SSL_CTX_set_options(ctx, shim_SSL_OP_NO_COMPRESSION() | shim_SSL_OP_NO_RENEGOTIATION())
        // Free OpenSSL's record buffers whenever they are empty: an idle connection holds none.
        shim_SSL_CTX_set_mode(ctx, Int(SSL_MODE_RELEASE_BUFFERS))
    }

    static func useCertificate(_ ctx: OpaquePointer, chain: String, key: String) throws(TLSError) {
        guard SSL_CTX_use_certificate_chain_file(ctx, chain) == 1 else {
            throw TLSError.drainingQueue("SSL_CTX_use_certificate_chain_file(\(chain))")
        }
        guard SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) == 1 else {
            throw TLSError.drainingQueue("SSL_CTX_use_PrivateKey_file(\(key))")
        }
        guard SSL_CTX_check_private_key(ctx) == 1 else {
            throw TLSError.drainingQueue("SSL_CTX_check_private_key(\(chain), \(key))")
        }
    }
}

/// A client SSL_CTX (coordinator link, tests). **Loop-thread only (not Sendable).**
public final class TLSClientContext {
    public let configuration: TLSClientConfiguration
    let box: SSLContextBox

    public init(_ configuration: TLSClientConfiguration) throws(TLSError) {
        self.configuration = configuration
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw TLSError.drainingQueue("SSL_CTX_new") }
        box = SSLContextBox(ctx: ctx, acceptedALPN: [], isServer: false, verifyServer: configuration.verifyServer)
        try TLSContext.applyCommon(ctx, minimum: configuration.minimumVersion, maximum: configuration.maximumVersion,
                                   ciphers: configuration.ciphers, cipherSuites: configuration.cipherSuites)
        if let caFile = configuration.caFile {
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                throw TLSError.drainingQueue("SSL_CTX_load_verify_locations(\(caFile))")
            }
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw TLSError.drainingQueue("SSL_CTX_set_default_verify_paths")
        }
        SSL_CTX_set_verify(ctx, configuration.verifyServer ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, nil)
        switch (configuration.certificateChainFile, configuration.privateKeyFile) {
        case let (chain?, key?): try TLSContext.useCertificate(ctx, chain: chain, key: key)
        case (nil, nil): break
        default: throw TLSError(message: "a client certificate needs both certificateChainFile and privateKeyFile")
        }
        if !configuration.alpn.isEmpty {
            var wire: [UInt8] = []
            for name in configuration.alpn {
                let bytes = Array(name.utf8)
                guard !bytes.isEmpty, bytes.count < 256 else { throw TLSError(message: "bad ALPN protocol name \"\(name)\"") }
                wire.append(UInt8(bytes.count))
                wire += bytes
            }
            // Returns 0 on success (sic).
            guard SSL_CTX_set_alpn_protos(ctx, wire, UInt32(wire.count)) == 0 else {
                throw TLSError.drainingQueue("SSL_CTX_set_alpn_protos")
            }
        }
    }
}

extension TLSConfiguration.Version {
    var openSSLVersion: Int32 {
        switch self {
        case .tls12: return TLS1_2_VERSION
        case .tls13: return TLS1_3_VERSION
        }
    }
}
