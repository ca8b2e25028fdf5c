// RetrievalJob's decision table: a classic share (as the request line or as
// meta gets, with or without miss failover) and a client's meta read (with
// its restore on a recovering primary and its replication on a T hit).

import Testing
@testable import MagentCore

/// get or gets of one key that can be a meta key token.
private let getOne = RetrievalJob.Kind.share(missFailoverAllowed: true, singleMetaSafeKey: true, keyCount: 1)
/// get of several keys: always the request line.
private let getMany = RetrievalJob.Kind.share(missFailoverAllowed: true, singleMetaSafeKey: false, keyCount: 3)
/// gat: never miss failover, never meta gets.
private let gatOne = RetrievalJob.Kind.share(missFailoverAllowed: false, singleMetaSafeKey: false, keyCount: 1)
/// mg (without T, without N).
private let mg = RetrievalJob.Kind.metaRead(replicatesOnHit: false, missFailoverAllowed: true)
/// mg with T: a hit is replicated to the backup.
private let mgTouch = RetrievalJob.Kind.metaRead(replicatesOnHit: true, missFailoverAllowed: true)
/// mg with N (vivify): a miss is never asked of the backup.
private let mgVivify = RetrievalJob.Kind.metaRead(replicatesOnHit: false, missFailoverAllowed: false)

/// The first event of a retrieval and where it leaves the job.
struct RetrievalStartCase: Sendable, CustomTestStringConvertible {
    let name: String
    let kind: RetrievalJob.Kind
    let status: RouteStatus
    let actions: [JobAction]
    let state: RetrievalJob.State
    var missFailover = false

    var testDescription: String { name }
}

/// A table that starts with a given status and runs to its end.
struct RetrievalTableCase: Sendable, CustomTestStringConvertible {
    let name: String
    let kind: RetrievalJob.Kind
    let rows: [TableRow]

    var testDescription: String { name }
}

@Suite struct RetrievalJobTableTests {
    // MARK: - Start

    static let shareStarts: [RetrievalStartCase] = [
        .init(name: "get, both up, classic: the request line to the primary", kind: getOne, status: .bothUp,
              actions: [.send(.share(asMetaGets: false), to: .primary)], state: .asking(.primary, metaKeysLeft: 0)),
        .init(name: "get, primary answers mg: one meta get", kind: getOne, status: RouteStatus.bothUp.withMetaGets,
              actions: [.send(.share(asMetaGets: true), to: .primary)], state: .asking(.primary, metaKeysLeft: 1)),
        .init(name: "get, no backup, mg", kind: getOne, status: RouteStatus.noBackup.withMetaGets,
              actions: [.send(.share(asMetaGets: true), to: .primary)], state: .asking(.primary, metaKeysLeft: 1)),
        .init(name: "get, recovering primary: miss failover, so classic", kind: getOne,
              status: RouteStatus.primaryRecovering.withMetaGets,
              actions: [.send(.share(asMetaGets: false), to: .primary)], state: .asking(.primary, metaKeysLeft: 0),
              missFailover: true),
        .init(name: "get, --miss-failover: miss failover, so classic", kind: getOne,
              status: RouteStatus.bothUp.withMetaGets.withMissFailoverAlways,
              actions: [.send(.share(asMetaGets: false), to: .primary)], state: .asking(.primary, metaKeysLeft: 0),
              missFailover: true),
        .init(name: "get, recovering primary without backup: no miss failover", kind: getOne,
              status: RouteStatus(primaryUp: true, primaryRecovering: true, primaryAnswersMetaGets: true),
              actions: [.send(.share(asMetaGets: true), to: .primary)], state: .asking(.primary, metaKeysLeft: 1)),
        .init(name: "get, recovering primary, backup down: miss failover still set (repair checks the backup)",
              kind: getOne, status: .recoveringBackupDown,
              actions: [.send(.share(asMetaGets: false), to: .primary)], state: .asking(.primary, metaKeysLeft: 0),
              missFailover: true),
        .init(name: "gat, recovering primary: no miss failover", kind: gatOne, status: RouteStatus.primaryRecovering.withMetaGets,
              actions: [.send(.share(asMetaGets: false), to: .primary)], state: .asking(.primary, metaKeysLeft: 0)),
        .init(name: "get of several keys, mg: the request line", kind: getMany, status: RouteStatus.bothUp.withMetaGets,
              actions: [.send(.share(asMetaGets: false), to: .primary)], state: .asking(.primary, metaKeysLeft: 0)),
        .init(name: "get of several keys, recovering primary: miss failover", kind: getMany, status: .primaryRecovering,
              actions: [.send(.share(asMetaGets: false), to: .primary)], state: .asking(.primary, metaKeysLeft: 0),
              missFailover: true),
        .init(name: "get, primary down: the backup, classic", kind: getOne, status: .primaryDown,
              actions: [.count(.backupReads), .send(.share(asMetaGets: false), to: .backup)],
              state: .asking(.backup, metaKeysLeft: 0)),
        .init(name: "get, primary down, backup answers mg", kind: getOne, status: RouteStatus.primaryDown.withMetaGets,
              actions: [.count(.backupReads), .send(.share(asMetaGets: true), to: .backup)],
              state: .asking(.backup, metaKeysLeft: 1)),
        .init(name: "get, primary down, --miss-failover: the backup, no miss failover", kind: getOne,
              status: RouteStatus.primaryDown.withMissFailoverAlways,
              actions: [.count(.backupReads), .send(.share(asMetaGets: false), to: .backup)],
              state: .asking(.backup, metaKeysLeft: 0)),
        .init(name: "get, both down: nothing sent, all misses", kind: getOne, status: .bothDown,
              actions: [.completeReply], state: .done),
        .init(name: "get, no backup, primary down: all misses", kind: getMany, status: .noBackupPrimaryDown,
              actions: [.completeReply], state: .done),
    ]

