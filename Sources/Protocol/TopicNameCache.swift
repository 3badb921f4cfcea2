#if canImport(Glibc)
import Glibc  // memcmp
#elseif canImport(Darwin)
import Darwin
#endif

/// The last topic name one connection published to, kept between packets. Devices publish to the
/// same topic again and again; when the next PUBLISH names it byte for byte, the decoder reuses the
/// validated `String` instead of allocating and scanning a new one (an allocation, a UTF-8 check
/// and a wildcard scan per message on the broker's hottest path). Owned by one connection.
public struct TopicNameCache: Sendable {
    /// Names longer than this are not cached (a copy per change would cost more than it saves).
    public static let maximumCachedBytes = 256

    private var raw: [UInt8] = []
    private var name: String?

    public init() {}

    /// The cached name if `bytes` are exactly its UTF-8 bytes.
    func lookup(_ bytes: UnsafeRawBufferPointer) -> String? {
        guard let name, bytes.count == raw.count, bytes.count > 0 else { return nil }
        let same = raw.withUnsafeBytes { cached in memcmp(cached.baseAddress!, bytes.baseAddress!, bytes.count) == 0 }
        return same ? name : nil
    }

    /// Remembers a name that passed validation.
    mutating func remember(_ bytes: UnsafeRawBufferPointer, as validName: String) {
        guard bytes.count <= Self.maximumCachedBytes else { return }
        raw.removeAll(keepingCapacity: true)
        raw.append(contentsOf: bytes)
        name = validName
    }
}
