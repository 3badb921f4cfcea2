#if canImport(Glibc)
import Glibc
#endif

/// Monotonic clock in nanoseconds (CLOCK_MONOTONIC, vDSO: no syscall).
@inline(__always)
func monotonicNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// This process's user+system CPU time in seconds (getrusage RUSAGE_SELF).
func ownCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let user = Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
    let system = Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    return user + system
}

/// Reads another process's CPU time and memory from /proc (the broker under test).
struct ProcessProbe {
    let pid: Int32

    /// utime + stime from /proc/<pid>/stat, in seconds; nil if the process is gone.
    func cpuSeconds() -> Double? {
        guard let text = readSmallFile("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) is in parentheses and may contain spaces: split after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let rest = text[text.index(after: close)...].split(separator: " ")
        // rest[0] is field 3 (state); utime is field 14, stime field 15.
        guard rest.count > 12, let utime = Double(rest[11]), let stime = Double(rest[12]) else { return nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return (utime + stime) / ticks
    }

    /// VmRSS from /proc/<pid>/status, in bytes.
    func residentBytes() -> Int? { statusField("VmRSS:") }

    /// VmHWM (peak RSS) from /proc/<pid>/status, in bytes.
    func peakResidentBytes() -> Int? { statusField("VmHWM:") }

    private func statusField(_ key: String) -> Int? {
        guard let text = readSmallFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(key) {
            let parts = line.split(separator: " ", omittingEmptySubsequences: true)
            if parts.count >= 2, let kib = Int(parts[1]) { return kib * 1024 }
        }
        return nil
    }
}

/// Reads a small text file (procfs) with plain POSIX calls.
func readSmallFile(_ path: String) -> String? {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, 4096) }
        if n <= 0 { break }
        bytes.append(contentsOf: chunk[0..<n])
    }
    return String(decoding: bytes, as: UTF8.self)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit; returns the new soft limit.
@discardableResult
func raiseFileLimit() -> Int {
    var limit = rlimit()
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    limit.rlim_cur = limit.rlim_max
    setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
    return Int(limit.rlim_cur)
}
