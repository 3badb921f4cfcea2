internal import CLibUV
internal import Glibc

/// Process-wide resource helpers. Any thread.
public enum SystemResources {
    /// Raises RLIMIT_NOFILE soft limit to the hard limit; returns the new soft limit
    /// (the unchanged one if raising failed, -1 if it cannot be read).
    public static func raiseOpenFileLimit() -> Int {
        Int(shim_raise_nofile_limit())
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