    static let metaReadStarts: [RetrievalStartCase] = [
        .init(name: "mg, both up", kind: mg, status: .bothUp, actions: [.send(.request, to: .primary)],
              state: .asking(.primary, metaKeysLeft: 0)),
        .init(name: "mg, recovering primary", kind: mg, status: .primaryRecovering, actions: [.send(.request, to: .primary)],
              state: .asking(.primary, metaKeysLeft: 0)),
        .init(name: "mg, no backup", kind: mg, status: .noBackup, actions: [.send(.request, to: .primary)],
              state: .asking(.primary, metaKeysLeft: 0)),
        .init(name: "mg with T, primary answers mg", kind: mgTouch, status: RouteStatus.bothUp.withMetaGets,
              actions: [.send(.request, to: .primary)], state: .asking(.primary, metaKeysLeft: 0)),
        .init(name: "mg, primary down: the backup", kind: mg, status: .primaryDown,
              actions: [.count(.backupReads), .send(.request, to: .backup)], state: .asking(.backup, metaKeysLeft: 0)),
        .init(name: "mg, both down: an error", kind: mg, status: .bothDown,
              actions: [.passFailure(.unavailable), .completeReply], state: .done),
        .init(name: "mg with N, no backup, primary down: an error", kind: mgVivify, status: .noBackupPrimaryDown,
              actions: [.passFailure(.unavailable), .completeReply], state: .done),
    ]

    @Test("start", arguments: shareStarts + metaReadStarts)
    func start(_ test: RetrievalStartCase) {
        var job = RetrievalJob(test.kind)
        play(&job, [(.start(test.status), test.actions)], table: test.name)
        #expect(job.state == test.state)
        #expect(job.missFailover == test.missFailover)
        #expect(job.isFinished == (test.state == .done))
        #expect(!job.checksKeptDeletes)
    }

    // MARK: - Shares: classic and meta gets

