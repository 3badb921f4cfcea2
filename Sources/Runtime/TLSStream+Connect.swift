internal import CLibUV
internal import COpenSSL
internal import Glibc

extension TLSStream {
    /// Connects over TCP to an IPv4/IPv6 literal, then runs the TLS client handshake. `serverName`
    /// is sent as SNI (unless it is an IP literal) and, when the context verifies the server, is
    /// the name (or IP) its certificate must carry. Errors known at once are thrown; the result
    /// comes later through `completion`: a stream whose handshake completed (not reading yet), or
    /// the failure (TCP error, or `call == "SSL_connect"` with OpenSSL's reason in `message`).
    /// With TLS 1.3 the server verifies a client certificate after our handshake completed: a
    /// rejected client certificate shows up as `streamClosed` with an error. Loop-thread only.
    public static func connect(loop: EventLoop, host: String, port: UInt16, context: TLSClientContext,
                               serverName: String?,
                               _ completion: @escaping (Result<any ByteStream, RuntimeError>) -> Void) throws(RuntimeError) {
        let timeout = context.configuration.handshakeTimeoutMs
        let box = context.box
        try TCPStream.connect(loop: loop, host: host, port: port) { result in
            let transport: TCPStream
            switch result {
            case .failure(let error):
                completion(.failure(error))
                return
            case .success(let connected):
                transport = connected
            }
            let stream: TLSStream
            do throws(TLSError) {
                stream = try TLSStream(transport: transport, context: box)
                try stream.setServerName(serverName)
            } catch {
                transport.closeNow()
                completion(.failure(RuntimeError(call: "SSL_new", code: UV_EPROTO.rawValue, message: error.message)))
                return
            }
            stream.beginHandshake(timeoutMs: timeout) { outcome in
                switch outcome {
                case .success:
                    completion(.success(stream))
                case .failure(let reason):
                    completion(.failure(RuntimeError(call: "SSL_connect", code: UV_EPROTO.rawValue, message: reason)))
                }
            }
        }
    }

    /// SNI and the name the server certificate is checked against.
    private func setServerName(_ name: String?) throws(TLSError) {
        guard let ssl, let name, !name.isEmpty else { return }
        let isIPLiteral = (try? SocketAddress.parse(host: name, port: 0)) != nil
        if !isIPLiteral {
            requestedServerName = name
            guard shim_SSL_set_tlsext_host_name(ssl, name) == 1 else {
                throw TLSError.drainingQueue("SSL_set_tlsext_host_name(\(name))")
            }
        }
        guard contextBox.verifyServer else { return }
        if isIPLiteral {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 else {
                throw TLSError.drainingQueue("X509_VERIFY_PARAM_set1_ip_asc(\(name))")
            }
        } else if SSL_set1_host(ssl, name) != 1 {
            throw TLSError.drainingQueue("SSL_set1_host(\(name))")
        }
    }
}
