// WriteJob's decision table: parallel writes (set, delete, plain ms and md),
// primary-first writes (add/replace/cas kept as a set, the rest read back),
// the restore before a write on a recovering primary, the fallback to the
// backup when the primary was never reached, and the client's value.

import Testing
@testable import MagentCore

/// Text set: both servers at once, the client streams the value.
private func textSet() -> WriteJob {
    WriteJob(strategy: .parallel, isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: true)
}

/// Text delete (and plain md): both at once, a missed delete is kept.
private func textDelete() -> WriteJob {
    WriteJob(strategy: .parallel, isDelete: true, forgetsDeleteOnSuccess: false, valueFollows: false)
}

/// Binary set: parallel, its value came with the request.
private func binarySet() -> WriteJob {
    WriteJob(strategy: .parallel, isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: false)
}

/// Text add, replace or cas: the primary first, the kept value set on the backup.
private func textAdd() -> WriteJob {
    WriteJob(strategy: .primaryFirst(.keptValueAsSet), isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: true)
}

/// Binary add: as a text add, its value inline.
private func binaryAdd() -> WriteJob {
    WriteJob(strategy: .primaryFirst(.keptValueAsSet), isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: false)
}

/// incr, decr, touch, append (binary), ma: the primary first, then read back.
private func incr() -> WriteJob {
    WriteJob(strategy: .primaryFirst(.readBack), isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: false)
}

/// md with C or I: read back, not a delete, no delete forgotten.
private func conditionalMetaDelete() -> WriteJob {
    WriteJob(strategy: .primaryFirst(.readBack), isDelete: false, forgetsDeleteOnSuccess: false, valueFollows: false)
}

/// Text append or prepend: read back, the value streamed.
private func textAppend() -> WriteJob {
    WriteJob(strategy: .primaryFirst(.readBack), isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: true)
}

/// The first event of a write and where it leaves the legs.
struct WriteStartCase: Sendable, CustomTestStringConvertible {
    let name: String
    let status: RouteStatus
    let actions: [JobAction]
    let primary: WriteJob.Leg
    let backup: WriteJob.Leg
    var capturing = false
    var restoring = false
    var testDescription: String { name }
}

struct WriteTableCase: Sendable, CustomTestStringConvertible {
    let name: String
    let job: WriteJob
    let rows: [TableRow]
    var testDescription: String { name }
}

@Suite struct WriteJobTableTests {
    // MARK: - Start

