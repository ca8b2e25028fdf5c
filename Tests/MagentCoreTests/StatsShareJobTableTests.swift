// StatsShareJob's decision table: one primary's `stats` for memcached-format
// `stats`. Its STAT lines are kept for the merge; a server down, failing or
// answering an error leaves nothing to sum.

import Testing
@testable import MagentCore

@Suite struct StatsShareJobTableTests {
    @Test func answeredWhole() {
        var job = StatsShareJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.stats, to: .primary)]),
            (.statLine(.primary), [.pass]),
            (.statLine(.primary), [.pass]),
            (.ended(.primary, .noBackup), [.completeReply]),
        ])
    }

    @Test("a server marked down is not asked", arguments: [RouteStatus.noBackupPrimaryDown, .primaryDown])
    func down(_ status: RouteStatus) {
        var job = StatsShareJob()
        playToFinish(&job, [(.start(status), [.completeReply])], table: describe(status))
    }

    /// A recovering server is in use: its stats count.
    @Test func recoveringIsAsked() {
        var job = StatsShareJob()
        play(&job, [(.start(.primaryRecovering), [.send(.stats, to: .primary)])])
    }

    @Test("no whole reply: what came is dropped", arguments: [BackendFailure.timeout, .unavailable, .notSent, .connectTimeout, .protocolError])
    func failed(_ reason: BackendFailure) {
        var job = StatsShareJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.stats, to: .primary)]),
            (.statLine(.primary), [.pass]),
            (.failed(.primary, reason, .noBackup, replyStarted: false), [.restartReply, .completeReply]),
        ], table: "\(reason)")
    }

    @Test("an error line instead of STAT lines", arguments: [ReplyLine.unknownCommand, .error])
    func errorLine(_ line: ReplyLine) {
        var job = StatsShareJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.stats, to: .primary)]),
            (.line(.primary, line, .noBackup), [.restartReply, .completeReply]),
        ], table: "\(line)")
    }

    @Test func ignoresItemsBackupAndClientEvents() {
        var job = StatsShareJob()
        _ = job.handle(.start(.noBackup))
        expectIgnored(&job, [
            .itemStarted(.primary, keptDelete: false), .itemBytes(.primary, endsItem: true), .statLine(.backup),
            .ended(.backup, .noBackup), .valueCaptured, .valueAbandoned, .shareCompleted,
        ])
        #expect(!job.isFinished)
    }

    @Test func ignoresEverythingOnceDone() {
        var job = StatsShareJob()
        _ = job.handle(.start(.noBackup))
        _ = job.handle(.ended(.primary, .noBackup))
        #expect(job.isFinished)
        expectIgnored(&job, everyEvent(.noBackup))
    }
}
