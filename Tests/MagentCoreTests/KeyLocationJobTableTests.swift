// KeyLocationJob's decision table (`stats key <key>`): each server in use is
// asked whether it holds the key, a server down or failing is unknown, and
// the reply is written once both are settled; then KeyLocationBlock's text
// and the argument's key checks.

import Testing
@testable import MagentCore

extension KeyLocationJob: TableMachine {}

@Suite struct KeyLocationJobTableTests {
    @Test func bothAnswerMetaGets() {
        var job = KeyLocationJob()
        let status = RouteStatus.bothUp.withMetaGets
        playToFinish(&job, [
            (.start(status), [.send(.probeKey(asMetaGet: true), to: .primary), .send(.probeKey(asMetaGet: true), to: .backup)]),
            (.line(.backup, .miss, status), []),
            (.line(.primary, .success, status), [.passKeyLocation, .completeReply]),
        ])
        #expect(job.presence(.primary) == .yes && job.presence(.backup) == .no)
    }

    /// EN under a meta shape comes as `ended` with no item before it.
    @Test func metaMissAsEnded() {
        var job = KeyLocationJob()
        let status = RouteStatus.bothUp.withMetaGets
        playToFinish(&job, [
            (.start(status), [.send(.probeKey(asMetaGet: true), to: .primary), .send(.probeKey(asMetaGet: true), to: .backup)]),
            (.ended(.primary, status), []),
            (.line(.backup, .success, status), [.passKeyLocation, .completeReply]),
        ])
        #expect(job.presence(.primary) == .no && job.presence(.backup) == .yes)
    }

