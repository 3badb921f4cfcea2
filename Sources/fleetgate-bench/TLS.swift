import COpenSSL
#if canImport(Glibc)
import Glibc
#endif

/// TLS settings of a run (`--tls-ca`, `--tls-server-name`); nil means plain TCP.
struct TLSOptions {
    var caFile: String
    var serverName = "localhost"
    /// TLS 1.3 suites to offer (OpenSSL syntax); nil keeps OpenSSL's default list.
    var cipherSuites: String?
    /// Run the full chain and name verification on every handshake, not only on the first
    /// presentation of each distinct certificate.
    var verifyEach = false
}

/// Remembers the server certificate that passed full verification (chain to the CA, name), so
/// later handshakes presenting the byte-identical certificate skip re-building and re-checking
/// the chain (one ECDSA verification and the X509 store work). The handshake signature
/// (CertificateVerify, the proof that the server holds the key) is still checked every time.
final class VerifiedCertificateCache {
    var certificate: OpaquePointer?
    var hits = 0
    var fullVerifications = 0
    deinit { if let certificate { X509_free(certificate) } }
}

/// The client SSL_CTX shared by every connection of a run: verifies the broker's certificate
/// against `caFile` and its name against `serverName` (also sent as SNI). No client session
/// cache, so every connection does a full handshake.
final class TLSClientContext {
    let ctx: OpaquePointer
    let serverName: String
    let verified = VerifiedCertificateCache()
    let verifyEach: Bool

    init(_ options: TLSOptions) throws(SystemError) {
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw SystemError(call: "SSL_CTX_new: \(tlsErrorQueue())", code: 0)
        }
        self.ctx = ctx
        serverName = options.serverName
        verifyEach = options.verifyEach
        _ = shim_SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)
        _ = SSL_CTX_set_options(ctx, shim_SSL_OP_NO_COMPRESSION() | shim_SSL_OP_NO_RENEGOTIATION())
        guard SSL_CTX_load_verify_locations(ctx, options.caFile, nil) == 1 else {
            let reason = tlsErrorQueue()
            SSL_CTX_free(ctx)
            throw SystemError(call: "TLS CA file \(options.caFile): \(reason)", code: 0)
        }
        if let suites = options.cipherSuites, SSL_CTX_set_ciphersuites(ctx, suites) != 1 {
            let reason = tlsErrorQueue()
            SSL_CTX_free(ctx)
            throw SystemError(call: "TLS 1.3 cipher suites '\(suites)': \(reason)", code: 0)
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if !options.verifyEach {
            SSL_CTX_set_cert_verify_callback(ctx, { store, arg in
                guard let store, let arg else { return 0 }
                let cache = Unmanaged<VerifiedCertificateCache>.fromOpaque(arg).takeUnretainedValue()
                guard let leaf = X509_STORE_CTX_get0_cert(store) else { return 0 }
                // X509_cmp: equal hashes and equal DER encodings.
                if let known = cache.certificate, X509_cmp(known, leaf) == 0 {
                    cache.hits += 1
                    return 1
                }
                cache.fullVerifications += 1
                let rc = X509_verify_cert(store)
                if rc == 1 && cache.certificate == nil && X509_up_ref(leaf) == 1 { cache.certificate = leaf }
                return rc
            }, Unmanaged.passUnretained(verified).toOpaque())
        }
    }

    deinit { SSL_CTX_free(ctx) }

    /// A client SSL on two memory BIOs, in connect state; nil if OpenSSL is out of memory.
    func makeSession() -> TLSSession? {
        guard let ssl = SSL_new(ctx) else { return nil }
        guard let rbio = BIO_new(BIO_s_mem()), let wbio = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            return nil
        }
        // An empty memory BIO means "retry later", not end of file.
        _ = shim_BIO_set_mem_eof_return(rbio, -1)
        _ = shim_BIO_set_mem_eof_return(wbio, -1)
        SSL_set_bio(ssl, rbio, wbio)  // the SSL owns both BIOs now
        SSL_set_connect_state(ssl)
        _ = shim_SSL_set_tlsext_host_name(ssl, serverName)
        _ = SSL_set1_host(ssl, serverName)
        return TLSSession(ssl: ssl, rbio: rbio, wbio: wbio)
    }
}

/// One connection's TLS state. Ciphertext goes network -> `rbio` -> SSL -> plaintext, and
/// plaintext -> SSL -> `wbio` -> `cipherOut` -> socket.
final class TLSSession {
    let ssl: OpaquePointer
    let rbio: OpaquePointer
    let wbio: OpaquePointer
    /// Ciphertext taken from `wbio` that the socket has not accepted yet.
    let cipherOut = ByteBuffer(capacity: 2048)
    var handshakeDone = false

    init(ssl: OpaquePointer, rbio: OpaquePointer, wbio: OpaquePointer) {
        self.ssl = ssl
        self.rbio = rbio
        self.wbio = wbio
    }

    deinit { SSL_free(ssl) }

    /// Bytes already received that the SSL has not turned into plaintext for us yet.
    @inline(__always)
    var buffered: Bool { SSL_pending(ssl) > 0 || BIO_ctrl_pending(rbio) > 0 }

    /// Moves everything the SSL has produced into `cipherOut`.
    @inline(__always)
    func drainWriteBIO() {
        var pending = BIO_ctrl_pending(wbio)
        while pending > 0 {
            cipherOut.reserve(pending)
            let n = BIO_read(wbio, cipherOut.base + cipherOut.writeIndex, Int32(clamping: pending))
            if n <= 0 { return }
            cipherOut.writeIndex += Int(n)
            pending = BIO_ctrl_pending(wbio)
        }
    }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }
    var cipherName: String {
        guard let c = SSL_get_current_cipher(ssl), let name = SSL_CIPHER_get_name(c) else { return "?" }
        return String(cString: name)
    }

    /// Why a handshake failed: the certificate verification result if that failed, else the
    /// OpenSSL error queue.
    func failureReason(_ code: Int32) -> String {
        let verify = SSL_get_verify_result(ssl)
        if verify != Int(X509_V_OK) {
            return "certificate verify failed: \(String(cString: X509_verify_cert_error_string(verify)))"
        }
        let queue = tlsErrorQueue()
        return "SSL error \(code)" + (queue.isEmpty ? "" : ": \(queue)")
    }
}

/// Drains the thread's OpenSSL error queue into one line.
func tlsErrorQueue() -> String {
    var parts: [String] = []
    var buffer = [UInt8](repeating: 0, count: 256)
    while true {
        let e = ERR_get_error()
        if e == 0 { break }
        buffer.withUnsafeMutableBufferPointer { p in
            p.baseAddress!.withMemoryRebound(to: CChar.self, capacity: p.count) { ERR_error_string_n(e, $0, p.count) }
        }
        parts.append(String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self))
    }
    return parts.joined(separator: "; ")
}
