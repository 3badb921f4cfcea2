internal import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's RAND_bytes. Any thread.
public enum SecureRandom {
    /// `count` random bytes. Traps if the CSPRNG fails (never returns predictable bytes).
    public static func bytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0 && count <= Int(Int32.max), "SecureRandom.bytes: bad count \(count)")
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        let rc = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(rc == 1, "RAND_bytes failed (OpenSSL error \(ERR_get_error()))")
        return bytes
    }
}
