internal import COpenSSL
internal import Glibc

extension TLSSessionInfo {
    /// What `ssl` negotiated; read once when the handshake completes.
    init(_ ssl: OpaquePointer, requestedServerName: String?) {
        protocolVersion = String(cString: SSL_get_version(ssl))
        cipher = SSL_get_current_cipher(ssl).map { String(cString: SSL_CIPHER_get_name($0)) } ?? ""
        var alpnData: UnsafePointer<UInt8>?
        var alpnLength: UInt32 = 0
        SSL_get0_alpn_selected(ssl, &alpnData, &alpnLength)
        if let alpnData, alpnLength > 0 {
            alpn = String(decoding: UnsafeBufferPointer(start: alpnData, count: Int(alpnLength)), as: UTF8.self)
        } else {
            alpn = nil
        }
        serverName = requestedServerName ?? SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name).map { String(cString: $0) }
        if let certificate = SSL_get1_peer_certificate(ssl) {
            peerCertificate = PeerCertificate(certificate)
            X509_free(certificate)
        } else {
            peerCertificate = nil
        }
    }
}

extension PeerCertificate {
    /// Reads an X509 (not consumed).
    init(_ certificate: OpaquePointer) {
        subjectCommonName = Self.commonName(certificate)
        var dns: [String] = [], uris: [String] = [], emails: [String] = []
        if let raw = X509_get_ext_d2i(certificate, NID_subject_alt_name, nil, nil) {
            let names = OpaquePointer(raw)
            for index in 0..<shim_general_names_count(names) {
                var type: Int32 = 0
                guard let string = shim_general_name_string(names, index, &type) else { continue }
                let text = Self.text(of: string)
                switch type {
                case GEN_DNS: dns.append(text)
                case GEN_URI: uris.append(text)
                case GEN_EMAIL: emails.append(text)
                default: break
                }
            }
            shim_GENERAL_NAMES_free(names)
        }
        dnsNames = dns
        self.uris = uris
        self.emails = emails
        var expiry = tm()
        if let notAfter = X509_get0_notAfter(certificate), ASN1_TIME_to_tm(notAfter, &expiry) == 1 {
            notAfterEpochSeconds = Int64(timegm(&expiry))
        } else {
            notAfterEpochSeconds = 0
        }
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        if X509_digest(certificate, EVP_sha256(), &digest, &length) == 1 {
            sha256Fingerprint = Self.hex(digest.prefix(Int(length)))
        } else {
            sha256Fingerprint = ""
        }
    }

    static func commonName(_ certificate: OpaquePointer) -> String? {
        guard let subject = X509_get_subject_name(certificate) else { return nil }
        let index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1)
        guard index >= 0, let entry = X509_NAME_get_entry(subject, index),
              let data = X509_NAME_ENTRY_get_data(entry) else { return nil }
        var utf8: UnsafeMutablePointer<UInt8>?
        let length = ASN1_STRING_to_UTF8(&utf8, data)
        guard length >= 0, let utf8 else { return nil }
        defer { shim_OPENSSL_free(utf8) }
        return String(decoding: UnsafeBufferPointer(start: utf8, count: Int(length)), as: UTF8.self)
    }

    /// IA5 strings (DNS, URI, email SANs) as text.
    static func text(of string: UnsafePointer<ASN1_STRING>) -> String {
        guard let data = ASN1_STRING_get0_data(string) else { return "" }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(ASN1_STRING_length(string))), as: UTF8.self)
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
