// ResolveThrottle with a clock the test moves: a down server's name is looked
// up at most once per interval, and never while its last lookup runs.

import Testing
@testable import MagentCore

@Suite struct ResolveThrottleTests {
    /// `start` outside #expect, which cannot call a mutating member.
    private func starts(_ throttle: inout ResolveThrottle, at now: UInt64) -> Bool { throttle.start(now: now) }

    @Test func theFirstLookupStartsAtOnce() {
        var throttle = ResolveThrottle()
        #expect(throttle.intervalMilliseconds == 5000)
        #expect(starts(&throttle, at: 123))
        #expect(throttle.inFlight)
        #expect(throttle.lastStart == 123)
    }

    @Test func oneInFlightAtATime() {
        var throttle = ResolveThrottle(intervalMilliseconds: 5000)
        #expect(starts(&throttle, at: 1000))
        // Long past the interval, but the lookup has not answered.
        #expect(!starts(&throttle, at: 60_000))
        throttle.finished()
        #expect(starts(&throttle, at: 60_000))
    }

    @Test func atMostOncePerInterval() {
        var throttle = ResolveThrottle(intervalMilliseconds: 5000)
        #expect(starts(&throttle, at: 1000))
        throttle.finished()
        #expect(!starts(&throttle, at: 1001))
        #expect(!starts(&throttle, at: 5999))
        #expect(throttle.lastStart == 1000, "a refused start is not counted")
        #expect(starts(&throttle, at: 6000))
        throttle.finished()
        #expect(!starts(&throttle, at: 10_999))
        #expect(starts(&throttle, at: 11_000))
    }

    @Test func aFailedStartCanBeUndone() {
        // The thread could not start: finished() frees it; the interval still counts.
        var throttle = ResolveThrottle(intervalMilliseconds: 100)
        #expect(starts(&throttle, at: 0))
        throttle.finished()
        #expect(!throttle.inFlight)
        #expect(!starts(&throttle, at: 50))
        #expect(starts(&throttle, at: 100))
    }
}
