// MergeJob's decision table: once every share completed, the VALUE blocks
// are assembled in the order the client asked for its keys.

import Testing
@testable import MagentCore

@Suite struct MergeJobTableTests {
    @Test func threeShares() {
        var job = MergeJob(shares: 3)
        play(&job, [(.shareCompleted, [])])
        #expect(job.sharesPending == 2)
        playToFinish(&job, [
            (.shareCompleted, []),
            (.shareCompleted, [.assembleMerge, .completeReply]),
        ])
        #expect(job.sharesPending == 0)
    }

    @Test func twoShares() {
        var job = MergeJob(shares: 2)
        playToFinish(&job, [
            (.shareCompleted, []),
            (.shareCompleted, [.assembleMerge, .completeReply]),
        ])
    }

    /// Only share completions count; backend and client events are not the merge's.
    @Test func ignoresEverythingButShareCompleted() {
        var job = MergeJob(shares: 2)
        expectIgnored(&job, everyEvent().filter { $0 != .shareCompleted })
        #expect(job.sharesPending == 2)
        #expect(!job.isFinished)
    }

    /// memcached-format `stats`: one share per primary, summed instead of merged.
    @Test("stats shares are summed", arguments: [1, 3])
    func statsTotals(_ shares: Int) {
        var job = MergeJob(shares: shares, assembly: .statsTotals)
        play(&job, Array(repeating: (.shareCompleted, []), count: shares - 1), table: "\(shares) shares")
        playToFinish(&job, [(.shareCompleted, [.assembleStatsTotals, .completeReply])], table: "\(shares) shares")
        expectIgnored(&job, everyEvent() + [.shareCompleted])
    }

    @Test func ignoresEverythingOnceAssembled() {
        var job = MergeJob(shares: 2)
        _ = job.handle(.shareCompleted)
        _ = job.handle(.shareCompleted)
        #expect(job.isFinished)
        expectIgnored(&job, everyEvent())
        expectIgnored(&job, [.shareCompleted])
        #expect(job.sharesPending == 0)
    }
}
