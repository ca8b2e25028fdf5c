// Milliseconds that only go forward, for deadlines; nanoseconds, for the
// latency histograms.
import Glibc

enum MonotonicClock {
    static func milliseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now)
        return UInt64(now.tv_sec) &* 1000 &+ UInt64(now.tv_nsec / 1_000_000)
    }

    /// The precise monotonic clock (a vDSO call, no system call): one read
    /// when a request starts and one when it completes.
    @inline(__always)
    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    static func timeval(milliseconds: UInt64) -> Glibc.timeval {
        Glibc.timeval(tv_sec: Int(milliseconds / 1000), tv_usec: Int((milliseconds % 1000) * 1000))
    }
}
