// ReplicationJob's decision table: the key read back from the primary (after
// a write the backup cannot repeat, or mg with T) is set on the backup, or
// deleted there when the primary no longer has it. When the backup cannot
// take it, or the primary cannot say, what the backup missed is kept.

import Testing
@testable import MagentCore

@Suite struct ReplicationJobTableTests {
    @Test func foundIsSetOnTheBackup() {
        var job = ReplicationJob()
        play(&job, [(.start(.bothUp), [.send(.lookupKey, to: .primary)])])
        #expect(job.state == .reading)
        playToFinish(&job, [
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: true), [.keepCopy(.set)]),
            (.ended(.primary, .bothUp), [.keptKeyWritten(.backup), .send(.keptCopy, to: .backup)]),
        ])
        #expect(job.found)
        #expect(job.state == .done)
    }

    @Test func notFoundIsDeletedOnTheBackup() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.ended(.primary, .bothUp), [.send(.deleteKey, to: .backup)]),
        ])
        #expect(!job.found)
    }

    static let foundBackupGoneCases: [StatusCase] = [
        StatusCase("backup down: a missed write kept for it", .backupDown, [.keepMissedWrite(.backup)]),
        StatusCase("no backup: nothing kept", .noBackup, []),
        StatusCase("both down: a missed write kept for the backup", .bothDown, [.keepMissedWrite(.backup)]),
    ]

    @Test("found, backup not usable by the end: nothing sent, a missed write kept for a configured backup",
          arguments: foundBackupGoneCases)
    func foundBackupGone(_ test: StatusCase) {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: true), [.keepCopy(.set)]),
            (.ended(.primary, test.status), test.actions),
        ], table: test.name)
    }

    /// Not found, no backup: nothing to delete anywhere.
    @Test func notFoundNoBackup() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.lookupKey, to: .primary)]),
            (.ended(.primary, .noBackup), []),
        ])
        #expect(!job.found)
    }

    static let notFoundBackupGoneCases: [StatusCase] = [
        StatusCase("backup down: a delete kept for it", .backupDown, [.keepDelete(.backup)]),
        StatusCase("both down: a delete kept for the backup", .bothDown, [.keepDelete(.backup)]),
    ]

    /// The key is gone from the primary and the backup is away: it must not bring it back.
    @Test("not found, backup not usable by the end: a delete kept for it", arguments: notFoundBackupGoneCases)
    func notFoundBackupGone(_ test: StatusCase) {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.ended(.primary, test.status), test.actions),
        ], table: test.name)
        #expect(!job.found)
    }

    static let cannotSay: [JobEvent] = [
        .line(.primary, .error, .bothUp),
        .line(.primary, .unknownCommand, .bothUp),
        .line(.primary, .success, .bothUp),
        .failed(.primary, .timeout, .bothUp, replyStarted: false),
        .failed(.primary, .notSent, .bothUp, replyStarted: false),
        .line(.primary, .error, .backupDown),
        .failed(.primary, .timeout, .backupDown, replyStarted: false),
    ]

    /// The primary could not say: the backup's copy may be older than the
    /// primary's (the write it follows was applied there), so it is kept as a
    /// missed write, whether the backup is up or not.
    @Test("a line or a failure: done, nothing sent, a missed write kept for the backup", arguments: cannotSay)
    func primaryCannotSay(_ event: JobEvent) {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (event, [.keepMissedWrite(.backup)]),
        ], table: describe(event))
        #expect(job.state == .done)
    }

    static let cannotSayNoBackup: [JobEvent] = [
        .line(.primary, .error, .noBackup),
        .failed(.primary, .timeout, .noBackup, replyStarted: false),
    ]

    /// No backup configured: nothing to keep.
    @Test("a line or a failure, no backup: done, nothing kept", arguments: cannotSayNoBackup)
    func primaryCannotSayNoBackup(_ event: JobEvent) {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.lookupKey, to: .primary)]),
            (event, []),
        ], table: describe(event))
        #expect(job.state == .done)
    }

    /// A copy cut off mid-value is never sent: a missed write is kept for the backup.
    @Test func failureMidValue() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: false), [.keepCopy(.set)]),
            (.failed(.primary, .unavailable, .bothUp, replyStarted: false), [.keepMissedWrite(.backup)]),
        ])
        #expect(job.found)
    }

    // MARK: - After a write: the replication completes the client's reply

    static let answeringEnds: [(String, [TableRow])] = [
        ("found: the copy goes to the backup, then the primary's kept reply", [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: true), [.keepCopy(.set)]),
            (.ended(.primary, .bothUp), [.keptKeyWritten(.backup), .send(.keptCopy, to: .backup), .passKeptReply, .completeReply]),
        ]),
        ("not found: the delete goes to the backup, then the primary's kept reply", [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.ended(.primary, .bothUp), [.send(.deleteKey, to: .backup), .passKeptReply, .completeReply]),
        ]),
        ("found, backup gone meanwhile: a missed write kept, then the primary's kept reply", [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: true), [.keepCopy(.set)]),
            (.ended(.primary, .backupDown), [.keepMissedWrite(.backup), .passKeptReply, .completeReply]),
        ]),
        ("the primary fails the read-back: the write may be gone with it, the client hears the failure", [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false),
             [.keepMissedWrite(.backup), .passFailure(.timeout), .completeReply]),
        ]),
        ("the primary dies mid-value: the copy is never sent, the client hears the failure", [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.failed(.primary, .unavailable, .primaryDown, replyStarted: false),
             [.keepMissedWrite(.backup), .passFailure(.unavailable), .completeReply]),
        ]),
        ("an error line: a protocol error for the client", [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.line(.primary, .error, .bothUp), [.keepMissedWrite(.backup), .passFailure(.protocolError), .completeReply]),
        ]),
    ]

    @Test func answeringClientCompletesOrFailsTheReply() {
        for (name, rows) in Self.answeringEnds {
            var job = ReplicationJob(answersClient: true)
            playToFinish(&job, rows, table: name)
        }
    }

    // MARK: - Events a state cannot take

    @Test func idleTakesOnlyStart() {
        var job = ReplicationJob()
        expectIgnored(&job, everyEvent().filter { if case .start = $0 { return false } else { return true } })
        #expect(job.state == .idle)
        #expect(!job.found)
    }

    @Test func readingIgnoresStartAndClientEvents() {
        var job = ReplicationJob()
        _ = job.handle(.start(.bothUp))
        expectIgnored(&job, [.start(.bothUp), .valueCaptured, .valueAbandoned, .shareCompleted])
        #expect(job.state == .reading)
    }

    @Test func doneIgnoresEverything() {
        var job = ReplicationJob()
        _ = job.handle(.start(.bothUp))
        _ = job.handle(.ended(.primary, .bothUp))
        expectIgnored(&job, everyEvent())
        #expect(job.state == .done)
        #expect(!job.found)
    }
}
