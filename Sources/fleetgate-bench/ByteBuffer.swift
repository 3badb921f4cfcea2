/// A growable byte buffer with a read index, for outgoing data and partial incoming frames.
/// Manually managed memory: the hot path never touches Swift arrays.
final class ByteBuffer {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    /// Bytes before `readIndex` have been consumed (written to the socket).
    var readIndex = 0
    /// Bytes before `writeIndex` are valid.
    var writeIndex = 0

    init(capacity: Int = 256) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    var readableBytes: Int { writeIndex - readIndex }
    var isEmpty: Bool { writeIndex == readIndex }
    var readPointer: UnsafeMutablePointer<UInt8> { base + readIndex }

    /// Makes room for `count` more bytes after `writeIndex`, compacting or growing.
    @inline(__always)
    func reserve(_ count: Int) {
        if writeIndex + count <= capacity { return }
        grow(count)
    }

    private func grow(_ count: Int) {
        let live = readableBytes
        if readIndex > 0 {
            // Compact first: move the unread bytes to the front.
            if live > 0 { (base).update(from: base + readIndex, count: live) }
            readIndex = 0
            writeIndex = live
            if writeIndex + count <= capacity { return }
        }
        var newCapacity = capacity * 2
        while newCapacity < live + count { newCapacity *= 2 }
        let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        if live > 0 { newBase.update(from: base, count: live) }
        base.deallocate()
        base = newBase
        capacity = newCapacity
    }

    @inline(__always)
    func writeByte(_ b: UInt8) {
        reserve(1)
        base[writeIndex] = b
        writeIndex += 1
    }

    @inline(__always)
    func writeUInt16(_ v: UInt16) {
        reserve(2)
        base[writeIndex] = UInt8(truncatingIfNeeded: v >> 8)
        base[writeIndex + 1] = UInt8(truncatingIfNeeded: v)
        writeIndex += 2
    }

    @inline(__always)
    func writeBytes(_ p: UnsafePointer<UInt8>, _ count: Int) {
        reserve(count)
        (base + writeIndex).update(from: p, count: count)
        writeIndex += count
    }

    func writeBytes(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { writeBytes($0.baseAddress!, $0.count) }
    }

    /// MQTT Variable Byte Integer (at most 4 bytes).
    @inline(__always)
    func writeVarInt(_ value: Int) {
        var v = value
        repeat {
            var b = UInt8(v & 0x7F)
            v >>= 7
            if v > 0 { b |= 0x80 }
            writeByte(b)
        } while v > 0
    }

    /// Writes an MQTT UTF-8 string (2-byte length prefix).
    func writeString(_ s: String) {
        var s = s
        s.withUTF8 { utf8 in
            writeUInt16(UInt16(utf8.count))
            if utf8.count > 0 { writeBytes(utf8.baseAddress!, utf8.count) }
        }
    }

    @inline(__always)
    func consume(_ count: Int) {
        readIndex += count
        if readIndex == writeIndex { readIndex = 0; writeIndex = 0 }
    }

    func clear() { readIndex = 0; writeIndex = 0 }
}

/// Number of bytes a Variable Byte Integer takes.
@inline(__always)
func varIntLength(_ value: Int) -> Int {
    value < 128 ? 1 : value < 16_384 ? 2 : value < 2_097_152 ? 3 : 4
}
