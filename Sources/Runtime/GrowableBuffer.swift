internal import Glibc

/// A malloc'ed byte buffer that grows by doubling, with no allocation while empty. Owned by one
/// stream (loop-thread only); the owner calls `release()` or takes the bytes with `take()`.
struct GrowableBuffer {
    private(set) var bytes: UnsafeMutableRawPointer?
    private(set) var count = 0
    private(set) var capacity = 0

    var isEmpty: Bool { count == 0 }

    /// Appends `n` bytes that `fill` writes in place.
    mutating func append(count n: Int, _ fill: (UnsafeMutableRawPointer) -> Void) {
        reserve(n)
        fill(bytes! + count)
        count += n
    }

    /// Appends at most `n` bytes that `fill` writes in place and counts (returns how many).
    mutating func append(reserving n: Int, _ fill: (UnsafeMutableRawPointer) -> Int) -> Int {
        reserve(n)
        let filled = min(max(fill(bytes! + count), 0), n)
        count += filled
        if count == 0 { release() }
        return filled
    }

    /// Room for `n` more bytes. The check is inlined into every write (one comparison); the
    /// growth is not, so the check does not cost a call per write (callgrind, fan-out-1000).
    @inline(__always)
    mutating func reserve(_ n: Int) {
        let needed = count + n
        if needed > capacity { grow(to: needed) }
    }

    @inline(never)
    private mutating func grow(to needed: Int) {
        let grown = max(needed, capacity * 2, 512)
        guard let p = realloc(bytes, grown) else { fatalError("FleetRuntime: out of memory for a buffer of \(grown) bytes") }
        bytes = p
        capacity = grown
    }

    /// Forgets bytes after the first `n` (they stay allocated).
    mutating func truncate(to n: Int) { count = min(count, n) }

    /// Hands the bytes over (the caller frees the pointer); empty afterwards. nil when empty.
    mutating func take() -> (bytes: UnsafeMutableRawPointer, count: Int)? {
        guard let b = bytes, count > 0 else { release(); return nil }
        let taken = (b, count)
        bytes = nil
        count = 0
        capacity = 0
        return taken
    }

    mutating func release() {
        free(bytes)
        bytes = nil
        count = 0
        capacity = 0
    }
}
