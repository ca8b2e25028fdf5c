// When a server's host name may be looked up again after a failed probe: at
// most once per interval, and never while a lookup for it is still running.
// A value the health monitor keeps per server; the clock is passed in.

struct ResolveThrottle: Equatable {
    /// The shortest time between two lookups' starts.
    static let intervalMilliseconds: UInt64 = 5000

    let intervalMilliseconds: UInt64
    /// When the last lookup started (monotonic milliseconds); nil before the first.
    private(set) var lastStart: UInt64?
    private(set) var inFlight = false

    init(intervalMilliseconds: UInt64 = Self.intervalMilliseconds) {
        self.intervalMilliseconds = intervalMilliseconds
    }

    /// Whether a lookup may start at `now`; if so it is counted as started.
    mutating func start(now: UInt64) -> Bool {
        guard !inFlight else { return false }
        if let lastStart, now &- lastStart < intervalMilliseconds { return false }
        lastStart = now
        inFlight = true
        return true
    }

    /// The lookup started last has answered (with an address or not).
    mutating func finished() { inFlight = false }
}
