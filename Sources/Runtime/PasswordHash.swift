internal import COpenSSL

/// Salted password hashes: PBKDF2-HMAC-SHA512 (OpenSSL), stored as
/// "$pbkdf2-sha512$<iterations>$<salt base64>$<hash base64>" (standard base64 with padding).
///
/// Verifying costs `iterations` HMAC-SHA512 rounds (about 50-100 ms at the default on one core):
/// that is the point, and it means callers on an event loop should verify on a worker thread.
public enum PasswordHash {
    /// The identifier in the stored string.
    static let scheme = "pbkdf2-sha512"
    /// Bytes of random salt per hash.
    static let saltBytes = 16
    /// Bytes of derived key: SHA-512's output size.
    static let hashBytes = 64
    /// Salts accepted by `verify` (other tools may use other lengths; 8 bytes is RFC 8018's floor).
    static let verifiableSaltBytes = 8...64
    /// Iterations accepted by `verify`: a stored string must not be able to pin a CPU for minutes.
    public static let maxIterations = 10_000_000

    /// "$pbkdf2-sha512$<iterations>$<salt b64>$<hash b64>" with a 16-byte random salt (RAND_bytes).
    /// `iterations` must be in 1...maxIterations.
    public static func make(password: [UInt8], iterations: Int = 100_000) -> String {
        precondition((1...maxIterations).contains(iterations), "PasswordHash.make: iterations \(iterations) out of range")
        let salt = SecureRandom.bytes(saltBytes)
        guard let hash = pbkdf2SHA512(password: password, salt: salt, iterations: iterations, keyLength: hashBytes) else {
            preconditionFailure("PKCS5_PBKDF2_HMAC failed (OpenSSL error \(ERR_get_error()))")
        }
        return "$\(scheme)$\(iterations)$\(Base64.encode(salt))$\(Base64.encode(hash))"
    }

    /// Whether `password` hashes to `stored`, compared in constant time (CRYPTO_memcmp). Malformed
    /// stored strings (another scheme, bad base64, a salt outside 8...64 bytes, a hash that is not
    /// 64 bytes, iterations outside 1...maxIterations) return false.
    public static func verify(password: [UInt8], against stored: String) -> Bool {
        guard let parsed = Stored(stored),
              let derived = pbkdf2SHA512(password: password, salt: parsed.salt, iterations: parsed.iterations, keyLength: parsed.hash.count)
        else { return false }
        return derived.withUnsafeBytes { d in
            parsed.hash.withUnsafeBytes { h in CRYPTO_memcmp(d.baseAddress, h.baseAddress, hashBytes) == 0 }
        }
    }

    /// Whether `stored` has the form `verify` accepts (whatever password it was made from).
    public static func isWellFormed(_ stored: String) -> Bool {
        Stored(stored) != nil
    }

    /// PBKDF2-HMAC-SHA512 (RFC 8018 §5.2) through OpenSSL; nil if OpenSSL refuses.
    static func pbkdf2SHA512(password: [UInt8], salt: [UInt8], iterations: Int, keyLength: Int) -> [UInt8]? {
        guard iterations >= 1, iterations <= Int(Int32.max), keyLength >= 1, keyLength <= 1024,
              password.count <= Int(Int32.max), salt.count <= Int(Int32.max) else { return nil }
        var out = [UInt8](repeating: 0, count: keyLength)
        let rc = password.withUnsafeBufferPointer { pass in
            salt.withUnsafeBufferPointer { salt in
                out.withUnsafeMutableBufferPointer { out in
                    // OpenSSL takes a NULL password with length 0 as the empty password.
                    pass.withMemoryRebound(to: CChar.self) { pass in
                        PKCS5_PBKDF2_HMAC(pass.baseAddress, Int32(pass.count), salt.baseAddress, Int32(salt.count),
                                          Int32(iterations), EVP_sha512(), Int32(keyLength), out.baseAddress)
                    }
                }
            }
        }
        return rc == 1 ? out : nil
    }

    /// A parsed stored string.
    struct Stored: Equatable {
        let iterations: Int
        let salt: [UInt8]
        let hash: [UInt8]

        init?(_ stored: String) {
            let fields = stored.utf8.split(separator: UInt8(ascii: "$"), omittingEmptySubsequences: false)
            guard fields.count == 5, fields[0].isEmpty, fields[1].elementsEqual(PasswordHash.scheme.utf8),
                  let iterations = Self.decimal(fields[2]), (1...PasswordHash.maxIterations).contains(iterations),
                  let salt = Base64.decode(fields[3]), PasswordHash.verifiableSaltBytes.contains(salt.count),
                  let hash = Base64.decode(fields[4]), hash.count == PasswordHash.hashBytes
            else { return nil }
            self.iterations = iterations
            self.salt = salt
            self.hash = hash
        }

        /// ASCII digits without a leading zero, at most 8 of them (maxIterations has 8).
        static func decimal(_ digits: Substring.UTF8View) -> Int? {
            guard (1...8).contains(digits.count), digits.first != UInt8(ascii: "0") else { return nil }
            var value = 0
            for byte in digits {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
    }
}
