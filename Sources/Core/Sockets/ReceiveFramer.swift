/// A record the device's stream breaks: the framer says so and resynchronises (ReceiveCriteria);
/// the mapping's `on_error` decides whether the socket closes.
public enum ReceiveFramingError: Error, Equatable, Hashable, Sendable {
    /// More than `maxBytes` bytes without a delimiter; they are dropped through the next delimiter.
    case delimiterNotFound(maxBytes: Int)
    /// A length prefix declared more than `maxBytes`; that payload is skipped.
    case declaredLengthTooLarge(declared: Int, maxBytes: Int)
    /// The stream ended inside a fixed-length or length-prefixed record.
    case truncated(pendingBytes: Int)
}

/// Turns a socket's byte stream into the chunks its mapping's `receive` criteria describe
/// (ReceiveCriteria), fed in any split. Pure: time comes in as `now` (milliseconds, any monotonic
/// origin); the caller arms a timer for `deadline` and calls `flush(now:)` when it fires (`feed`
/// flushes a passed deadline itself before taking new bytes). Holds at
/// most `maxBytes` plus a delimiter (or `length`, or a 4-byte prefix) between calls.
public struct ReceiveFramer: Sendable {
    public enum Event: Equatable, Hashable, Sendable {
        case chunk([UInt8])
        case error(ReceiveFramingError)
    }

    public let criteria: ReceiveCriteria
    /// Chunks dropped because they did not start with `criteria.prefix`.
    public private(set) var filteredChunks: UInt64 = 0

    /// The pending record (delimiter and idle: bytes since the last chunk; length prefix: the
    /// prefix, then the payload).
    private var buffer: [UInt8] = []
    /// Delimiter: dropping an overlong run until the next delimiter.
    private var discarding = false
    /// Length prefix: the payload length once the prefix is read.
    private var declared: Int?
    /// Length prefix: bytes of an oversized payload still to skip.
    private var skipping = 0
    private var lastByteAt: UInt64 = 0

    public init(_ criteria: ReceiveCriteria) { self.criteria = criteria }

    /// Bytes held for the record in progress.
    public var bufferedBytes: Int { buffer.count }

    /// When `flush(now:)` has something to do: idle rule with bytes pending; nil otherwise.
    public var deadline: UInt64? {
        guard case .idle(let ms) = criteria.rule, !buffer.isEmpty else { return nil }
        return lastByteAt + ms
    }

    public mutating func feed(_ bytes: [UInt8], now: UInt64) -> [Event] {
        bytes.withUnsafeBytes { feed($0, now: now) }
    }