    static let parallelSetStarts: [WriteStartCase] = [
        .init(name: "both up: both at once", status: .bothUp,
              actions: [.send(.request, to: .primary), .send(.request, to: .backup)], primary: .pending, backup: .pending),
        .init(name: "recovering primary: no restore for a set", status: .primaryRecovering,
              actions: [.send(.request, to: .primary), .send(.request, to: .backup)], primary: .pending, backup: .pending),
        .init(name: "backup down: the primary alone, a missed write kept for the backup", status: .backupDown,
              actions: [.send(.request, to: .primary), .keepMissedWrite(.backup)], primary: .pending, backup: .unused),
        .init(name: "no backup: the primary alone", status: .noBackup,
              actions: [.send(.request, to: .primary)], primary: .pending, backup: .unused),
        .init(name: "primary down: the backup alone, a missed write kept for the primary", status: .primaryDown,
              actions: [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)],
              primary: .unused, backup: .pending),
        .init(name: "both down: missed writes kept for both, an error", status: .bothDown,
              actions: [.keepMissedWrite(.primary), .keepMissedWrite(.backup), .passFailure(.unavailable), .completeReply],
              primary: .unused, backup: .unused),
        .init(name: "no backup, primary down: nothing kept (no other copy), an error", status: .noBackupPrimaryDown,
              actions: [.passFailure(.unavailable), .completeReply], primary: .unused, backup: .unused),
    ]

    @Test("parallel set: start", arguments: parallelSetStarts)
    func parallelSetStart(_ test: WriteStartCase) {
        var job = textSet()
        check(&job, test)
    }

    static let parallelDeleteStarts: [WriteStartCase] = [
        .init(name: "both up: both at once", status: .bothUp,
              actions: [.send(.request, to: .primary), .send(.request, to: .backup)], primary: .pending, backup: .pending),
        .init(name: "backup down: the primary, a delete kept for the backup", status: .backupDown,
              actions: [.send(.request, to: .primary), .keepDelete(.backup)], primary: .pending, backup: .unused),
        .init(name: "no backup: the primary alone", status: .noBackup,
              actions: [.send(.request, to: .primary)], primary: .pending, backup: .unused),
        .init(name: "primary down: the backup, a delete kept for the primary", status: .primaryDown,
              actions: [.count(.writesToBackup), .send(.request, to: .backup), .keepDelete(.primary)],
              primary: .unused, backup: .pending),
        .init(name: "both down: kept for both, an error", status: .bothDown,
              actions: [.keepDelete(.primary), .keepDelete(.backup), .passFailure(.unavailable), .completeReply],
              primary: .unused, backup: .unused),
        .init(name: "no backup, primary down: kept for the primary, an error", status: .noBackupPrimaryDown,
              actions: [.keepDelete(.primary), .passFailure(.unavailable), .completeReply], primary: .unused, backup: .unused),
    ]

    @Test("parallel delete: start", arguments: parallelDeleteStarts)
    func parallelDeleteStart(_ test: WriteStartCase) {
        var job = textDelete()
        check(&job, test)
    }

    static let primaryFirstStarts: [WriteStartCase] = [
        .init(name: "both up: the primary, the value kept", status: .bothUp,
              actions: [.send(.request, to: .primary), .captureValue], primary: .pending, backup: .unused, capturing: true),
        .init(name: "backup down: the value still kept (it may be back), a missed write kept for it", status: .backupDown,
              actions: [.send(.request, to: .primary), .captureValue, .keepMissedWrite(.backup)],
              primary: .pending, backup: .unused, capturing: true),
        .init(name: "no backup: no value kept, no missed write", status: .noBackup,
              actions: [.send(.request, to: .primary)], primary: .pending, backup: .unused),
        .init(name: "recovering primary: value kept, key restored first", status: .primaryRecovering,
              actions: [.captureValue, .send(.lookupKey, to: .backup)], primary: .held, backup: .unused,
              capturing: true, restoring: true),
        .init(name: "recovering primary, backup down: no restore, a missed write kept for the backup",
              status: .recoveringBackupDown,
              actions: [.send(.request, to: .primary), .captureValue, .keepMissedWrite(.backup)],
              primary: .pending, backup: .unused, capturing: true),
        .init(name: "primary down: the backup alone, no value kept, a missed write kept for the primary", status: .primaryDown,
              actions: [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)],
              primary: .unused, backup: .pending),
        .init(name: "both down: missed writes kept for both, an error", status: .bothDown,
              actions: [.keepMissedWrite(.primary), .keepMissedWrite(.backup), .passFailure(.unavailable), .completeReply],
              primary: .unused, backup: .unused),
    ]

    @Test("primary first (text add): start", arguments: primaryFirstStarts)
    func primaryFirstStart(_ test: WriteStartCase) {
        var job = textAdd()
        check(&job, test)
    }

    static let readBackStarts: [WriteStartCase] = [
        .init(name: "both up: the primary", status: .bothUp,
              actions: [.send(.request, to: .primary)], primary: .pending, backup: .unused),
        .init(name: "recovering primary: key restored first", status: .primaryRecovering,
              actions: [.send(.lookupKey, to: .backup)], primary: .held, backup: .unused, restoring: true),
        .init(name: "primary down: the backup, a missed write kept for the primary", status: .primaryDown,
              actions: [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)],
              primary: .unused, backup: .pending),
        .init(name: "no backup, primary down: nothing kept (no other copy), an error", status: .noBackupPrimaryDown,
              actions: [.passFailure(.unavailable), .completeReply], primary: .unused, backup: .unused),
    ]

    @Test("primary first (incr): start", arguments: readBackStarts)
    func readBackStart(_ test: WriteStartCase) {
        var job = incr()
        check(&job, test)
    }

    private func check(_ job: inout WriteJob, _ test: WriteStartCase) {
        play(&job, [(.start(test.status), test.actions)], table: test.name)
        #expect(job.primary == test.primary, "\(test.name): primary leg")
        #expect(job.backup == test.backup, "\(test.name): backup leg")
        #expect(job.capturing == test.capturing, "\(test.name): capturing")
        #expect(job.checksKeptDeletes == test.restoring, "\(test.name): restoring")
        let failedAtOnce = !test.status.primaryUp && !test.status.backupUsable
        #expect(job.resolved == failedAtOnce, "\(test.name): resolved")
        #expect(job.isFinished == failedAtOnce, "\(test.name): finished")
        if test.restoring {
            #expect(job.state == .restoring(KeyRestore()))
        } else {
            #expect(job.state == .writing)
        }
    }

    // MARK: - Parallel writes

    static let parallelCases: [WriteTableCase] = [
        .init(name: "set: primary first, then backup", job: textSet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup)]),
        ]),
        .init(name: "set: backup's reply kept while the primary is pending, the primary's wins", job: textSet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .keepReply]),
            (.line(.primary, .error, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "set: primary fails after the backup replied: a missed write kept for it, the backup's kept reply",
              job: textSet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .keepReply]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .passKeptReply, .completeReply]),
        ]),
        .init(name: "set: primary fails first, a missed write kept for it; the backup's reply passes", job: textSet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.failed(.primary, .unavailable, .bothUp, replyStarted: false), [.keepMissedWrite(.primary), .dropOpenItem]),
            (.line(.backup, .refused, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "set: primary not reached: no fallback, the backup was asked already", job: textSet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.failed(.primary, .notSent, .bothUp, replyStarted: false), [.keepMissedWrite(.primary), .dropOpenItem]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .pass, .completeReply]),
        ]),
        .init(name: "set: both fail: missed writes kept for both, the last failure", job: textSet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.failed(.backup, .unavailable, .bothUp, replyStarted: false), [.keepMissedWrite(.backup), .dropOpenItem]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .passFailure(.timeout), .completeReply]),
        ]),
        .init(name: "set: primary replied, the backup fails: a missed write kept for it", job: textSet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply]),
            (.failed(.backup, .timeout, .bothUp, replyStarted: false), [.keepMissedWrite(.backup)]),
        ]),
        .init(name: "set, primary down: a missed write kept for it, the backup's reply", job: textSet(), rows: [
            (.start(.primaryDown), [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)]),
            (.line(.backup, .success, .primaryDown), [.keptKeyWritten(.backup), .pass, .completeReply]),
        ]),
        .init(name: "set, primary down: the backup fails: missed writes kept for both", job: textSet(), rows: [
            (.start(.primaryDown), [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)]),
            (.failed(.backup, .timeout, .primaryDown, replyStarted: false),
             [.keepMissedWrite(.backup), .dropOpenItem, .passFailure(.timeout), .completeReply]),
        ]),
        .init(name: "set, no backup: NOT_STORED, no delete forgotten", job: textSet(), rows: [
            (.start(.noBackup), [.send(.request, to: .primary)]),
            (.line(.primary, .refused, .noBackup), [.pass, .completeReply]),
        ]),
        .init(name: "set, no backup: the primary fails: nothing kept (no other copy)", job: textSet(), rows: [
            (.start(.noBackup), [.send(.request, to: .primary)]),
            (.failed(.primary, .notSent, .noBackup, replyStarted: false),
             [.dropOpenItem, .passFailure(.notSent), .completeReply]),
        ]),
        .init(name: "binary set: as a text set", job: binarySet(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .keepReply]),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply]),
        ]),
        .init(name: "delete: DELETED from both, no delete forgotten", job: textDelete(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .success, .bothUp), [.pass, .completeReply]),
            (.line(.backup, .success, .bothUp), []),
        ]),
        .init(name: "delete: NOT_FOUND from the primary wins over the backup's DELETED", job: textDelete(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.backup, .success, .bothUp), [.keepReply]),
            (.line(.primary, .refused, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "delete, recovering primary: NOT_FOUND kept until the backup's DELETED, which wins", job: textDelete(), rows: [
            (.start(.primaryRecovering), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .refused, .primaryRecovering), [.keepReply]),
            (.line(.backup, .success, .primaryRecovering), [.pass, .completeReply]),
        ]),
        .init(name: "delete, recovering primary: the backup's DELETED first wins over NOT_FOUND", job: textDelete(), rows: [
            (.start(.primaryRecovering), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.backup, .success, .primaryRecovering), [.keepReply]),
            (.line(.primary, .refused, .primaryRecovering), [.passKeptReply, .completeReply]),
        ]),
        .init(name: "delete, recovering primary: NOT_FOUND from both, the primary's line", job: textDelete(), rows: [
            (.start(.primaryRecovering), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .refused, .primaryRecovering), [.keepReply]),
            (.line(.backup, .refused, .primaryRecovering), [.passKeptReply, .completeReply]),
        ]),
        .init(name: "delete, recovering primary: NOT_FOUND, then the backup fails: kept for it, NOT_FOUND stands",
              job: textDelete(), rows: [
            (.start(.primaryRecovering), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .refused, .primaryRecovering), [.keepReply]),
            (.failed(.backup, .timeout, .primaryRecovering, replyStarted: false),
             [.keepDelete(.backup), .dropOpenItem, .passKeptReply, .completeReply]),
        ]),
        .init(name: "delete, recovering primary: DELETED from the primary needs no wait", job: textDelete(), rows: [
            (.start(.primaryRecovering), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .success, .primaryRecovering), [.pass, .completeReply]),
            (.line(.backup, .refused, .primaryRecovering), []),
        ]),
        .init(name: "delete, --miss-failover: the backup's DELETED wins over NOT_FOUND", job: textDelete(), rows: [
            (.start(.bothUp.withMissFailoverAlways), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .refused, .bothUp.withMissFailoverAlways), [.keepReply]),
            (.line(.backup, .success, .bothUp.withMissFailoverAlways), [.pass, .completeReply]),
        ]),
        .init(name: "delete, resyncing primary: the backup's DELETED wins over NOT_FOUND", job: textDelete(), rows: [
            (.start(.primaryResyncing), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .refused, .primaryResyncing), [.keepReply]),
            (.line(.backup, .success, .primaryResyncing), [.pass, .completeReply]),
        ]),
        .init(name: "delete, recovering primary without a backup: NOT_FOUND at once", job: textDelete(), rows: [
            (.start(.noBackup), [.send(.request, to: .primary)]),
            (.line(.primary, .refused, RouteStatus(primaryUp: true, primaryRecovering: true)), [.pass, .completeReply]),
        ]),
        .init(name: "delete: the primary fails, kept for it; the backup answers", job: textDelete(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false), [.keepDelete(.primary), .dropOpenItem]),
            (.line(.backup, .success, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "delete: the backup fails after the primary answered, kept for it", job: textDelete(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, .success, .bothUp), [.pass, .completeReply]),
            (.failed(.backup, .notSent, .bothUp, replyStarted: false), [.keepDelete(.backup)]),
        ]),
        .init(name: "delete: both fail, kept for both", job: textDelete(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.failed(.backup, .unavailable, .bothUp, replyStarted: false), [.keepDelete(.backup), .dropOpenItem]),
            (.failed(.primary, .unavailable, .bothUp, replyStarted: false),
             [.keepDelete(.primary), .dropOpenItem, .passFailure(.unavailable), .completeReply]),
        ]),
        .init(name: "delete, primary down: kept for it, the backup answers", job: textDelete(), rows: [
            (.start(.primaryDown), [.count(.writesToBackup), .send(.request, to: .backup), .keepDelete(.primary)]),
            (.line(.backup, .success, .primaryDown), [.pass, .completeReply]),
        ]),
        .init(name: "delete, backup down: kept for it, the primary answers", job: textDelete(), rows: [
            (.start(.backupDown), [.send(.request, to: .primary), .keepDelete(.backup)]),
            (.line(.primary, .refused, .backupDown), [.pass, .completeReply]),
        ]),
    ]

    @Test("parallel writes", arguments: parallelCases)
    func parallel(_ test: WriteTableCase) {
        var job = test.job
        playToFinish(&job, test.rows, table: test.name)
    }

    @Test func parallelLegsAfterBothReplied() {
        var job = textSet()
        play(&job, [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .keepReply]),
        ])
        #expect(job.backup == .replied)
        #expect(job.primary == .pending)
        #expect(!job.resolved)
        play(&job, [(.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply])])
        #expect(job.primary == .replied)
        #expect(job.resolved)
        #expect(job.isFinished)
    }

    // MARK: - Primary first

    static let primaryFirstCases: [WriteTableCase] = [
        .init(name: "add: STORED after the value: the kept value set on the backup", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueCaptured, []),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply, .keptKeyWritten(.backup), .send(.keptValueAsSet, to: .backup)]),
        ]),
        .init(name: "add: NOT_STORED: nothing replicated", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueCaptured, []),
            (.line(.primary, .refused, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "add: STORED, backup down by then: nothing replicated, a missed write kept for it", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueCaptured, []),
            (.line(.primary, .success, .backupDown), [.keptKeyWritten(.primary), .pass, .completeReply, .keepMissedWrite(.backup)]),
        ]),
        .init(name: "add, backup down at start (a missed write kept), up at the reply: replicated, forgotten",
              job: textAdd(), rows: [
            (.start(.backupDown), [.send(.request, to: .primary), .captureValue, .keepMissedWrite(.backup)]),
            (.valueCaptured, []),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply, .keptKeyWritten(.backup), .send(.keptValueAsSet, to: .backup)]),
        ]),
        .init(name: "add: an error before the value ended: the job waits for the value", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.line(.primary, .error, .bothUp), [.pass, .completeReply]),
            (.valueCaptured, []),
        ]),
        .init(name: "add, no backup: STORED", job: textAdd(), rows: [
            (.start(.noBackup), [.send(.request, to: .primary)]),
            (.line(.primary, .success, .noBackup), [.keptKeyWritten(.primary), .pass, .completeReply]),
        ]),
        .init(name: "add, primary down: a missed write kept for it, the backup's reply, nothing replicated",
              job: textAdd(), rows: [
            (.start(.primaryDown), [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)]),
            (.line(.backup, .success, .primaryDown), [.keptKeyWritten(.backup), .pass, .completeReply]),
        ]),
        .init(name: "add: the primary times out (it may have stored): a missed write kept for it, an error, no fallback",
              job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueCaptured, []),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .passFailure(.timeout), .completeReply]),
        ]),
        .init(name: "binary add: STORED: replicated", job: binaryAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .pass, .completeReply, .keptKeyWritten(.backup), .send(.keptValueAsSet, to: .backup)]),
        ]),
        .init(name: "incr: a number: read back", job: incr(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .keepReply, .startReplication(answersClient: true)]),
        ]),
        .init(name: "incr: NOT_FOUND: nothing read back", job: incr(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .refused, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "incr: a number, backup down: nothing read back, a missed write kept for it (again at the reply)",
              job: incr(), rows: [
            (.start(.backupDown), [.send(.request, to: .primary), .keepMissedWrite(.backup)]),
            (.line(.primary, .success, .backupDown), [.keptKeyWritten(.primary), .pass, .completeReply, .keepMissedWrite(.backup)]),
        ]),
        .init(name: "append: STORED after the value: read back", job: textAppend(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueCaptured, []),
            (.line(.primary, .success, .bothUp), [.keptKeyWritten(.primary), .keepReply, .startReplication(answersClient: true)]),
        ]),
        .init(name: "md with C: HD: read back, no delete forgotten", job: conditionalMetaDelete(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .success, .bothUp), [.keepReply, .startReplication(answersClient: true)]),
        ]),
        .init(name: "ma with v: the VA item passes, then read back", job: incr(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.itemBytes(.primary, endsItem: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, .bothUp), [.keptKeyWritten(.primary), .completeReply, .startReplication(answersClient: false)]),
        ]),
        .init(name: "ma with v, backup down: the VA item passes, a missed write kept for the backup", job: incr(), rows: [
            (.start(.backupDown), [.send(.request, to: .primary), .keepMissedWrite(.backup)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, .backupDown), [.keptKeyWritten(.primary), .completeReply, .keepMissedWrite(.backup)]),
        ]),
        .init(name: "ma with v: the primary fails mid-value: a missed write kept for it, an error", job: incr(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: true),
             [.keepMissedWrite(.primary), .dropOpenItem, .passFailure(.timeout), .completeReply]),
        ]),
        .init(name: "ma with v, primary down: the backup's VA item, nothing read back, a missed write kept for the primary",
              job: incr(), rows: [
            (.start(.primaryDown), [.count(.writesToBackup), .send(.request, to: .backup), .keepMissedWrite(.primary)]),
            (.itemStarted(.backup, keptDelete: false), [.pass]),
            (.itemBytes(.backup, endsItem: true), [.pass]),
            (.ended(.backup, .primaryDown), [.keptKeyWritten(.backup), .completeReply]),
        ]),
    ]

    @Test("primary first", arguments: primaryFirstCases)
    func primaryFirst(_ test: WriteTableCase) {
        var job = test.job
        playToFinish(&job, test.rows, table: test.name)
    }

    /// keptKeyWritten only on success, only for the writes that store the key.
    @Test("keptKeyWritten on success only when the write stores the key", arguments: [ReplyLine.success, .refused, .error, .other])
    func keptKeyWrittenOnlyOnSuccess(_ line: ReplyLine) {
        var store = WriteJob(strategy: .parallel, isDelete: false, forgetsDeleteOnSuccess: true, valueFollows: false)
        playToFinish(&store, [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, line, .bothUp), (line == .success ? [.keptKeyWritten(.primary)] : []) + [.pass, .completeReply]),
            (.line(.backup, line, .bothUp), line == .success ? [.keptKeyWritten(.backup)] : []),
        ], table: "ms, \(line)")
        var delete = WriteJob(strategy: .parallel, isDelete: true, forgetsDeleteOnSuccess: false, valueFollows: false)
        playToFinish(&delete, [
            (.start(.bothUp), [.send(.request, to: .primary), .send(.request, to: .backup)]),
            (.line(.primary, line, .bothUp), [.pass, .completeReply]),
            (.line(.backup, line, .bothUp), []),
        ], table: "md, \(line)")
    }

    // MARK: - Fallback to the backup (the primary was never reached)

    static let fallbackCases: [WriteTableCase] = [
        .init(name: "notSent while the value is still coming: held, sent once whole", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.failed(.primary, .notSent, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup)]),
            (.valueCaptured, [.send(.keptRequest, to: .backup)]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .pass, .completeReply]),
        ]),
        .init(name: "connectTimeout after the value: sent at once", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueCaptured, []),
            (.failed(.primary, .connectTimeout, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup), .send(.keptRequest, to: .backup)]),
            (.line(.backup, .refused, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "incr not sent: the backup, nothing read back", job: incr(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.failed(.primary, .notSent, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup), .send(.keptRequest, to: .backup)]),
            (.line(.backup, .success, .bothUp), [.keptKeyWritten(.backup), .pass, .completeReply]),
        ]),
        .init(name: "ma with v not sent: the backup's VA item", job: incr(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.failed(.primary, .connectTimeout, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup), .send(.keptRequest, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.pass]),
            (.itemBytes(.backup, endsItem: true), [.pass]),
            (.ended(.backup, .bothUp), [.keptKeyWritten(.backup), .completeReply]),
        ]),
        .init(name: "fallback, then the backup fails: missed writes kept for both, its failure", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueCaptured, []),
            (.failed(.primary, .notSent, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup), .send(.keptRequest, to: .backup)]),
            (.failed(.backup, .timeout, .bothUp, replyStarted: false),
             [.keepMissedWrite(.backup), .dropOpenItem, .passFailure(.timeout), .completeReply]),
        ]),
        .init(name: "not sent, backup down: missed writes kept for both, an error", job: incr(), rows: [
            (.start(.backupDown), [.send(.request, to: .primary), .keepMissedWrite(.backup)]),
            (.failed(.primary, .notSent, .backupDown, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .passFailure(.notSent), .completeReply]),
        ]),
        .init(name: "not sent, no backup: nothing kept (no other copy), an error", job: incr(), rows: [
            (.start(.noBackup), [.send(.request, to: .primary)]),
            (.failed(.primary, .connectTimeout, .noBackup, replyStarted: false),
             [.dropOpenItem, .passFailure(.connectTimeout), .completeReply]),
        ]),
        .init(name: "not sent, backup down, value still coming: missed writes kept for both, an error, then the value",
              job: textAdd(), rows: [
            (.start(.backupDown), [.send(.request, to: .primary), .captureValue, .keepMissedWrite(.backup)]),
            (.failed(.primary, .notSent, .backupDown, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .passFailure(.notSent), .completeReply]),
            (.valueCaptured, []),
        ]),
    ]

    @Test("fallback to the backup", arguments: fallbackCases)
    func fallback(_ test: WriteTableCase) {
        var job = test.job
        playToFinish(&job, test.rows, table: test.name)
    }

    @Test func fallbackLegs() {
        var job = textAdd()
        play(&job, [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.failed(.primary, .notSent, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup)]),
        ])
        #expect(job.primary == .failed)
        #expect(job.backup == .held)
        #expect(job.capturing)
        play(&job, [(.valueCaptured, [.send(.keptRequest, to: .backup)])])
        #expect(job.backup == .pending)
        #expect(!job.capturing)
        #expect(!job.isFinished)
    }

    // MARK: - Restore first (recovering primary)

    static let restoreCases: [WriteTableCase] = [
        .init(name: "add: backup has the key, value whole during the restore", job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: false), [.keepCopy(.add)]),
            (.valueCaptured, []),
            (.itemBytes(.backup, endsItem: true), [.keepCopy(.add)]),
            (.ended(.backup, .primaryRecovering), [.send(.keptCopy, to: .primary), .send(.keptRequest, to: .primary)]),
            (.line(.primary, .refused, .primaryRecovering), [.pass, .completeReply]),
        ]),
        .init(name: "add: backup misses, value whole after the restore", job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), []),
            (.valueCaptured, [.send(.keptRequest, to: .primary)]),
            (.line(.primary, .success, .primaryRecovering),
             [.keptKeyWritten(.primary), .pass, .completeReply, .keptKeyWritten(.backup), .send(.keptValueAsSet, to: .backup)]),
        ]),
        .init(name: "add: a delete kept for the backup: its copy is not restored", job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.valueCaptured, []),
            (.itemStarted(.backup, keptDelete: true), []),
            (.itemBytes(.backup, endsItem: true), []),
            (.ended(.backup, .primaryRecovering), [.send(.keptRequest, to: .primary)]),
            (.line(.primary, .success, .primaryRecovering),
             [.keptKeyWritten(.primary), .pass, .completeReply, .keptKeyWritten(.backup), .send(.keptValueAsSet, to: .backup)]),
        ]),
        .init(name: "add: the backup fails during the restore: the write goes on, a missed write kept for the backup",
              job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.valueCaptured, []),
            (.failed(.backup, .timeout, .recoveringBackupDown, replyStarted: false), [.send(.keptRequest, to: .primary)]),
            (.line(.primary, .success, .recoveringBackupDown),
             [.keptKeyWritten(.primary), .pass, .completeReply, .keepMissedWrite(.backup)]),
        ]),
        .init(name: "add: the backup answers an error line: the write goes on", job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.line(.backup, .error, .primaryRecovering), []),
            (.valueCaptured, [.send(.keptRequest, to: .primary)]),
            (.line(.primary, .success, .primaryRecovering),
             [.keptKeyWritten(.primary), .pass, .completeReply, .keptKeyWritten(.backup), .send(.keptValueAsSet, to: .backup)]),
        ]),
        .init(name: "incr (no streamed value): restored, then sent", job: incr(), rows: [
            (.start(.primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: true), [.keepCopy(.add)]),
            (.ended(.backup, .primaryRecovering), [.send(.keptCopy, to: .primary), .send(.keptRequest, to: .primary)]),
            (.line(.primary, .success, .primaryRecovering), [.keptKeyWritten(.primary), .keepReply, .startReplication(answersClient: true)]),
        ]),
        .init(name: "incr: backup misses: sent, NOT_FOUND", job: incr(), rows: [
            (.start(.primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), [.send(.keptRequest, to: .primary)]),
            (.line(.primary, .refused, .primaryRecovering), [.pass, .completeReply]),
        ]),
        .init(name: "binary add (inline value): restored, then sent", job: binaryAdd(), rows: [
            (.start(.primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), [.send(.keptRequest, to: .primary)]),
            (.line(.primary, .success, .primaryRecovering),
             [.keptKeyWritten(.primary), .pass, .completeReply, .keptKeyWritten(.backup), .send(.keptValueAsSet, to: .backup)]),
        ]),
        .init(name: "incr: restored, then the primary is not reached: a missed write kept for it, the backup",
              job: incr(), rows: [
            (.start(.primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), [.send(.keptRequest, to: .primary)]),
            (.failed(.primary, .notSent, .primaryRecovering, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup), .send(.keptRequest, to: .backup)]),
            (.line(.backup, .success, .primaryRecovering), [.keptKeyWritten(.backup), .pass, .completeReply]),
        ]),
    ]

    @Test("restore first on a recovering primary", arguments: restoreCases)
    func restoreFirst(_ test: WriteTableCase) {
        var job = test.job
        playToFinish(&job, test.rows, table: test.name)
    }

    @Test func restoreStates() {
        var job = textAdd()
        play(&job, [(.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)])])
        #expect(job.state == .restoring(KeyRestore()))
        #expect(job.checksKeptDeletes)
        play(&job, [(.valueCaptured, [])])
        #expect(!job.capturing)
        #expect(job.primary == .held)
        #expect(job.checksKeptDeletes)
        play(&job, [(.ended(.backup, .primaryRecovering), [.send(.keptRequest, to: .primary)])])
        #expect(job.state == .writing)
        #expect(!job.checksKeptDeletes)
        #expect(job.primary == .pending)
        #expect(!job.isFinished)
    }

    // MARK: - The client's value abandoned

    static let abandonedCases: [WriteTableCase] = [
        .init(name: "value streamed to the primary: a missed write kept for it, its failure answers", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.valueAbandoned, []),
            (.failed(.primary, .uploadStalled, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .passFailure(.uploadStalled), .completeReply]),
        ]),
        .init(name: "held for the backup after a fallback: never sent", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.failed(.primary, .notSent, .bothUp, replyStarted: false),
             [.keepMissedWrite(.primary), .dropOpenItem, .count(.writesToBackup)]),
            (.valueAbandoned, [.passFailure(.uploadStalled), .completeReply]),
        ]),
        .init(name: "during the restore: the restore ends, nothing sent", job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.valueAbandoned, []),
            (.ended(.backup, .primaryRecovering), [.passFailure(.uploadStalled), .completeReply]),
        ]),
        .init(name: "during the restore, backup had the key: restored anyway, nothing sent", job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: true), [.keepCopy(.add)]),
            (.valueAbandoned, []),
            (.ended(.backup, .primaryRecovering), [.send(.keptCopy, to: .primary), .passFailure(.uploadStalled), .completeReply]),
        ]),
        .init(name: "after the restore, held for the primary: never sent", job: textAdd(), rows: [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), []),
            (.valueAbandoned, [.passFailure(.uploadStalled), .completeReply]),
        ]),
        .init(name: "after the primary answered: nothing more", job: textAdd(), rows: [
            (.start(.bothUp), [.send(.request, to: .primary), .captureValue]),
            (.line(.primary, .error, .bothUp), [.pass, .completeReply]),
            (.valueAbandoned, []),
        ]),
    ]

    @Test("value abandoned", arguments: abandonedCases)
    func valueAbandoned(_ test: WriteTableCase) {
        var job = test.job
        playToFinish(&job, test.rows, table: test.name)
    }

    @Test func abandonedLegs() {
        var job = textAdd()
        play(&job, [
            (.start(.primaryRecovering), [.captureValue, .send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), []),
            (.valueAbandoned, [.passFailure(.uploadStalled), .completeReply]),
        ])
        #expect(job.primary == .failed)
        #expect(job.backup == .unused)
        #expect(job.resolved)
        #expect(job.isFinished)
    }

    // MARK: - Events a state cannot take

    @Test func idleTakesOnlyStart() {
        var job = textAdd()
        expectIgnored(&job, everyEvent().filter { if case .start = $0 { return false } else { return true } })
        #expect(job.state == .idle)
        #expect(job.primary == .unused)
        #expect(job.backup == .unused)
    }

    @Test func writingIgnoresStartAndShareCompleted() {
        var job = textSet()
        _ = job.handle(.start(.bothUp))
        expectIgnored(&job, [.start(.bothUp), .start(.primaryDown), .shareCompleted, .valueCaptured, .valueAbandoned])
        #expect(job.primary == .pending)
        #expect(job.backup == .pending)
        #expect(!job.resolved)
    }

    @Test func restoringIgnoresStartAndShareCompleted() {
        var job = incr()
        _ = job.handle(.start(.primaryRecovering))
        expectIgnored(&job, [.start(.primaryRecovering), .shareCompleted, .valueCaptured])
        #expect(job.state == .restoring(KeyRestore()))
        #expect(job.primary == .held)
    }

    /// Once the client heard its reply, a late item from a server does not reach it.
    @Test func resolvedIgnoresLateItems() {
        var job = incr()
        play(&job, [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .refused, .bothUp), [.pass, .completeReply]),
        ])
        expectIgnored(&job, [.itemStarted(.primary, keptDelete: false), .itemBytes(.primary, endsItem: true)])
    }
}
