// Time and bounded waits: a monotonic clock, the one sleep the waits are built
// on, and polls of a condition with a deadline and a short interval.
import Glibc

/// Seconds on a monotonic clock.
public func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

/// Blocks the calling thread for `seconds`. The polls below are built on it; a
/// test calls it only for a pause that is the scenario itself (a client silent
/// on purpose, a server kept down a while, a window CPU use is measured over),
/// with a comment saying so. Waiting for a state is `waitUntil` or `waitFor`.
public func sleep(seconds: Double) {
    usleep(UInt32(max(0, seconds) * 1_000_000))
}

/// Polls `condition` every `interval` until it holds or `timeout` passes (bounded
/// in rounds too); returns whether it held. For callers that report the outcome
/// themselves (an `#expect` with the state seen); `waitFor` throws instead.
@discardableResult
public func waitUntil(timeout: Double, interval: Double = 0.02, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = now() + timeout
    let maxRounds = Int(timeout / interval) + 2
    for _ in 0..<maxRounds {
        if try condition() { return true }
        if now() >= deadline { break }
        sleep(seconds: interval)
    }
    return try condition()
}

/// Polls `condition` as `waitUntil` does; when it still does not hold at the
/// deadline, throws a HarnessError "gave up after N s waiting for <what>", with
/// `detail()` (the state last seen) appended.
public func waitFor(_ what: String, timeout: Double, interval: Double = 0.02,
                    detail: () -> String = { "" }, _ condition: () throws -> Bool) throws {
    if try waitUntil(timeout: timeout, interval: interval, condition) { return }
    let seen = detail()
    throw HarnessError("gave up after \(timeout) s waiting for \(what)" + (seen.isEmpty ? "" : ": \(seen)"))
}
