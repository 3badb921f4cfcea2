/// The generator's payload header: every message says who sent it, its sequence number and when.
///
///     offset 0  u32 magic "FGB1"
///     offset 4  u32 publisher id
///     offset 8  u64 sequence number (from 0, per publisher)
///     offset 16 u64 send time, CLOCK_MONOTONIC ns (same process, so clocks agree)
///     offset 24 padding up to the payload size
///
/// Little-endian, unaligned loads and stores.
enum Payload {
    static let magic: UInt32 = 0x3142_4746  // "FGB1" read as little-endian
    static let headerSize = 24

    @inline(__always)
    static func write(_ p: UnsafeMutablePointer<UInt8>, publisher: UInt32, seq: UInt64, timestamp: UInt64) {
        let raw = UnsafeMutableRawPointer(p)
        raw.storeBytes(of: magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: publisher.littleEndian, toByteOffset: 4, as: UInt32.self)
        raw.storeBytes(of: seq.littleEndian, toByteOffset: 8, as: UInt64.self)
        raw.storeBytes(of: timestamp.littleEndian, toByteOffset: 16, as: UInt64.self)
    }

    /// (publisher, seq, timestamp) or nil if the payload is not ours.
    @inline(__always)
    static func read(_ payload: UnsafeBufferPointer<UInt8>) -> (UInt32, UInt64, UInt64)? {
        guard payload.count >= headerSize else { return nil }
        let raw = UnsafeRawPointer(payload.baseAddress!)
        guard UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)) == magic else { return nil }
        return (UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self)),
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
                UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 16, as: UInt64.self)))
    }
}
