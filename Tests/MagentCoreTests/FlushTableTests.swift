// flush_all's decisions as tables: which servers missed a broadcast
// (FlushBroadcast: only once some server took it), when a flush takes effect
// and the line that gives it to a server later (MissedFlush), and when a
// refill batch must be undone because a flush may have run (FlushActivity).

import Testing
@testable import MagentCore

@Suite struct FlushTableTests {
    // MARK: - FlushBroadcast

    private typealias Outcome = (server: Int, took: Bool, marking: FlushBroadcast.Marking, waiting: [Int32])

    private func play(_ rows: [Outcome], sourceLocation: SourceLocation = #_sourceLocation) -> FlushBroadcast {
        var flush = FlushBroadcast()
        for (index, row) in rows.enumerated() {
            let marking = flush.outcome(server: row.server, took: row.took)
            #expect(marking == row.marking, "row \(index)", sourceLocation: sourceLocation)
            #expect(flush.waiting == row.waiting, "row \(index)", sourceLocation: sourceLocation)
            if marking == .waiting { flush.forgetWaiting() }
        }
        return flush
    }

    @Test func everyServerTookIt() {
        let flush = play([(0, true, .nothing, []), (1, true, .nothing, []), (2, true, .nothing, [])])
        #expect(flush.taken)
    }

    /// Failures before the first OK wait for it; after it, each is marked at once.
    @Test func theServersThatDidNotAreMarkedOnceOneDid() {
        let flush = play([
            (3, false, .nothing, [3]),   // down, left out at the start
            (1, false, .nothing, [3, 1]),  // refused or failed
            (0, true, .waiting, [3, 1]),
            (2, false, .this, []),       // timed out later
            (4, true, .nothing, []),
        ])
        #expect(flush.taken)
    }

    /// No server took it: every copy is as it was, and no server is taken out of use.
    @Test func noServerTookIt() {
        var flush = play([(0, false, .nothing, [0]), (1, false, .nothing, [0, 1])])
        #expect(!flush.taken)
        flush.reset()
        #expect(flush == FlushBroadcast())
    }

    // MARK: - MissedFlush

    @Test("when a flush_all takes effect", arguments: [
        (Int64(0), 1_000_000, 1_000_000),
        (-5, 1_000_000, 1_000_000),
        (30, 1_000_000, 1_000_030),
        (2_592_000, 1_000_000, 3_592_000),       // 30 days: still relative
        (2_592_001, 1_000_000, 2_592_001),       // past 30 days: a unix time
        (1_900_000_000, 1_000_000, 1_900_000_000),
    ])
    func deadline(_ delay: Int64, _ now: Int, _ expected: Int) {
        #expect(MissedFlush.deadline(delay: delay, now: now) == expected)
    }

    @Test("the line that gives a server the flush it missed", arguments: [
        (1_000_000, 1_000_000, "flush_all\r\n"),       // at once, given now
        (1_000_000, 1_000_500, "flush_all\r\n"),       // its moment passed
        (1_000_030, 1_000_000, "flush_all 30\r\n"),    // the seconds left
        (1_000_030, 1_000_029, "flush_all 1\r\n"),
        (1_900_000_000, 1_000_000, "flush_all 1900000000\r\n"),  // past 30 days: the unix time
    ])
    func retryLine(_ deadline: Int, _ now: Int, _ expected: String) {
        #expect(MissedFlush(deadline: deadline).line(now: now) == expected)
    }

    @Test("a flush_all argument's number", arguments: [
        ("0", Int64(0)), ("30", 30), ("-1", -1), ("2592001", 2_592_001), ("99999999999999999999", Int64.max),
    ])
    func delay(_ argument: String, _ expected: Int64) {
        #expect(Array(argument.utf8).withUnsafeBytes { MissedFlush.delay($0) } == expected)
    }

    @Test func aDeadlineIsNeverZero() {
        // 0 means "nothing missed" in ServerHealth.
        #expect(MissedFlush(deadline: 0).deadline == 1)
        #expect(MissedFlush.deadline(delay: 0, now: 0) == 1)
    }

    // MARK: - ServerHealth

    @Test func aMissedFlushMarksTheServerDownUntilItIsGiven() {
        let health = ServerHealth(failureLimit: 2)
        let first = MissedFlush(deadline: 100)
        #expect(health.noteMissedFlush(first))
        #expect(!health.isUp)
        #expect(health.missedFlushDeadline == 100)
        // A newer one missed meanwhile: giving the older one does not clear it.
        let newer = MissedFlush(deadline: 200)
        #expect(!health.noteMissedFlush(newer))  // already down
        #expect(!health.flushGiven(first))
        #expect(health.missedFlushDeadline == 200)
        #expect(health.flushGiven(newer))
        #expect(health.missedFlushDeadline == 0)
        // Still down: only the probe marks it up.
        #expect(!health.isUp)
        #expect(health.markUp())
    }

    // MARK: - FlushActivity

    @Test("a flush may have run between two looks", arguments: [
        (0, 0, 0, 0, false),
        (3, 0, 3, 0, false),
        (3, 0, 4, 0, true),   // one began and ended
        (3, 0, 4, 1, true),   // one began
        (3, 1, 3, 1, true),   // in flight all along: it may have reached the servers after the first look
        (3, 1, 3, 0, true),
    ])
    func mayHaveRun(_ startedBefore: Int, _ inFlightBefore: Int, _ startedAfter: Int, _ inFlightAfter: Int, _ expected: Bool) {
        let before = FlushActivity.Snapshot(started: startedBefore, inFlight: inFlightBefore)
        let after = FlushActivity.Snapshot(started: startedAfter, inFlight: inFlightAfter)
        #expect(FlushActivity.mayHaveRun(between: before, and: after) == expected)
    }
}
