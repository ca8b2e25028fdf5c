// Decision tables for the faults the first job tables found: a restore cut
// off mid-value, a primary that went down during a restore, conditional
// deletes on a missing server, copies that must forget a kept delete; and the
// writes a server misses (away, failed, or not known to have applied them),
// kept so its stale copy is dropped or copied over when it is back.

import Testing
@testable import MagentCore

@Suite struct JobFaultTableTests {
    private static let mg = RetrievalJob.Kind.metaRead(replicatesOnHit: false, missFailoverAllowed: true)
    private static let incr = WriteJob(strategy: .primaryFirst(.readBack), isDelete: false, forgetsDeleteOnSuccess: true,
                                       valueFollows: false)
    /// md with C: conditional, so the primary first; still a delete.
    private static let conditionalDelete = WriteJob(strategy: .primaryFirst(.readBack), isDelete: true,
                                                    forgetsDeleteOnSuccess: false, valueFollows: false)
    /// Text set: both at once, the value streamed.
    private static let set = WriteJob(strategy: .parallel, isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: true)
    /// Text delete: both at once.
    private static let delete = WriteJob(strategy: .parallel, isDelete: true, forgetsDeleteOnSuccess: false, valueFollows: false)

    @Test func metaReadRestoreCutOffMidValueWritesNothing() {
        var job = RetrievalJob(Self.mg)
        play(&job, [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: false), [.keepCopy(.add)]),
            (.failed(.backup, .timeout, .primaryRecovering, replyStarted: false), [.send(.request, to: .primary)]),
        ])
        #expect(job.state == .asking(.primary, metaKeysLeft: 0))
    }

    @Test func metaReadRestoreThenPrimaryDownAsksTheBackup() {
        var job = RetrievalJob(Self.mg)
        play(&job, [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: true), [.keepCopy(.add)]),
            (.ended(.backup, .primaryDown), [.restartReply, .count(.backupReads), .send(.request, to: .backup)]),
        ])
        #expect(job.state == .asking(.backup, metaKeysLeft: 0))
        playToFinish(&job, [(.line(.backup, .miss, .primaryDown), [.pass, .completeReply])])
    }

    @Test func metaReadRestoreThenBothDownFails() {
        var job = RetrievalJob(Self.mg)
        play(&job, [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
        ])
        playToFinish(&job, [(.failed(.backup, .unavailable, .bothDown, replyStarted: false),
                             [.dropOpenItem, .passFailure(.unavailable), .completeReply])])
    }

    @Test func writeRestoreCutOffMidValueWritesOnlyTheRequest() {
        var job = Self.incr
        play(&job, [
            (.start(.primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: false), [.keepCopy(.add)]),
            (.failed(.backup, .timeout, .primaryRecovering, replyStarted: false), [.send(.keptRequest, to: .primary)]),
        ])
        #expect(job.primary == .pending)
    }

    @Test func writeRestoreThenPrimaryDownGoesToTheBackup() {
        var job = Self.incr
        play(&job, [
            (.start(.primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryDown), [.keepMissedWrite(.primary), .count(.writesToBackup), .send(.keptRequest, to: .backup)]),
        ])
        #expect(job.primary == .failed)
        #expect(job.backup == .pending)
        playToFinish(&job, [(.line(.backup, .success, .primaryDown), [.keptKeyWritten(.backup), .pass, .completeReply])])
    }

    @Test func writeRestoreThenBothDownFails() {
        var job = Self.incr
        play(&job, [(.start(.primaryRecovering), [.send(.lookupKey, to: .backup)])])
        playToFinish(&job, [(.failed(.backup, .unavailable, .bothDown, replyStarted: false),
                             [.keepMissedWrite(.primary), .passFailure(.unavailable), .completeReply])])
    }

    @Test func conditionalDeleteKeepsADeleteForAMissingPrimary() {
        var job = Self.conditionalDelete
        play(&job, [
            (.start(.primaryDown), [.count(.writesToBackup), .send(.request, to: .backup), .keepDelete(.primary)]),
        ])
        playToFinish(&job, [(.line(.backup, .success, .primaryDown), [.pass, .completeReply])])
    }

    /// The delete is kept at the start; once the primary applied it, the backup
    /// (still down) cannot get the read-back either, so a missed write is kept
    /// too (the key kept for both counts as a missed write: the primary's copy,
    /// gone, decides).
    @Test func conditionalDeleteKeepsADeleteForAMissingBackup() {
        var job = Self.conditionalDelete
        play(&job, [(.start(.backupDown), [.send(.request, to: .primary), .keepDelete(.backup)])])
        playToFinish(&job, [(.line(.primary, .success, .backupDown), [.pass, .completeReply, .keepMissedWrite(.backup)])])
    }

    @Test func readBackOfAGoneKeyKeepsADeleteForAMissingBackup() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.ended(.primary, .backupDown), [.keepDelete(.backup)]),
        ])
    }

    @Test func readBackWithoutABackupKeepsNothing() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.lookupKey, to: .primary)]),
            (.ended(.primary, .noBackup), []),
        ])
    }

    // MARK: - Missed writes

    @Test func setWithTheBackupDownKeepsAMissedWriteForTheBackup() {
        var job = Self.set
        play(&job, [(.start(.backupDown), [.send(.request, to: .primary), .keepMissedWrite(.backup)])])
        #expect(job.backup == .unused)
        playToFinish(&job, [(.line(.primary, .success, .backupDown), [.keptKeyWritten(.primary), .pass, .completeReply])])
    }

    @Test func setWithThePrimaryDownKeepsAMissedWriteForThePrimary() {
        var job = Self.set
        play(&job, [(.start(.primaryDown),
                     [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)])])
        playToFinish(&job, [(.line(.backup, .success, .primaryDown), [.keptKeyWritten(.backup), .pass, .completeReply])])
    }

    /// It may or may not have stored the value: its copy is not trusted.
    @Test func setWhosePrimaryTimesOutKeepsAMissedWriteForThePrimary() {
        var job = Self.set
        play(&job, [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false), [.keepMissedWrite(.primary), .dropOpenItem]),
        ])
        #expect(job.primary == .failed)
        playToFinish(&job, [(.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .pass, .completeReply])])
    }

    @Test func setWhoseBackupFailsKeepsAMissedWriteForTheBackup() {
        var job = Self.set
        play(&job, [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply]),
        ])
        playToFinish(&job, [(.failed(.backup, .unavailable, .bothUp, replyStarted: false), [.keepMissedWrite(.backup)])])
    }

    /// A delete a server misses is still kept as a delete, not as a missed write.
    @Test func deleteWhoseBackupFailsStillKeepsADelete() {
        var job = Self.delete
        play(&job, [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .success, .bothUp), [.pass, .completeReply]),
        ])
        playToFinish(&job, [(.failed(.backup, .timeout, .bothUp, replyStarted: false), [.keepDelete(.backup)])])
    }

    @Test func conditionalDeleteWhosePrimaryTimesOutKeepsADelete() {
        var job = Self.conditionalDelete
        play(&job, [(.start(.bothUp), [.send(.request, to: .primary)])])
        playToFinish(&job, [(.failed(.primary, .timeout, .bothUp, replyStarted: false),
                             [.keepDelete(.primary), .dropOpenItem, .passFailure(.timeout), .completeReply])])
    }

    /// Up at the start, down by the primary's reply: nothing read back, a missed write kept instead.
    @Test func readBackWriteWhoseBackupWentAwayKeepsAMissedWrite() {
        var job = Self.incr
        play(&job, [(.start(.bothUp), [.send(.request, to: .primary)])])
        playToFinish(&job, [(.line(.primary, .success, .backupDown),
                             [.keptKeyWritten(.primary), .pass, .completeReply, .keepMissedWrite(.backup)])])
    }

    @Test func readBackThatFailsKeepsAMissedWriteForTheBackup() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false), [.keepMissedWrite(.backup)]),
        ])
    }

    @Test func readBackAnsweredWithAnErrorKeepsAMissedWriteForTheBackup() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.line(.primary, .error, .bothUp), [.keepMissedWrite(.backup)]),
        ])
    }

    @Test func readBackOfAFoundKeyKeepsAMissedWriteForAMissingBackup() {
        var job = ReplicationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupKey, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.keepCopy(.set)]),
            (.itemBytes(.primary, endsItem: true), [.keepCopy(.set)]),
            (.ended(.primary, .backupDown), [.keepMissedWrite(.backup)]),
        ])
    }
}