    /// Without meta gets: a classic get, VALUE before END is a hit.
    @Test func classicGets() {
        var job = KeyLocationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.probeKey(asMetaGet: false), to: .primary), .send(.probeKey(asMetaGet: false), to: .backup)]),
            (.itemStarted(.primary, keptDelete: false), []),
            (.itemBytes(.primary, endsItem: true), []),
            (.ended(.primary, .bothUp), []),
            (.ended(.backup, .bothUp), [.passKeyLocation, .completeReply]),
        ])
        #expect(job.presence(.primary) == .yes && job.presence(.backup) == .no)
    }

    @Test("a server marked down is not asked", arguments: [RouteStatus.primaryDown, .backupDown])
    func oneDown(_ status: RouteStatus) {
        var job = KeyLocationJob()
        let asked: ServerRole = status.primaryUp ? .primary : .backup
        playToFinish(&job, [
            (.start(status), [.send(.probeKey(asMetaGet: false), to: asked)]),
            (.ended(asked, status), [.passKeyLocation, .completeReply]),
        ], table: describe(status))
        #expect(job.presence(asked) == .no)
        #expect(job.presence(asked == .primary ? .backup : .primary) == .unknown)
    }

    @Test("nothing in use: answered at once, both unknown", arguments: [RouteStatus.bothDown, .noBackupPrimaryDown])
    func nothingToAsk(_ status: RouteStatus) {
        var job = KeyLocationJob()
        playToFinish(&job, [(.start(status), [.passKeyLocation, .completeReply])], table: describe(status))
        #expect(job.presence(.primary) == .unknown && job.presence(.backup) == .unknown)
    }

    @Test func noBackupAsksThePrimaryOnly() {
        var job = KeyLocationJob()
        playToFinish(&job, [
            (.start(.noBackup), [.send(.probeKey(asMetaGet: false), to: .primary)]),
            (.ended(.primary, .noBackup), [.passKeyLocation, .completeReply]),
        ])
    }

    @Test("no reply: unknown", arguments: [BackendFailure.timeout, .unavailable, .notSent, .connectTimeout, .protocolError])
    func failed(_ reason: BackendFailure) {
        var job = KeyLocationJob()
        playToFinish(&job, [
            (.start(.bothUp), [.send(.probeKey(asMetaGet: false), to: .primary), .send(.probeKey(asMetaGet: false), to: .backup)]),
            (.itemStarted(.primary, keptDelete: false), []),
            (.failed(.primary, reason, .bothUp, replyStarted: false), []),
            (.ended(.backup, .bothUp), [.passKeyLocation, .completeReply]),
        ], table: "\(reason)")
        #expect(job.presence(.primary) == .unknown && job.presence(.backup) == .no)
    }

    @Test func errorToMetaGetMarksTheServer() {
        var job = KeyLocationJob()
        let status = RouteStatus.bothUp.withMetaGets
        playToFinish(&job, [
            (.start(status), [.send(.probeKey(asMetaGet: true), to: .primary), .send(.probeKey(asMetaGet: true), to: .backup)]),
            (.line(.primary, .unknownCommand, status), [.serverLacksMetaGets(.primary)]),
            (.line(.backup, .error, status), [.passKeyLocation, .completeReply]),
        ])
        #expect(job.presence(.primary) == .unknown && job.presence(.backup) == .unknown)
    }

    @Test func ignoresServersNotAskedAndOtherEvents() {
        var job = KeyLocationJob()
        _ = job.handle(.start(.backupDown))
        expectIgnored(&job, [
            .line(.backup, .success, .backupDown), .ended(.backup, .backupDown), .statLine(.primary),
            .itemBytes(.primary, endsItem: true), .valueCaptured, .valueAbandoned, .shareCompleted,
        ])
        #expect(!job.isFinished)
    }

    @Test func ignoresEverythingOnceDone() {
        var job = KeyLocationJob()
        _ = job.handle(.start(.noBackup))
        _ = job.handle(.ended(.primary, .noBackup))
        #expect(job.isFinished)
        expectIgnored(&job, everyEvent(.noBackup))
    }

    // MARK: - The reply

    @Test func rendersBothServers() {
        let text = KeyLocationBlock.render(
            key: "user:1",
            primary: .init(address: "127.0.0.1:21201", state: "recovering", resyncing: true, has: .yes, kept: .write),
            backup: .init(address: "127.0.0.1:21311", state: "down", has: .unknown, kept: .delete))
        #expect(text == """
            STAT key user:1\r
            STAT primary 127.0.0.1:21201\r
            STAT primary_state recovering resyncing\r
            STAT primary_has yes\r
            STAT primary_kept write\r
            STAT backup 127.0.0.1:21311\r
            STAT backup_state down\r
            STAT backup_has unknown\r
            STAT backup_kept delete\r
            END\r

            """)
    }

    @Test func rendersNoBackup() {
        let text = KeyLocationBlock.render(key: "k", primary: .init(address: "127.0.0.1:1", state: "up", has: .no, kept: .none),
                                           backup: nil)
        #expect(text == "STAT key k\r\nSTAT primary 127.0.0.1:1\r\nSTAT primary_state up\r\nSTAT primary_has no\r\n"
            + "STAT primary_kept none\r\nSTAT backup none\r\nEND\r\n")
    }

    // MARK: - The argument

    @Test("the key group", arguments: [("key k", true), ("key", true), ("keys k", false), ("servers", false), ("ke", false)])
    func keyGroup(_ row: (String, Bool)) {
        let bytes = Array(row.0.utf8)
        bytes.withUnsafeBytes { #expect(KeyLocationJob.isKeyGroup($0) == row.1, "\(row.0)") }
    }

    @Test("the key checked as memcached checks keys", arguments: [
        ("key user:1", "user:1", false),
        ("key  spaced", "spaced", false),
        ("key " + String(repeating: "k", count: 250), String(repeating: "k", count: 250), false),
        ("key " + String(repeating: "k", count: 251), nil, false),
        ("key", nil, false),
        ("key a b", nil, false),
        ("key a\u{1}b", nil, false),
        ("key a\u{7f}b", nil, false),
        ("key a\u{1}b", "a\u{1}b", true),
        ("key a\u{0}b", nil, true),
    ] as [(String, String?, Bool)])
    func requestedKey(_ row: (String, String?, Bool)) {
        let bytes = Array(row.0.utf8)
        bytes.withUnsafeBytes { argument in
            let key = KeyLocationJob.requestedKey(in: argument, allowControlKeys: row.2).map { String(decoding: argument[$0.start..<$0.end], as: UTF8.self) }
            #expect(key == row.1, "\(row.0.debugDescription)")
        }
    }
}
