// BroadcastJob's decision table: flush_all and verbosity go to every distinct
// server in use; OK only if every server said OK (a server left out because
// it is down counts as a refusal).

import Testing
@testable import MagentCore

@Suite struct BroadcastJobTableTests {
    @Test func allServersSayOK() {
        var job = BroadcastJob(sent: 3, down: 0)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.everyServer, to: .primary)]),
            (.line(.primary, .ok, .bothUp), []),
            (.line(.backup, .ok, .bothUp), []),
            (.line(.primary, .ok, .bothUp), [.passBroadcastResult(allOK: true), .completeReply]),
        ])
        #expect(job.outstanding == 0)
        #expect(job.refusals == 0)
    }

    @Test func oneServerSaysOK() {
        var job = BroadcastJob(sent: 1, down: 0)
        playToFinish(&job, [
            (.start(.noBackup), [.send(.everyServer, to: .primary)]),
            (.line(.primary, .ok, .noBackup), [.passBroadcastResult(allOK: true), .completeReply]),
        ])
    }

    /// Anything but OK is a refusal.
    @Test("a refusal", arguments: [ReplyLine.error, .unknownCommand, .success, .refused, .miss, .other])
    func refusal(_ line: ReplyLine) {
        var job = BroadcastJob(sent: 2, down: 0)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.everyServer, to: .primary)]),
            (.line(.primary, line, .bothUp), []),
            (.line(.backup, .ok, .bothUp), [.passBroadcastResult(allOK: false), .completeReply]),
        ], table: "\(line)")
        #expect(job.refusals == 1)
    }

    @Test("a failure", arguments: [BackendFailure.timeout, .unavailable, .notSent, .connectTimeout, .protocolError])
    func failure(_ reason: BackendFailure) {
        var job = BroadcastJob(sent: 2, down: 0)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.everyServer, to: .primary)]),
            (.line(.primary, .ok, .bothUp), []),
            (.failed(.backup, reason, .bothUp, replyStarted: false), [.passBroadcastResult(allOK: false), .completeReply]),
        ], table: "\(reason)")
        #expect(job.refusals == 1)
    }

    @Test func allFail() {
        var job = BroadcastJob(sent: 2, down: 0)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.everyServer, to: .primary)]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false), []),
            (.failed(.backup, .unavailable, .bothUp, replyStarted: false), [.passBroadcastResult(allOK: false), .completeReply]),
        ])
        #expect(job.refusals == 2)
    }

    @Test func aServerDownIsARefusal() {
        var job = BroadcastJob(sent: 2, down: 1)
        playToFinish(&job, [
            (.start(.backupDown), [.send(.everyServer, to: .primary)]),
            (.line(.primary, .ok, .backupDown), []),
            (.line(.primary, .ok, .backupDown), [.passBroadcastResult(allOK: false), .completeReply]),
        ])
        #expect(job.refusals == 1)
    }

    @Test("nothing sent: every server down", arguments: [1, 3])
    func nothingSent(_ down: Int) {
        var job = BroadcastJob(sent: 0, down: down)
        playToFinish(&job, [(.start(.bothDown), [.passBroadcastResult(allOK: false), .completeReply])], table: "\(down) down")
        #expect(job.outstanding == 0)
    }

    // MARK: - Events it cannot take

    @Test func ignoresItemsClientAndMergeEvents() {
        var job = BroadcastJob(sent: 2, down: 0)
        _ = job.handle(.start(.bothUp))
        expectIgnored(&job, [
            .itemStarted(.primary, keptDelete: false), .itemBytes(.primary, endsItem: true), .ended(.primary, .bothUp),
            .valueCaptured, .valueAbandoned, .shareCompleted,
        ])
        #expect(job.outstanding == 2)
        #expect(job.refusals == 0)
        #expect(!job.isFinished)
    }

    /// A reply after the answer went out changes nothing the client hears.
    @Test func lateRepliesAfterTheResult() {
        var job = BroadcastJob(sent: 1, down: 0)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.everyServer, to: .primary)]),
            (.line(.primary, .ok, .bothUp), [.passBroadcastResult(allOK: true), .completeReply]),
        ])
        expectIgnored(&job, [
            .line(.primary, .ok, .bothUp), .failed(.backup, .timeout, .bothUp, replyStarted: false),
            .ended(.primary, .bothUp), .shareCompleted,
        ])
        #expect(job.isFinished)
    }
}