    @Test func classicShareHitsThenEnd() {
        var job = RetrievalJob(getMany)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.share(asMetaGets: false), to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.count(.getHits), .pass]),
            (.itemBytes(.primary, endsItem: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.itemStarted(.primary, keptDelete: false), [.count(.getHits), .pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, .bothUp), [.completeReply]),
        ])
        #expect(job.state == .done)
    }

    @Test func classicShareAllMisses() {
        var job = RetrievalJob(getMany)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.share(asMetaGets: false), to: .primary)]),
            (.ended(.primary, .bothUp), [.completeReply]),
        ])
    }

    @Test func shareAsMetaGetHit() {
        let status = RouteStatus.bothUp.withMetaGets
        var job = RetrievalJob(getOne)
        playToFinish(&job, [
            (.start(status), [.send(.share(asMetaGets: true), to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.count(.getHits), .passAsValue]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, status), [.nextKey, .completeReply]),
        ])
    }

    @Test func shareAsMetaGetMiss() {
        let status = RouteStatus.bothUp.withMetaGets
        var job = RetrievalJob(getOne)
        playToFinish(&job, [
            (.start(status), [.send(.share(asMetaGets: true), to: .primary)]),
            (.ended(.primary, status), [.nextKey, .completeReply]),
        ])
    }

    /// The machine counts meta get replies down, one per key (a hit, EN, an error line).
    @Test func multiKeyMetaGetsCountDown() {
        let status = RouteStatus.bothUp.withMetaGets
        var job = RetrievalJob(.share(missFailoverAllowed: true, singleMetaSafeKey: true, keyCount: 3))
        play(&job, [(.start(status), [.send(.share(asMetaGets: true), to: .primary)])])
        #expect(job.state == .asking(.primary, metaKeysLeft: 3))
        play(&job, [
            (.itemStarted(.primary, keptDelete: false), [.count(.getHits), .passAsValue]),
            (.itemBytes(.primary, endsItem: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, status), [.nextKey]),
        ])
        #expect(job.state == .asking(.primary, metaKeysLeft: 2))
        play(&job, [(.ended(.primary, status), [.nextKey])])
        #expect(job.state == .asking(.primary, metaKeysLeft: 1))
        #expect(!job.isFinished)
        play(&job, [(.line(.primary, .error, status), [.nextKey, .completeReply])])
        #expect(job.state == .done)
        #expect(job.isFinished)
    }

    static let metaGetErrorCases: [StatusCase] = [
        StatusCase("ERROR from the primary", RouteStatus.bothUp.withMetaGets,
                   [.serverLacksMetaGets(.primary), .nextKey, .completeReply]),
        StatusCase("ERROR from the backup (primary down)", RouteStatus.primaryDown.withMetaGets,
                   [.serverLacksMetaGets(.backup), .nextKey, .completeReply]),
    ]

    /// ERROR to a meta get: the server does not know mg after all; the key reads as a miss.
    @Test("ERROR to a meta get", arguments: metaGetErrorCases)
    func metaGetUnknownCommand(_ test: StatusCase) {
        var job = RetrievalJob(getOne)
        let role: ServerRole = test.status.primaryUp ? .primary : .backup
        play(&job, [(.start(test.status), role == .primary ? [.send(.share(asMetaGets: true), to: .primary)]
                                                             : [.count(.backupReads), .send(.share(asMetaGets: true), to: .backup)])])
        playToFinish(&job, [(.line(role, .unknownCommand, test.status), test.actions)], table: test.name)
    }

    @Test func metaGetsErrorForEveryKey() {
        let status = RouteStatus.bothUp.withMetaGets
        var job = RetrievalJob(.share(missFailoverAllowed: true, singleMetaSafeKey: true, keyCount: 2))
        playToFinish(&job, [
            (.start(status), [.send(.share(asMetaGets: true), to: .primary)]),
            (.line(.primary, .unknownCommand, status), [.serverLacksMetaGets(.primary), .nextKey]),
            (.line(.primary, .unknownCommand, status), [.serverLacksMetaGets(.primary), .nextKey, .completeReply]),
        ])
    }

    // MARK: - Shares: miss failover

    static let missFailoverStatuses: [StatusCase] = [
        StatusCase("recovering primary", .primaryRecovering, []),
        StatusCase("recovering primary, mg", RouteStatus.primaryRecovering.withMetaGets, []),
        StatusCase("--miss-failover", RouteStatus.bothUp.withMissFailoverAlways, []),
        StatusCase("recovering primary, backup down", .recoveringBackupDown, []),
    ]

    /// A VALUE from the primary notes the keys it skipped; its END hands the misses to a repair.
    @Test("miss failover: VALUE noted, END starts the repair", arguments: missFailoverStatuses)
    func missFailoverStartsRepair(_ test: StatusCase) {
        var job = RetrievalJob(getMany)
        playToFinish(&job, [
            (.start(test.status), [.send(.share(asMetaGets: false), to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.count(.getHits), .noteAnswered, .pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, test.status), [.startRepair]),
        ], table: test.name)
        #expect(job.state == .done)
    }

    @Test func missFailoverNoValueAtAll() {
        var job = RetrievalJob(getOne)
        playToFinish(&job, [
            (.start(.primaryRecovering), [.send(.share(asMetaGets: false), to: .primary)]),
            (.ended(.primary, .primaryRecovering), [.startRepair]),
        ])
    }

    /// The primary fails before anything left: the backup answers the whole
    /// share, as meta gets if it can, and nothing is repaired.
    @Test func missFailoverPrimaryFailsThenBackupAnswers() {
        let status = RouteStatus.primaryRecovering.withMetaGets
        var job = RetrievalJob(getOne)
        play(&job, [
            (.start(status), [.send(.share(asMetaGets: false), to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.count(.getHits), .noteAnswered, .pass]),
            (.failed(.primary, .timeout, status, replyStarted: false),
             [.restartReply, .count(.backupReads), .send(.share(asMetaGets: true), to: .backup)]),
        ])
        #expect(!job.missFailover)
        #expect(job.state == .asking(.backup, metaKeysLeft: 1))
        playToFinish(&job, [
            (.itemStarted(.backup, keptDelete: false), [.count(.getHits), .passAsValue]),
            (.itemBytes(.backup, endsItem: true), [.pass]),
            (.ended(.backup, status), [.nextKey, .completeReply]),
        ])
    }

    @Test func missFailoverPrimaryFailsClassicBackup() {
        var job = RetrievalJob(getMany)
        playToFinish(&job, [
            (.start(.primaryRecovering), [.send(.share(asMetaGets: false), to: .primary)]),
            (.failed(.primary, .unavailable, .primaryRecovering, replyStarted: false),
             [.restartReply, .count(.backupReads), .send(.share(asMetaGets: false), to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.count(.getHits), .pass]),
            (.itemBytes(.backup, endsItem: true), [.pass]),
            (.ended(.backup, .primaryRecovering), [.completeReply]),
        ])
    }

    // MARK: - Shares: failures and error lines

    struct ShareFailureCase: Sendable, CustomTestStringConvertible {
        let name: String
        let status: RouteStatus
        let startActions: [JobAction]
        let failureActions: [JobAction]
        let state: RetrievalJob.State
        var testDescription: String { name }
    }

    static let primaryFailures: [ShareFailureCase] = [
        .init(name: "backup usable: asked instead", status: .bothUp,
              startActions: [.send(.share(asMetaGets: false), to: .primary)],
              failureActions: [.restartReply, .count(.backupReads), .send(.share(asMetaGets: false), to: .backup)],
              state: .asking(.backup, metaKeysLeft: 0)),
        .init(name: "backup usable, meta gets: asked as meta gets", status: RouteStatus.bothUp.withMetaGets,
              startActions: [.send(.share(asMetaGets: true), to: .primary)],
              failureActions: [.restartReply, .count(.backupReads), .send(.share(asMetaGets: true), to: .backup)],
              state: .asking(.backup, metaKeysLeft: 1)),
        .init(name: "backup down: all misses", status: .backupDown,
              startActions: [.send(.share(asMetaGets: false), to: .primary)],
              failureActions: [.dropOpenItem, .completeReply], state: .done),
        .init(name: "no backup: all misses", status: RouteStatus.noBackup.withMetaGets,
              startActions: [.send(.share(asMetaGets: true), to: .primary)],
              failureActions: [.dropOpenItem, .completeReply], state: .done),
    ]

    @Test("primary fails before any reply byte left", arguments: primaryFailures)
    func sharePrimaryFailsBeforeReply(_ test: ShareFailureCase) {
        var job = RetrievalJob(getOne)
        play(&job, [
            (.start(test.status), test.startActions),
            (.failed(.primary, .timeout, test.status, replyStarted: false), test.failureActions),
        ], table: test.name)
        #expect(job.state == test.state)
        #expect(job.isFinished == (test.state == .done))
    }

    /// Part of the reply already left: the complete items stay, the rest read as misses.
    @Test func sharePrimaryFailsAfterReplyStarted() {
        var job = RetrievalJob(getMany)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.share(asMetaGets: false), to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.count(.getHits), .pass]),
            (.itemBytes(.primary, endsItem: false), [.pass]),
            (.failed(.primary, .unavailable, .bothUp, replyStarted: true), [.dropOpenItem, .completeReply]),
        ])
    }

    /// The executor turns a share's error line where VALUE/END belong into
    /// `.failed` (with whether the reply started); a `.line` reaching the
    /// machine is taken as a failure after the reply began: nothing is asked again.
    @Test("error line instead of VALUE/END", arguments: [ReplyLine.error, .unknownCommand, .other, .ok])
    func shareErrorLine(_ line: ReplyLine) {
        var job = RetrievalJob(getOne)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.share(asMetaGets: false), to: .primary)]),
            (.line(.primary, line, .bothUp), [.dropOpenItem, .completeReply]),
        ], table: "\(line)")
    }

    @Test func shareErrorLineWithoutBackup() {
        var job = RetrievalJob(getOne)
        playToFinish(&job, [
            (.start(.noBackup), [.send(.share(asMetaGets: false), to: .primary)]),
            (.line(.primary, .error, .noBackup), [.dropOpenItem, .completeReply]),
        ])
    }

    static let backupFailures: [StatusCase] = [
        StatusCase("before any byte left", .primaryDown, []),
        StatusCase("the primary is back meanwhile: not asked again", .bothUp, []),
    ]

    @Test("backup fails", arguments: backupFailures)
    func shareBackupFails(_ test: StatusCase) {
        var job = RetrievalJob(getMany)
        playToFinish(&job, [
            (.start(.primaryDown), [.count(.backupReads), .send(.share(asMetaGets: false), to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.count(.getHits), .pass]),
            (.itemBytes(.backup, endsItem: false), [.pass]),
            (.failed(.backup, .timeout, test.status, replyStarted: false), [.dropOpenItem, .completeReply]),
        ], table: test.name)
    }

    // MARK: - Meta reads

    @Test func metaReadHit() {
        var job = RetrievalJob(mg)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.itemBytes(.primary, endsItem: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, .bothUp), [.completeReply]),
        ])
    }

    /// HD, EN (not recovering), NF, errors: the primary's line is the answer.
    @Test("meta read: the primary's one-line reply passes",
          arguments: [ReplyLine.success, .miss, .refused, .error, .unknownCommand, .other])
    func metaReadLinePasses(_ line: ReplyLine) {
        var job = RetrievalJob(mg)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, line, .bothUp), [.pass, .completeReply]),
        ], table: "\(line)")
    }

    @Test func metaReadFromBackupWhenPrimaryDown() {
        var job = RetrievalJob(mg)
        playToFinish(&job, [
            (.start(.primaryDown), [.count(.backupReads), .send(.request, to: .backup)]),
            (.line(.backup, .miss, .primaryDown), [.pass, .completeReply]),
        ])
        var hit = RetrievalJob(mg)
        playToFinish(&hit, [
            (.start(.primaryDown), [.count(.backupReads), .send(.request, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.pass]),
            (.itemBytes(.backup, endsItem: true), [.pass]),
            (.ended(.backup, .primaryDown), [.completeReply]),
        ])
    }

    static let noRestoreCases: [RetrievalTableCase] = [
        .init(name: "mg, primary not recovering", kind: mg, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "mg with N, recovering primary", kind: mgVivify, rows: [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.pass, .completeReply]),
        ]),
        .init(name: "mg, recovering primary, backup down", kind: mg, rows: [
            (.start(.recoveringBackupDown), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .recoveringBackupDown), [.pass, .completeReply]),
        ]),
        .init(name: "mg, recovering primary, no backup", kind: mg, rows: [
            (.start(RouteStatus(primaryUp: true, primaryRecovering: true)), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, RouteStatus(primaryUp: true, primaryRecovering: true)), [.pass, .completeReply]),
        ]),
        .init(name: "mg, EN from the backup (primary down, --miss-failover)", kind: mg, rows: [
            (.start(RouteStatus.primaryDown.withMissFailoverAlways), [.count(.backupReads), .send(.request, to: .backup)]),
            (.line(.backup, .miss, RouteStatus.primaryDown.withMissFailoverAlways), [.pass, .completeReply]),
        ]),
    ]

    @Test("meta read EN passes without a restore", arguments: noRestoreCases)
    func metaReadMissNotRestored(_ test: RetrievalTableCase) {
        var job = RetrievalJob(test.kind)
        playToFinish(&job, test.rows, table: test.name)
    }

    static let restoreStatuses: [StatusCase] = [
        StatusCase("recovering primary", .primaryRecovering, []),
        StatusCase("--miss-failover", RouteStatus.bothUp.withMissFailoverAlways, []),
    ]

    /// EN on a primary that may lack the key: the backup's copy is added to
    /// the primary, then the primary is asked again.
    @Test("meta read EN: restore from the backup, then retry", arguments: restoreStatuses)
    func metaReadRestoreThenRetryHit(_ test: StatusCase) {
        let status = test.status
        var job = RetrievalJob(mg)
        play(&job, [
            (.start(status), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, status), [.send(.lookupKey, to: .backup)]),
        ], table: test.name)
        #expect(job.state == .restoring(KeyRestore()))
        #expect(job.checksKeptDeletes)
        #expect(!job.isFinished)
        play(&job, [
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: true), [.keepCopy(.add)]),
            (.ended(.backup, status), [.send(.keptCopy, to: .primary), .send(.request, to: .primary)]),
        ], table: test.name)
        #expect(job.state == .asking(.primary, metaKeysLeft: 0))
        #expect(!job.checksKeptDeletes)
        playToFinish(&job, [
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, status), [.completeReply]),
        ], table: test.name)
    }

    /// The retry's answer is final: a second EN passes.
    @Test func metaReadRestoreBackupMissesToo() {
        var job = RetrievalJob(mg)
        playToFinish(&job, [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.pass, .completeReply]),
        ])
    }

    /// A delete is kept for the backup: its copy is stale and is not restored.
    @Test func metaReadRestoreWithKeptDelete() {
        var job = RetrievalJob(mg)
        playToFinish(&job, [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: true), []),
            (.itemBytes(.backup, endsItem: false), []),
            (.itemBytes(.backup, endsItem: true), []),
            (.ended(.backup, .primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.pass, .completeReply]),
        ])
    }

    static let restoreEndings: [JobEvent] = [
        .line(.backup, .error, .primaryRecovering),
        .line(.backup, .unknownCommand, .primaryRecovering),
        .failed(.backup, .timeout, .primaryRecovering, replyStarted: false),
        .failed(.backup, .notSent, .recoveringBackupDown, replyStarted: false),
    ]

    /// The backup cannot say: nothing is restored, the primary is asked again.
    @Test("meta read restore: the backup answers an error or fails", arguments: restoreEndings)
    func metaReadRestoreBackupCannotSay(_ ending: JobEvent) {
        var job = RetrievalJob(mg)
        playToFinish(&job, [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (ending, [.send(.request, to: .primary)]),
            (.line(.primary, .success, .primaryRecovering), [.pass, .completeReply]),
        ], table: describe(ending))
    }

    /// The retry fails before any byte left: the backup answers.
    @Test func metaReadRetryFailsThenBackup() {
        var job = RetrievalJob(mg)
        playToFinish(&job, [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.ended(.backup, .primaryRecovering), [.send(.request, to: .primary)]),
            (.failed(.primary, .timeout, .primaryRecovering, replyStarted: false),
             [.restartReply, .count(.backupReads), .send(.request, to: .backup)]),
            (.line(.backup, .miss, .primaryRecovering), [.pass, .completeReply]),
        ])
    }

    // MARK: - Meta reads: mg with T

    static let touchCases: [RetrievalTableCase] = [
        .init(name: "VA hit, backup up: replicated", kind: mgTouch, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, .bothUp), [.completeReply, .startReplication(answersClient: false)]),
        ]),
        .init(name: "HD hit, backup up: replicated", kind: mgTouch, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .success, .bothUp), [.pass, .completeReply, .startReplication(answersClient: false)]),
        ]),
        .init(name: "VA hit, backup down: not replicated", kind: mgTouch, rows: [
            (.start(.backupDown), [.send(.request, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.itemBytes(.primary, endsItem: true), [.pass]),
            (.ended(.primary, .backupDown), [.completeReply]),
        ]),
        .init(name: "HD hit, no backup: not replicated", kind: mgTouch, rows: [
            (.start(.noBackup), [.send(.request, to: .primary)]),
            (.line(.primary, .success, .noBackup), [.pass, .completeReply]),
        ]),
        .init(name: "EN, not recovering: not replicated", kind: mgTouch, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "error line: not replicated", kind: mgTouch, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .error, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "hit on the backup (primary down): not replicated", kind: mgTouch, rows: [
            (.start(.primaryDown), [.count(.backupReads), .send(.request, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.pass]),
            (.itemBytes(.backup, endsItem: true), [.pass]),
            (.ended(.backup, .primaryDown), [.completeReply]),
        ]),
        .init(name: "HD on the backup (primary down): not replicated", kind: mgTouch, rows: [
            (.start(.primaryDown), [.count(.backupReads), .send(.request, to: .backup)]),
            (.line(.backup, .success, .primaryDown), [.pass, .completeReply]),
        ]),
        .init(name: "recovering primary: EN, restore, retry hit replicated", kind: mgTouch, rows: [
            (.start(.primaryRecovering), [.send(.request, to: .primary)]),
            (.line(.primary, .miss, .primaryRecovering), [.send(.lookupKey, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: true), [.keepCopy(.add)]),
            (.ended(.backup, .primaryRecovering), [.send(.keptCopy, to: .primary), .send(.request, to: .primary)]),
            (.line(.primary, .success, .primaryRecovering), [.pass, .completeReply, .startReplication(answersClient: false)]),
        ]),
        .init(name: "without T: a hit is not replicated", kind: mg, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.line(.primary, .success, .bothUp), [.pass, .completeReply]),
        ]),
    ]

    @Test("mg with T", arguments: touchCases)
    func metaReadTouch(_ test: RetrievalTableCase) {
        var job = RetrievalJob(test.kind)
        playToFinish(&job, test.rows, table: test.name)
    }

    // MARK: - Meta reads: failures

    static let metaReadFailureCases: [RetrievalTableCase] = [
        .init(name: "primary fails before any byte left: the backup answers", kind: mg, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: false), [.restartReply, .count(.backupReads), .send(.request, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.pass]),
            (.itemBytes(.backup, endsItem: true), [.pass]),
            (.ended(.backup, .bothUp), [.completeReply]),
        ]),
        .init(name: "primary fails mid-value, nothing left yet: the backup answers", kind: mg, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.itemBytes(.primary, endsItem: false), [.pass]),
            (.failed(.primary, .unavailable, .bothUp, replyStarted: false), [.restartReply, .count(.backupReads), .send(.request, to: .backup)]),
            (.line(.backup, .miss, .bothUp), [.pass, .completeReply]),
        ]),
        .init(name: "primary fails after part of the reply left: an error", kind: mg, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.itemStarted(.primary, keptDelete: false), [.pass]),
            (.failed(.primary, .timeout, .bothUp, replyStarted: true), [.dropOpenItem, .passFailure(.timeout), .completeReply]),
        ]),
        .init(name: "primary fails, backup down: an error", kind: mg, rows: [
            (.start(.backupDown), [.send(.request, to: .primary)]),
            (.failed(.primary, .unavailable, .backupDown, replyStarted: false), [.dropOpenItem, .passFailure(.unavailable), .completeReply]),
        ]),
        .init(name: "primary fails, no backup: an error", kind: mgTouch, rows: [
            (.start(.noBackup), [.send(.request, to: .primary)]),
            (.failed(.primary, .protocolError, .noBackup, replyStarted: false), [.dropOpenItem, .passFailure(.protocolError), .completeReply]),
        ]),
        .init(name: "backup fails (primary down): an error", kind: mg, rows: [
            (.start(.primaryDown), [.count(.backupReads), .send(.request, to: .backup)]),
            (.failed(.backup, .timeout, .primaryDown, replyStarted: false), [.dropOpenItem, .passFailure(.timeout), .completeReply]),
        ]),
        .init(name: "backup fails mid-value (asked after the primary failed): an error", kind: mg, rows: [
            (.start(.bothUp), [.send(.request, to: .primary)]),
            (.failed(.primary, .notSent, .bothUp, replyStarted: false), [.restartReply, .count(.backupReads), .send(.request, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.pass]),
            (.failed(.backup, .unavailable, .bothUp, replyStarted: true), [.dropOpenItem, .passFailure(.unavailable), .completeReply]),
        ]),
    ]

    @Test("meta read failures", arguments: metaReadFailureCases)
    func metaReadFailures(_ test: RetrievalTableCase) {
        var job = RetrievalJob(test.kind)
        playToFinish(&job, test.rows, table: test.name)
    }

    // MARK: - Events a state cannot take

    @Test("idle: only start is taken", arguments: [getOne, getMany, mg, mgTouch])
    func idleIgnoresAllButStart(_ kind: RetrievalJob.Kind) {
        var job = RetrievalJob(kind)
        expectIgnored(&job, everyEvent().filter { if case .start = $0 { return false } else { return true } })
        #expect(job.state == .idle)
        #expect(!job.isFinished)
    }

    @Test("done: nothing is taken", arguments: [getOne, mg])
    func doneIgnoresEverything(_ kind: RetrievalJob.Kind) {
        var job = RetrievalJob(kind)
        _ = job.handle(.start(.bothDown))
        #expect(job.isFinished)
        expectIgnored(&job, everyEvent())
        expectIgnored(&job, everyEvent(.primaryRecovering))
        #expect(job.state == .done)
    }

    @Test func askingIgnoresClientAndMergeEvents() {
        var job = RetrievalJob(getOne)
        _ = job.handle(.start(.bothUp))
        expectIgnored(&job, [.start(.bothUp), .valueCaptured, .valueAbandoned, .shareCompleted])
        #expect(job.state == .asking(.primary, metaKeysLeft: 0))
    }

    @Test func restoringIgnoresClientAndMergeEvents() {
        var job = RetrievalJob(mg)
        _ = job.handle(.start(.primaryRecovering))
        _ = job.handle(.line(.primary, .miss, .primaryRecovering))
        expectIgnored(&job, [.start(.primaryRecovering), .valueCaptured, .valueAbandoned, .shareCompleted])
        #expect(job.state == .restoring(KeyRestore()))
    }
}
