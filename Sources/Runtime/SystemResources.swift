internal import CLibUV
internal import Glibc

/// Process-wide resource helpers. Any thread.
public enum SystemResources {
    /// Raises RLIMIT_NOFILE soft limit to the hard limit; returns the new soft limit
    /// (the unchanged one if raising failed, -1 if it cannot be read).
    public static func raiseOpenFileLimit() -> Int {
        Int(shim_raise_nofile_limit())
    }

    /// Grows the process's descriptor table to `descriptors` slots now (it never shrinks). Call it
    /// while the process is still single-threaded: once threads share the table (the storage
    /// writer's libuv pool), every doubling waits for an RCU grace period inside `accept4`, 10-15 ms
    /// of a stalled loop each (measured with `perf` on the retained-wildcard bench: two of them in a
    /// 1,000-client subscribe phase were most of its 19 % regression). Returns whether it grew.
    @discardableResult
    public static func reserveDescriptorTable(_ descriptors: Int) -> Bool {
        guard descriptors > 1, descriptors <= Int(Int32.max) else { return false }
        let probe = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard probe >= 0 else { return false }
        defer { Glibc.close(probe) }
        let high = fcntl(probe, F_DUPFD_CLOEXEC, Int32(descriptors - 1))
        guard high >= 0 else { return false }
        Glibc.close(high)
        return true
    }

    /// Resident set size from /proc/self/statm (resident pages × page size); 0 if unreadable.
    public static func residentMemoryBytes() -> Int {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { Glibc.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return 0 }
        // "size resident shared text lib data dt", in pages.
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }
}
