// Decision tables for the faults the first job tables found: a restore cut
// off mid-value, a primary that went down during a restore, conditional
// deletes on a missing server, copies that must forget a kept delete.

import Testing
@testable import MagentCore

@Suite struct JobFaultTableTests {
    private static let mg = RetrievalJob.Kind.metaRead(replicatesOnHit: false, missFailoverAllowed: true)
    private static let incr = WriteJob(strategy: .primaryFirst(.readBack), isDelete: false, forgetsDeleteOnSuccess: true,
                                       valueFollows: false)
    /// md with C: conditional, so the primary first; still a delete.
    private static let conditionalDelete = WriteJob(strategy: .primaryFirst(.readBack), isDelete: true,
                                                    forgetsDeleteOnSuccess: false, valueFollows: false)

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
            (.ended(.backup, .primaryDown), [.count(.writesToBackup), .send(.keptRequest, to: .backup)]),
        ])
        #expect(job.primary == .failed)
        #expect(job.backup == .pending)
        playToFinish(&job, [(.line(.backup, .success, .primaryDown), [.forgetDelete(.backup), .pass, .completeReply])])
    }

    @Test func writeRestoreThenBothDownFails() {
        var job = Self.incr
        play(&job, [(.start(.primaryRecovering), [.send(.lookupKey, to: .backup)])])
        playToFinish(&job, [(.failed(.backup, .unavailable, .bothDown, replyStarted: false),
                             [.passFailure(.unavailable), .completeReply])])
    }

    @Test func conditionalDeleteKeepsADeleteForAMissingPrimary() {
        var job = Self.conditionalDelete
        play(&job, [
            (.start(.primaryDown), [.count(.writesToBackup), .send(.request, to: .backup), .keepDelete(.primary)]),
        ])
        playToFinish(&job, [(.line(.backup, .success, .primaryDown), [.pass, .completeReply])])
    }

    @Test func conditionalDeleteKeepsADeleteForAMissingBackup() {
        var job = Self.conditionalDelete
        play(&job, [(.start(.backupDown), [.send(.request, to: .primary), .keepDelete(.backup)])])
        playToFinish(&job, [(.line(.primary, .success, .backupDown), [.pass, .completeReply])])
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
}
