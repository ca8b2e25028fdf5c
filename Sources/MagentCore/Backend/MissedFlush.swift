// A flush_all a server did not take while another server did: its copies
// may hold what the others dropped, so it is kept out of use (marked down:
// nothing is read or refilled from it) until the health probe gives it the
// same flush. Here: when a flush takes effect, and the line that gives it later.

struct MissedFlush: Equatable, Sendable {
    /// memcached reads a flush_all delay above 30 days as a unix time.
    static let maxRelativeDelay: Int64 = 60 * 60 * 24 * 30

    /// When the flush takes effect, in unix seconds (never 0).
    let deadline: Int

    init(deadline: Int) { self.deadline = Swift.max(deadline, 1) }

    /// When `flush_all <delay>` sent at `now` (unix seconds) takes effect, as
    /// memcached reads it: at once for no delay, 0 or a negative one; a delay
    /// of up to 30 days counts from now; a larger one is a unix time.
    static func deadline(delay: Int64, now: Int) -> Int {
        if delay <= 0 { return Swift.max(now, 1) }
        if delay <= maxRelativeDelay { return now + Int(delay) }
        return Int(delay)
    }

    /// The number a flush_all line gives (the parser checked it is one).
    static func delay(_ argument: UnsafeRawBufferPointer) -> Int64 {
        var value: Int64 = 0
        var negative = false
        for (index, byte) in argument.enumerated() {
            if index == 0 && byte == UInt8(ascii: "-") {
                negative = true
                continue
            }
            guard byte >= 48 && byte <= 57 else { break }
            let (product, overflowed) = value.multipliedReportingOverflow(by: 10)
            guard !overflowed else { return negative ? Int64.min : Int64.max }
            value = product &+ Int64(byte - 48)
        }
        return negative ? -value : value
    }

    /// The line that gives a server this flush at `now`, with the same moment
    /// of effect: at once when that moment has passed (the server, down since
    /// it missed the flush, took no write since), else the seconds left (or
    /// the unix time, past 30 days).
    func line(now: Int) -> String {
        let remaining = Int64(deadline - now)
        if remaining <= 0 { return "flush_all\r\n" }
        if remaining <= Self.maxRelativeDelay { return "flush_all \(remaining)\r\n" }
        return "flush_all \(deadline)\r\n"
    }
}
