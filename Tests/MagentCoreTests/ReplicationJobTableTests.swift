// ReplicationJob's decision table: the key read back from the primary (after
// a write the backup cannot repeat, or mg with T) is set on the backup, or
// deleted there when the primary no longer has it.

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
            (.ended(.primary, .bothUp), [.forgetDelete(.backup), .send(.keptCopy, to: .backup)]),
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

    static let backupGone: [StatusCase] = [
        StatusCase("backup down", .backupDown, []),
        StatusCase("no backup", .noBackup, []),
        StatusCase("both down", .bothDown, []),
    ]

    @Test("backup not usable by the end: nothing sent (found)", arguments: backupGone)
    func foundBackupGone(_ test: StatusCase) {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: true), [.keepCopy(.set)]),
            (.ended(.primary, test.status), test.actions),
        ], table: test.name)
    }

    /// Not found, no backup: nothing to delete anywhere. (Not found while a
    /// configured backup is down is not tabled: no delete is kept for that
    /// backup, which looks like a gap, so it is not pinned here.)
    @Test func notFoundNoBackup() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.lookupKey, to: .primary)]),
            (.ended(.primary, .noBackup), []),
        ])
        #expect(!job.found)
    }

    static let cannotSay: [JobEvent] = [
        .line(.primary, .error, .bothUp),
        .line(.primary, .unknownCommand, .bothUp),
        .line(.primary, .success, .bothUp),
        .failed(.primary, .timeout, .bothUp, replyStarted: false),
        .failed(.primary, .notSent, .bothUp, replyStarted: false),
    ]

    /// The primary could not say: the backup is left as it is.
    @Test("a line or a failure: done, nothing sent", arguments: cannotSay)
    func primaryCannotSay(_ event: JobEvent) {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (event, []),
        ], table: describe(event))
        #expect(job.state == .done)
    }

    /// A copy cut off mid-value is never sent.
    @Test func failureMidValue() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: false), [.keepCopy(.set)]),
            (.failed(.primary, .unavailable, .bothUp, replyStarted: false), []),
        ])
        #expect(job.found)
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
