/// How the bytes a device sends on a managed socket become chunks for the endpoint: a mapping's
/// `receive` (issue #14). One primary rule, a bound, and an optional prefix filter.
///
/// - `delimiter` (1-16 bytes): a chunk is the bytes before each delimiter; the delimiter itself is
///   not part of the chunk (the endpoint gets the record, not its separator). A run of more than
///   `maxBytes` bytes without a delimiter is a framing error (`delimiterNotFound`): those bytes are
///   dropped up to and including the next delimiter, and chunks resume after it.
/// - `length` (1 B-1 MiB): every chunk is exactly that many bytes. `maxBytes` does not apply.
/// - `lengthPrefix` (u8, u16be, u32be): a chunk is the payload after its big-endian length, without
///   the prefix. A declared length over `maxBytes` is a framing error (`declaredLengthTooLarge`):
///   the payload is skipped unbuffered and chunks resume after it.
/// - `idle(ms:)` (max_bytes with idle_ms flush): a chunk is whatever arrived, emitted when
///   `maxBytes` bytes are buffered or when `ms` milliseconds pass after the last byte.
///
/// Empty chunks (two delimiters in a row, a zero length prefix) are never delivered. `maxBytes`
/// (default 64 KiB, at most 1 MiB) bounds what one socket buffers. `prefix` (1-256 bytes): a chunk
/// that does not start with it is discarded and counted; one that does is delivered whole, prefix
/// included.
public struct ReceiveCriteria: Equatable, Hashable, Sendable {
    public enum LengthPrefix: String, Sendable, CaseIterable {
        case u8, u16be, u32be
        public var width: Int {
            switch self {
            case .u8: 1
            case .u16be: 2
            case .u32be: 4
            }
        }
    }

    public enum Rule: Equatable, Hashable, Sendable {
        case delimiter([UInt8])
        case length(Int)
        case lengthPrefix(LengthPrefix)
        case idle(ms: UInt64)
    }

    public let rule: Rule
    public let maxBytes: Int
    /// Empty: no filter.
    public let prefix: [UInt8]

    /// A criterion out of bounds, named by its mapping field (`delimiter`, `length`, `max_bytes`,
    /// `idle_ms`, `prefix`).
    public struct Problem: Error, Equatable, Sendable {
        public var field: String
        public var message: String
        public init(_ field: String, _ message: String) { self.field = field; self.message = message }
    }

    /// Checks every bound. `maxBytes` nil: the default (64 KiB), or `length` for the length rule;
    /// given with the length rule it is refused (the length is the bound).
    public init(rule: Rule, maxBytes: Int? = nil, prefix: [UInt8] = []) throws(Problem) {
        let hard = SocketLimits.maxChunkBytes
        if let maxBytes, !(1...hard).contains(maxBytes) { throw Problem("max_bytes", "must be 1-\(hard)") }
        switch rule {
        case .delimiter(let d):
            guard (1...SocketLimits.maxDelimiterBytes).contains(d.count) else {
                throw Problem("delimiter", "must be 1-\(SocketLimits.maxDelimiterBytes) bytes")
            }
        case .length(let n):
            guard (1...hard).contains(n) else { throw Problem("length", "must be 1-\(hard)") }
            guard maxBytes == nil else { throw Problem("max_bytes", "not with length (the length is the chunk size)") }
        case .lengthPrefix:
            break
        case .idle(let ms):
            guard (1...SocketLimits.maxIdleMs).contains(ms) else { throw Problem("idle_ms", "must be 1-\(SocketLimits.maxIdleMs)") }
        }
        let bound: Int
        if case .length(let n) = rule { bound = n } else { bound = maxBytes ?? SocketLimits.defaultMaxChunkBytes }
        if !prefix.isEmpty {
            guard prefix.count <= SocketLimits.maxPrefixBytes else { throw Problem("prefix", "must be 1-\(SocketLimits.maxPrefixBytes) bytes") }
            guard prefix.count <= bound else { throw Problem("prefix", "longer than the largest chunk (\(bound) bytes)") }
        }
        self.rule = rule
        self.maxBytes = bound
        self.prefix = prefix
    }

    /// Bytes as they come: chunks of at most 64 KiB after 100 ms without a byte (a mapping
    /// without `receive`).
    public static let passThrough = try! ReceiveCriteria(rule: .idle(ms: 100))
}
