// RepairJob's decision table: after a primary's END, each key it lacked is
// asked of the backup; a copy the backup has (and no delete is kept for) goes
// to the client as a VALUE block and back to the primary with `add`.

import Testing
@testable import MagentCore

/// The backup's hit for the current key, in one piece.
private let hitRows: [TableRow] = [
    (.itemStarted(.backup, keptDelete: false), [.count(.missFailoverHits), .count(.getHits), .passAsValue, .keepCopy(.add)]),
    (.itemBytes(.backup, endsItem: true), [.pass, .keepCopy(.add)]),
]

@Suite struct RepairJobTableTests {
    @Test func startAsksTheBackupForEveryMissingKey() {
        var job = RepairJob(keys: 2)
        play(&job, [(.start(.primaryRecovering), [.send(.lookupMissingKeys, to: .backup)])])
        #expect(job.keysLeft == 2)
        #expect(job.checksKeptDeletes)
        #expect(!job.isFinished)
    }

    @Test func hitIsPassedAndWrittenBack() {
        var job = RepairJob(keys: 1)
        playToFinish(&job, [
            (.start(.primaryRecovering), [.send(.lookupMissingKeys, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.count(.missFailoverHits), .count(.getHits), .passAsValue, .keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: false), [.pass, .keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: true), [.pass, .keepCopy(.add)]),
            (.ended(.backup, .primaryRecovering), [.send(.keptCopy, to: .primary), .nextKey, .completeReply]),
        ])
        #expect(job.keysLeft == 0)
    }

    /// Hit, miss, kept delete, error line: one reply each, the reply complete after the last.
    @Test func everyKindOfReplyCountsDown() {
        let status = RouteStatus.primaryRecovering
        var job = RepairJob(keys: 4)
        play(&job, [(.start(status), [.send(.lookupMissingKeys, to: .backup)])])
        play(&job, hitRows + [(.ended(.backup, status), [.send(.keptCopy, to: .primary), .nextKey])], table: "hit")
        #expect(job.keysLeft == 3)
        play(&job, [(.ended(.backup, status), [.nextKey])], table: "miss")
        #expect(job.keysLeft == 2)
        play(&job, [
            (.itemStarted(.backup, keptDelete: true), []),
            (.itemBytes(.backup, endsItem: false), []),
            (.itemBytes(.backup, endsItem: true), []),
            (.ended(.backup, status), [.nextKey]),
        ], table: "kept delete")
        #expect(job.keysLeft == 1)
        #expect(!job.isFinished)
        playToFinish(&job, [(.line(.backup, .error, status), [.nextKey, .completeReply])], table: "error line")
    }

    /// A kept delete's copy is skipped, and the next key's hit is not.
    @Test func keptDeleteSkipsOnlyItsKey() {
        var job = RepairJob(keys: 2)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupMissingKeys, to: .backup)]),
            (.itemStarted(.backup, keptDelete: true), []),
            (.itemBytes(.backup, endsItem: true), []),
            (.ended(.backup, .bothUp), [.nextKey]),
        ] + hitRows + [
            (.ended(.backup, .bothUp), [.send(.keptCopy, to: .primary), .nextKey, .completeReply]),
        ])
    }

    static let primaryGone: [StatusCase] = [
        StatusCase("primary down", .primaryDown, [.nextKey, .completeReply]),
        StatusCase("no backup and primary down", .noBackupPrimaryDown, [.nextKey, .completeReply]),
    ]

    /// The primary went down meanwhile: the hit is passed, not written back.
    @Test("primary down: no write-back", arguments: primaryGone)
    func primaryDownNoWriteBack(_ test: StatusCase) {
        var job = RepairJob(keys: 1)
        playToFinish(&job, [(.start(.bothUp), [.send(.lookupMissingKeys, to: .backup)])] + hitRows
                     + [(.ended(.backup, test.status), test.actions)], table: test.name)
    }

    /// The backup fails in the middle of a value: it is dropped, nothing is
    /// written back, and every key still owed fails too.
    @Test func failureMidValue() {
        var job = RepairJob(keys: 2)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupMissingKeys, to: .backup)]),
            (.itemStarted(.backup, keptDelete: false), [.count(.missFailoverHits), .count(.getHits), .passAsValue, .keepCopy(.add)]),
            (.itemBytes(.backup, endsItem: false), [.pass, .keepCopy(.add)]),
            (.failed(.backup, .timeout, .bothUp, replyStarted: false), [.dropOpenItem, .nextKey]),
            (.failed(.backup, .timeout, .bothUp, replyStarted: false), [.nextKey, .completeReply]),
        ])
    }

    @Test func failureBetweenKeys() {
        var job = RepairJob(keys: 2)
        playToFinish(&job, [(.start(.bothUp), [.send(.lookupMissingKeys, to: .backup)])] + hitRows + [
            (.ended(.backup, .bothUp), [.send(.keptCopy, to: .primary), .nextKey]),
            (.failed(.backup, .unavailable, .bothUp, replyStarted: true), [.nextKey, .completeReply]),
        ])
    }

    // MARK: - Events it cannot take

    @Test func ignoresClientAndMergeEvents() {
        var job = RepairJob(keys: 1)
        _ = job.handle(.start(.bothUp))
        expectIgnored(&job, [.valueCaptured, .valueAbandoned, .shareCompleted])
        #expect(job.keysLeft == 1)
    }

    /// Replies after the last key change nothing (completion is not repeated).
    @Test func repliesAfterTheLastKeyAreIgnored() {
        var job = RepairJob(keys: 1)
        playToFinish(&job, [
            (.start(.bothUp), [.send(.lookupMissingKeys, to: .backup)]),
            (.ended(.backup, .bothUp), [.nextKey, .completeReply]),
        ])
        expectIgnored(&job, [
            .ended(.backup, .bothUp), .line(.backup, .miss, .bothUp), .failed(.backup, .timeout, .bothUp, replyStarted: false),
            .valueCaptured, .valueAbandoned, .shareCompleted,
        ])
        #expect(job.keysLeft == 0)
        #expect(job.isFinished)
    }
}
