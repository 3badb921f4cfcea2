/// HdrHistogram-like log-linear histogram of nanosecond values: exact below 256 ns, then 128
/// sub-buckets per power of two (relative error under 0.8%). Recording is O(1), no allocation.
struct LatencyHistogram {
    private static let linear = 256
    private static let subBuckets = 128
    private static let bucketCount = linear + 56 * subBuckets

    private var counts: [UInt64]
    private(set) var total: UInt64 = 0
    private(set) var sum: UInt64 = 0
    private(set) var maxValue: UInt64 = 0
    private(set) var minValue: UInt64 = .max

    init() { counts = [UInt64](repeating: 0, count: Self.bucketCount) }

    @inline(__always)
    private static func index(_ v: UInt64) -> Int {
        if v < UInt64(linear) { return Int(v) }
        let msb = 63 - v.leadingZeroBitCount        // >= 8
        let shift = msb - 7                          // >= 1
        let top = Int(v >> UInt64(shift))            // 128...255
        return linear + (shift - 1) * subBuckets + (top - subBuckets)
    }

    /// Upper bound of the values in bucket `i` (reported values err on the high side).
    private static func upperValue(_ i: Int) -> UInt64 {
        if i < linear { return UInt64(i) }
        let shift = (i - linear) / subBuckets + 1
        let top = UInt64((i - linear) % subBuckets + subBuckets)
        return ((top + 1) << UInt64(shift)) - 1
    }

    @inline(__always)
    mutating func record(_ v: UInt64) {
        let i = Self.index(v)
        counts.withUnsafeMutableBufferPointer { $0[min(i, Self.bucketCount - 1)] &+= 1 }
        total &+= 1
        sum &+= v
        if v > maxValue { maxValue = v }
        if v < minValue { minValue = v }
    }

    /// Value at quantile q (0...1), in ns.
    func value(at q: Double) -> UInt64 {
        guard total > 0 else { return 0 }
        let rank = max(1, UInt64((Double(total) * q).rounded(.up)))
        var seen: UInt64 = 0
        for (i, c) in counts.enumerated() where c > 0 {
            seen += c
            if seen >= rank { return min(Self.upperValue(i), maxValue) }
        }
        return maxValue
    }

    var mean: Double { total == 0 ? 0 : Double(sum) / Double(total) }
}