    /// The next bytes from the device, and the chunks (and framing errors) they complete, in order.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, now: UInt64) -> [Event] {
        // An idle deadline that passed before these bytes came ends the pending chunk first,
        // whether or not the caller's timer has fired yet.
        var events = flush(now: now)
        guard !bytes.isEmpty else { return events }
        lastByteAt = now
        var rest = bytes[...]
        switch criteria.rule {
        case .delimiter(let d):
            while !rest.isEmpty {
                let room = criteria.maxBytes + d.count - buffer.count
                let take = rest.prefix(room)
                rest = rest.dropFirst(take.count)
                feedDelimited(take, delimiter: d, into: &events)
            }
        case .length(let n):
            while !rest.isEmpty {
                let take = rest.prefix(n - buffer.count)
                rest = rest.dropFirst(take.count)
                buffer.append(contentsOf: take)
                if buffer.count == n { emit(&events) }
            }
        case .lengthPrefix(let width):
            while !rest.isEmpty {
                if skipping > 0 {
                    let n = min(skipping, rest.count)
                    skipping -= n
                    rest = rest.dropFirst(n)
                } else if let declared {
                    let take = rest.prefix(declared - buffer.count)
                    rest = rest.dropFirst(take.count)
                    buffer.append(contentsOf: take)
                    if buffer.count == declared {
                        self.declared = nil
                        emit(&events)
                    }
                } else {
                    let take = rest.prefix(width.width - buffer.count)
                    rest = rest.dropFirst(take.count)
                    buffer.append(contentsOf: take)
                    guard buffer.count == width.width else { continue }
                    let n = buffer.reduce(0) { $0 << 8 | Int($1) }
                    buffer.removeAll(keepingCapacity: true)
                    if n > criteria.maxBytes {
                        events.append(.error(.declaredLengthTooLarge(declared: n, maxBytes: criteria.maxBytes)))
                        skipping = n
                    } else if n > 0 {
                        declared = n
                    }
                }
            }
        case .idle:
            while !rest.isEmpty {
                let take = rest.prefix(criteria.maxBytes - buffer.count)
                rest = rest.dropFirst(take.count)
                buffer.append(contentsOf: take)
                if buffer.count == criteria.maxBytes { emit(&events) }
            }
        }
        return events
    }

    /// The idle rule's flush: the pending bytes as a chunk once `deadline` has passed.
    public mutating func flush(now: UInt64) -> [Event] {
        guard let deadline, now >= deadline else { return [] }
        var events: [Event] = []
        emit(&events)
        return events
    }

    /// The device closed its side: a delimited or idle remainder is the last chunk; an incomplete
    /// fixed-length or length-prefixed record is reported. The framer starts afresh afterwards.
    public mutating func finish() -> [Event] {
        var events: [Event] = []
        switch criteria.rule {
        case .delimiter, .idle:
            if discarding { buffer = [] } else { emit(&events) }
        case .length, .lengthPrefix:
            if !buffer.isEmpty || declared != nil { events.append(.error(.truncated(pendingBytes: buffer.count))) }
        }
        buffer = []
        discarding = false
        declared = nil
        skipping = 0
        return events
    }

    /// `take` fits: the buffer never passes maxBytes + the delimiter.
    private mutating func feedDelimited(_ take: Slice<UnsafeRawBufferPointer>, delimiter d: [UInt8], into events: inout [Event]) {
        let k = d.count
        var from = max(0, buffer.count - (k - 1))
        buffer.append(contentsOf: take)
        var start = 0
        while let end = Self.endOfDelimiter(d, in: buffer, from: from) {
            if discarding {
                discarding = false
            } else if end - k > start {
                deliver(Array(buffer[start..<(end - k)]), into: &events)
            }
            start = end
            from = end
        }
        if start > 0 { buffer.removeFirst(start) }
        if buffer.count >= criteria.maxBytes + k {
            // No delimiter can end a chunk of at most maxBytes now: drop the run, keep what could
            // be the start of a delimiter.
            if !discarding { events.append(.error(.delimiterNotFound(maxBytes: criteria.maxBytes))) }
            discarding = true
            buffer.removeFirst(buffer.count - (k - 1))
        }
    }

    /// The index just after the first delimiter found starting at or after `from`.
    private static func endOfDelimiter(_ d: [UInt8], in buffer: [UInt8], from: Int) -> Int? {
        let k = d.count
        guard buffer.count - from >= k else { return nil }
        if k == 1 { return buffer[from...].firstIndex(of: d[0]).map { $0 + 1 } }
        var i = from
        while i + k <= buffer.count {
            if buffer[i] == d[0] && buffer[i..<(i + k)].elementsEqual(d) { return i + k }
            i += 1
        }
        return nil
    }

    /// The buffer as a chunk (if not empty), and a fresh buffer.
    private mutating func emit(_ events: inout [Event]) {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer = []
        deliver(chunk, into: &events)
    }

    private mutating func deliver(_ chunk: [UInt8], into events: inout [Event]) {
        if !criteria.prefix.isEmpty && !chunk.starts(with: criteria.prefix) {
            filteredChunks += 1
            return
        }
        events.append(.chunk(chunk))
    }
}
