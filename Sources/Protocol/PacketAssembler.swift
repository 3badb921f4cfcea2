/// Reassembles length-prefixed packets that arrive in arbitrary chunks. Packets wholly inside a
/// chunk are handed out in place; only a packet that spans chunks is copied, and only its own
/// bytes. Used by every stream decoder (MQTT connections, the coordinator link).
public struct PacketAssembler: Sendable {
    /// What the bytes at the start of a buffer say about the packet there.
    public enum Size: Equatable, Sendable {
        /// The whole packet is this many bytes long (header included).
        case complete(Int)
        /// The header itself is not complete yet.
        case needMore
        /// The header is bad (or announces more than the limit): hand the bytes to the decoder,
        /// which produces the precise error.
        case invalid
    }

    /// Bytes of a packet that has not fully arrived; empty (no allocation) while idle.
    public private(set) var pending: [UInt8] = []

    public init() {}

    /// Feeds one chunk. `handle` gets each complete packet (or, for `.invalid`, the bytes to raise
    /// the error from) and returns false to stop; what was not handled is kept for `resume`.
    public mutating func feed(_ chunk: UnsafeRawBufferPointer,
                              size: (UnsafeRawBufferPointer) -> Size,
                              handle: (UnsafeRawBufferPointer) -> Bool) {
        var rest = chunk
        while !pending.isEmpty {
            switch pending.withUnsafeBytes(size) {
            case .complete(let total):
                if pending.count < total {
                    let n = min(total - pending.count, rest.count)
                    pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[..<n]))
                    rest = UnsafeRawBufferPointer(rebasing: rest[n...])
                    if pending.count < total { return }
                }
                let packet = pending
                pending = total == packet.count ? [] : Array(packet[total...])  // more than one after a stop
                let more = packet.withUnsafeBytes { handle(UnsafeRawBufferPointer(rebasing: $0[..<total])) }
                if !more { keep(rest); return }
            case .needMore:
                guard let next = rest.first else { return }
                pending.append(next)  // a header is a few bytes: grow it one at a time
                rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst())
            case .invalid:
                let packet = pending
                pending = []
                _ = packet.withUnsafeBytes(handle)
                return
            }
        }
        while !rest.isEmpty {
            switch size(rest) {
            case .complete(let total) where total <= rest.count:
                let more = handle(UnsafeRawBufferPointer(rebasing: rest[..<total]))
                rest = UnsafeRawBufferPointer(rebasing: rest[total...])
                if !more { keep(rest); return }
            case .complete, .needMore:
                keep(rest)
                return
            case .invalid:
                _ = handle(rest)
                return
            }
        }
    }

    /// Handles what is pending (after `handle` returned false and the reason went away).
    public mutating func resume(size: (UnsafeRawBufferPointer) -> Size, handle: (UnsafeRawBufferPointer) -> Bool) {
        let empty: [UInt8] = []
        empty.withUnsafeBytes { feed($0, size: size, handle: handle) }
    }

    /// Keeps bytes without handling them (while the consumer cannot take packets yet).
    public mutating func keep(_ bytes: UnsafeRawBufferPointer) {
        if !bytes.isEmpty { pending.append(contentsOf: bytes) }
    }

    public mutating func reset() { pending = [] }
}

extension MQTTDecoder {
    /// The size of the MQTT packet at the start of `bytes` for a `PacketAssembler`; packets over
    /// `maximumPacketSize` are `.invalid` from the fixed header alone.
    public func packetSize(_ bytes: UnsafeRawBufferPointer) -> PacketAssembler.Size {
        guard bytes.count >= 2 else { return .needMore }
        switch ByteReader.peekVariableByteInteger(UnsafeRawBufferPointer(rebasing: bytes.dropFirst())) {
        case .value(let remaining, let lengthBytes):
            let total = 1 + lengthBytes + Int(remaining)
            return total > maximumPacketSize ? .invalid : .complete(total)
        case .needMoreBytes: return .needMore
        case .tooLong: return .invalid
        }
    }
}
