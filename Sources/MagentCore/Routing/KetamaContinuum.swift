// The ketama ring of the original magent: MD5-derived points per server, sorted, and the
// lookup of the server that owns a 32-bit hash (compat §2.2).

/// A consistent-hashing ring built once per server list, bit-exact with magent 0.6.
///
/// Every server gets `stepsPerServer(serverCount:)` MD5 digests of `"<name>-<k>"`, each
/// giving four points. A hash belongs to the owner of the first point at or above it,
/// wrapping to the lowest point. Lookups only read two arrays: no allocation.
public struct KetamaContinuum: Sendable {
    /// Ring points in ascending order.
    let points: [UInt32]
    /// `owners[i]` is the index of the server that owns `points[i]`.
    let owners: [Int]
    /// The number of servers on the ring.
    public let serverCount: Int
    /// `bucketStarts[b]` is the index of the first point >= `b << bucketShift`
    /// (`points.count` when there is none); one more entry closes the last
    /// bucket. A lookup scans only its hash's bucket (about one point) instead
    /// of a dozen unpredictable binary-search steps.
    let bucketStarts: [Int32]
    static let bucketBits: UInt32 = 12
    static var bucketShift: UInt32 { 32 - bucketBits }

    /// Builds the ring. `serverNames` has one entry per server, in index order, each
    /// `"<host as typed>-<port number>"`, e.g. `"127.0.0.1-21201"`. Must not be empty.
    public init(serverNames: [String]) {
        precondition(!serverNames.isEmpty, "a ketama continuum needs at least one server")
        serverCount = serverNames.count
        let steps = Self.stepsPerServer(serverCount: serverNames.count)
        var ring: [(point: UInt32, owner: Int)] = []
        ring.reserveCapacity(serverNames.count * steps * 4)
        for (owner, name) in serverNames.enumerated() {
            for step in 0..<steps {
                var label = "\(name)-\(step)"
                let digest = label.withUTF8 { MD5.digest(UnsafeRawBufferPointer($0)) }
                for word in 0..<4 {
                    ring.append((digest.word(word), owner))
                }
            }
        }
        // Equal points keep the lower server index first; ordering by (point, owner) makes
        // that explicit rather than relying on the sort being stable.
        ring.sort { $0.point != $1.point ? $0.point < $1.point : $0.owner < $1.owner }
        points = ring.map(\.point)
        owners = ring.map(\.owner)
        var starts: [Int32] = []
        starts.reserveCapacity((1 << Self.bucketBits) + 1)
        var index = 0
        for bucket in 0..<(1 << Int(Self.bucketBits)) {
            let low = UInt32(bucket) << Self.bucketShift
            while index < points.count && points[index] < low { index += 1 }
            starts.append(Int32(index))
        }
        starts.append(Int32(points.count))
        bucketStarts = starts
    }

    /// How many MD5 digests (of four points each) every server contributes.
    ///
    /// magent gives each server weight 100 and computes `floorf(pct * 500 * count)` with
    /// `pct = 100 / (100 * count)`, all in 32-bit float. Rounding makes that 499 instead of
    /// 500 for some counts (47, 59, 83, 94, 101, ...), which moves keys, so it is kept.
    static func stepsPerServer(serverCount: Int) -> Int {
        let count = Float(serverCount)
        let share: Float = Float(100) / Float(100 * serverCount)
        let scaled: Float = (share * Float(500)) * count
        return Int(scaled.rounded(.down))
    }

    /// The index of the server owning `hash`: the owner of the first point >= `hash`, or of
    /// the lowest point when `hash` is above them all.
    public func serverIndex(forHash hash: UInt32) -> Int {
        owners[firstPointIndex(atOrAbove: hash)]
    }

    /// The first point >= `hash`; 0 when there is none (the wrap). Every point
    /// before the hash's bucket is below it and the next bucket's first point
    /// is above it, so the answer lies in the bucket or is the next bucket's start.
    func firstPointIndex(atOrAbove hash: UInt32) -> Int {
        let bucket = Int(hash >> Self.bucketShift)
        return points.withUnsafeBufferPointer { sorted in
            bucketStarts.withUnsafeBufferPointer { starts in
                // A binary search within the bucket: about one point with a
                // few servers, still short with hundreds.
                var low = Int(starts[bucket])
                var high = Int(starts[bucket + 1])
                while low < high {
                    let middle = low + (high - low) / 2
                    if sorted[middle] < hash { low = middle + 1 } else { high = middle }
                }
                return low == sorted.count ? 0 : low
            }
        }
    }

    /// The same answer by binary search over all points (kept to check the buckets against).
    func firstPointIndexBySearch(atOrAbove hash: UInt32) -> Int {
        points.withUnsafeBufferPointer { sorted in
            var low = 0
            var high = sorted.count
            while low < high {
                let middle = low + (high - low) / 2
                if sorted[middle] < hash {
                    low = middle + 1
                } else {
                    high = middle
                }
            }
            return low == sorted.count ? 0 : low
        }
    }
}
