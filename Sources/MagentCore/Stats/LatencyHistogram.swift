// Latency histograms with fixed bucket bounds, one row per command family or
// server: written by one thread without locks or allocation, summed at scrape.

/// Rows of `LatencyHistogram.bounds.count + 1` bucket counters (the last is
/// above every bound, +Inf) and one sum in nanoseconds. Buckets are kept
/// non-cumulative, so a record is two relaxed increments; the exposition makes
/// them cumulative. One writer thread per histogram, as with `CounterBlock`.
/// `limits` is written once, in init, and only read after.
public final class LatencyHistogram: @unchecked Sendable {
    /// Upper bounds in nanoseconds: 50µs to 2.5s. A duration equal to a bound
    /// falls in that bound's bucket (Prometheus's `le`).
    public static let bounds: [UInt64] = [
        50_000, 100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000, 10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000, 1_000_000_000, 2_500_000_000,
    ]
    /// Buckets per row: one per bound, and +Inf. Literals (checked against
    /// `bounds` in init), so the hot path reads no lazily made global.
    public static let bucketCount = 16
    private static let stride = 17

    /// What one row (or the sum of several) holds when read.
    public struct Counts: Sendable, Equatable {
        /// Per bucket, not cumulative; `bucketCount` entries.
        public var buckets: [Int]
        public var sumNanoseconds: Int

        public init(buckets: [Int] = Array(repeating: 0, count: LatencyHistogram.bucketCount), sumNanoseconds: Int = 0) {
            self.buckets = buckets
            self.sumNanoseconds = sumNanoseconds
        }

        public var count: Int { buckets.reduce(0, +) }

        /// The running totals the `_bucket{le=...}` lines carry, +Inf last.
        public var cumulative: [Int] {
            var total = 0
            return buckets.map { total += $0; return total }
        }

        public static func + (left: Counts, right: Counts) -> Counts {
            Counts(buckets: zip(left.buckets, right.buckets).map { $0 + $1 },
                   sumNanoseconds: left.sumNanoseconds + right.sumNanoseconds)
        }
    }

    public let rows: Int
    private let block: CounterBlock
    /// A copy of `bounds` the hot path reads without touching the global,
    /// with `UInt64.max` after the last (the +Inf bucket's bound).
    private let limits: UnsafeMutablePointer<UInt64>
    /// By bit width (0...64) of a duration: the first bucket a duration of
    /// that width can fall in, so the search starts next to its answer.
    private let firstBucketByWidth: UnsafeMutablePointer<UInt8>

    public init(rows: Int) {
        precondition(Self.bucketCount == Self.bounds.count + 1 && Self.stride == Self.bucketCount + 1)
        self.rows = rows
        block = CounterBlock(count: rows * Self.stride)
        limits = .allocate(capacity: Self.bucketCount)
        limits.initialize(from: Self.bounds + [UInt64.max], count: Self.bucketCount)
        firstBucketByWidth = .allocate(capacity: 65)
        for width in 0...64 {
            // The smallest duration of this width: 0, or 2^(width-1).
            let smallest: UInt64 = width == 0 ? 0 : 1 << UInt64(width - 1)
            let first = Self.bounds.firstIndex { smallest <= $0 } ?? Self.bounds.count
            (firstBucketByWidth + width).initialize(to: UInt8(first))
        }
    }

    deinit {
        limits.deallocate()
        firstBucketByWidth.deallocate()
    }

    /// The bucket `nanoseconds` falls in: the first bound it does not exceed.
    /// Bounds grow by at least 2x, so from the first bucket of its bit width
    /// a duration moves on at most twice.
    @inline(__always)
    public func bucket(forNanoseconds nanoseconds: UInt64) -> Int {
        var index = Int(firstBucketByWidth[UInt64.bitWidth - nanoseconds.leadingZeroBitCount])
        while nanoseconds > limits[index] { index += 1 }
        return index
    }

    /// Called only by the histogram's own thread.
    @inline(__always)
    public func record(row: Int, nanoseconds: UInt64) {
        let base = row * Self.stride
        block.add(base + bucket(forNanoseconds: nanoseconds))
        block.add(base + Self.bucketCount, Int(truncatingIfNeeded: nanoseconds))
    }

    /// One row as it is now (read from any thread).
    public func counts(row: Int) -> Counts {
        let base = row * Self.stride
        return Counts(buckets: (0..<Self.bucketCount).map { block.value(base + $0) },
                      sumNanoseconds: block.value(base + Self.bucketCount))
    }
}
