// ServerHealth's two guards against acting on a server that may not be what
// it seems: doubt (a connection failed or closed: it may have restarted
// empty) until an identity check started after it answers, and settling (a
// failed request may still run there) until it has answered for the settle time.

import Testing
@testable import MagentCore

@Suite struct ServerHealthTests {
    @Test func doubtLastsUntilACheckStartedAfterItAnswers() {
        let health = ServerHealth(failureLimit: 2)
        #expect(!health.mayHaveRestarted)
        let before = health.doubtCount
        health.doubtIdentity()
        #expect(health.mayHaveRestarted)
        // A check that started before the doubt proves nothing about it.
        health.identityConfirmed(upTo: before)
        #expect(health.mayHaveRestarted)
        let started = health.doubtCount
        health.identityConfirmed(upTo: started)
        #expect(!health.mayHaveRestarted)
        // A doubt while a check runs outlives that check.
        let running = health.doubtCount
        health.doubtIdentity()
        health.identityConfirmed(upTo: running)
        #expect(health.mayHaveRestarted)
        // An older check answering late never undoes a newer confirmation.
        health.identityConfirmed(upTo: health.doubtCount)
        health.identityConfirmed(upTo: running)
        #expect(!health.mayHaveRestarted)
    }

    @Test func settlesOnlyAfterAnsweringForTheSettleTime() {
        let health = ServerHealth(failureLimit: 5)
        #expect(health.hasSettled(now: MonotonicClock.milliseconds(), settleMilliseconds: 1000), "never failed")
        _ = health.recordFailure()
        let failedAt = MonotonicClock.milliseconds()
        #expect(!health.hasSettled(now: failedAt + 5000, settleMilliseconds: 1000), "failed, not answered since")
        health.recordSuccess()
        let answered = MonotonicClock.milliseconds()
        #expect(!health.hasSettled(now: answered, settleMilliseconds: 1000), "answering, not for long enough")
        #expect(health.hasSettled(now: answered + 2000, settleMilliseconds: 1000))
        _ = health.recordFailure()
        #expect(!health.hasSettled(now: MonotonicClock.milliseconds() + 5000, settleMilliseconds: 1000), "failed again")
    }
}
