// The kept-keys journal (--state-dir): its line format, what a replay makes of
// good, damaged, torn and foreign files, and PendingDeletes writing every
// change to it so that a second PendingDeletes reads back the same state.

import Foundation
import Glibc
import Testing
@testable import MagentCore

@Suite struct KeptKeysJournalTests {
    private static let oddKeys: [[UInt8]] = [
        Array("user:1".utf8), Array("a%20b".utf8), [0x20, 0x0a, 0x0d, 0x00, 0x25], [0xff, 0x7f, 0x41], Array("ключ".utf8),
    ]

    @Test("every record reads back as itself, whatever bytes its key holds")
    func linesRoundTrip() {
        for key in Self.oddKeys {
            for record in [KeptKeysRecord.kept(server: "primary/127.0.0.1:21201", key: key, missedWrite: true),
                           .kept(server: "backup/[::1]:11211", key: key, missedWrite: false),
                           .forgotten(server: "primary/cache-a:11211", key: key)] {
                let line = record.line
                #expect(line.last == UInt8(ascii: "\n"))
                #expect(line.dropLast().allSatisfy { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") })
                #expect(KeptKeysRecord(line: line.dropLast()[...]) == record, "\(String(decoding: line, as: UTF8.self))")
            }
        }
        for record in [KeptKeysRecord.overflowed(server: "primary/127.0.0.1:21201"), .cleared(server: "backup/[::1]:11211")] {
            #expect(KeptKeysRecord(line: record.line.dropLast()[...]) == record)
        }
    }

    @Test("a line is refused when its checksum, its form or its escapes are wrong")
    func damagedLines() {
        let good = KeptKeysRecord.kept(server: "primary/127.0.0.1:1", key: Array("k".utf8), missedWrite: false).line.dropLast()
        var flipped = Array(good)
        flipped[flipped.count - 1] = UInt8(ascii: "j")
        let table: [(String, [UInt8])] = [
            ("a changed key", flipped),
            ("cut short", Array(good.dropLast(3))),
            ("empty", []),
            ("no checksum", Array("K d primary/127.0.0.1:1 k".utf8)),
        ]
        for (what, line) in table { #expect(KeptKeysRecord(line: line[...]) == nil, "\(what)") }
        // Right checksums over bodies this format never writes.
        for body in ["K x primary/a:1 k", "K d primary/a:1", "F primary/a:1", "Q primary/a:1 k", "K d primary/a:1 k%2", "K d primary/a:1 k%zz",
                     "F primary/a:1 two words", "K d  k"] {
            let bytes = Array(body.utf8)
            let sum = KeptKeysRecord.checksum(bytes[...])
            let hex = String(sum, radix: 16)
            let line = Array((String(repeating: "0", count: 8 - hex.count) + hex + " " + body).utf8)
            #expect(KeptKeysRecord(line: line[...]) == nil, "\(body)")
        }
    }

    @Test("replay: the last record of a key wins; damaged lines, a torn last line and a foreign file are told apart")
    func replay() {
        let p = "primary/127.0.0.1:1"
        let b = "backup/127.0.0.1:2"
        let records: [KeptKeysRecord] = [
            .kept(server: p, key: Array("a".utf8), missedWrite: false),
            .kept(server: p, key: Array("b".utf8), missedWrite: false),
            .kept(server: b, key: Array("a".utf8), missedWrite: true),
            .kept(server: p, key: Array("a".utf8), missedWrite: true),
            .forgotten(server: p, key: Array("b".utf8)),
            .forgotten(server: b, key: Array("never".utf8)),
        ]
        var contents = KeptKeysRecord.header
        for record in records { contents += record.line }
        let clean = KeptKeysReplay(contents: contents)
        #expect(clean.kept == [p: [Array("a".utf8): true], b: [Array("a".utf8): true]])
        #expect(clean.damagedLines == 0 && !clean.tornLastLine && !clean.foreign && clean.keptCount == 2)

        var damaged = contents
        damaged.insert(contentsOf: Array("garbage line\n".utf8), at: KeptKeysRecord.header.count)
        damaged += Array(KeptKeysRecord.kept(server: p, key: Array("c".utf8), missedWrite: false).line.dropLast(2))
        let read = KeptKeysReplay(contents: damaged)
        #expect(read.kept == clean.kept && read.damagedLines == 1 && read.tornLastLine)

        #expect(KeptKeysReplay(contents: Array("some other file\n".utf8)).foreign)
        #expect(KeptKeysReplay(contents: []) == KeptKeysReplay())
        #expect(KeptKeysReplay(contents: KeptKeysRecord.header) == KeptKeysReplay())
    }

    private func scratchDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "magent-journal-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    private func servers() throws -> [BackendServer] {
        [BackendServer(id: 0, role: .primary, address: ServerAddress(host: "127.0.0.1", port: 21201),
                       socketAddress: try SocketAddress.resolve(host: "127.0.0.1", port: 21201).get(), failureLimit: 2),
         BackendServer(id: 1, role: .backup, address: ServerAddress(host: "127.0.0.1", port: 21202),
                       socketAddress: try SocketAddress.resolve(host: "127.0.0.1", port: 21202).get(), failureLimit: 2)]
    }

    private func keep(_ kept: PendingDeletes, _ server: Int, _ key: [UInt8], missedWrite: Bool = false) -> Bool {
        key.withUnsafeBytes { kept.add(server: server, key: $0, missedWrite: missedWrite) }
    }

    private func reopen(_ directory: String) throws -> (KeptKeysJournal, KeptKeysReplay) {
        try KeptKeysJournal.open(directory: directory).get()
    }

    /// The kept keys of a proxy starting: `named` servers (both by default),
    /// the journal in `directory` read back and attached, as ProxyServer does.
    private func start(in directory: String, named: [BackendServer]? = nil, limit: Int = 100_000) throws
        -> (kept: PendingDeletes, replay: KeptKeysReplay, restore: (restored: Int, dropped: Int, overflowed: [Int])) {
        let kept = PendingDeletes(servers: 4, limitPerServer: limit)
        kept.nameServers(try named ?? servers())
        let (journal, replay) = try reopen(directory)
        return (kept, replay, kept.attach(journal, replay: replay, logger: Logger(level: .error)))
    }

    @Test("every change PendingDeletes makes reaches the journal, and a new proxy reads back the same state")
    func changesSurviveARestart() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (first, replay, _) = try start(in: directory)
        #expect(replay == KeptKeysReplay())

        for key in Self.oddKeys { _ = keep(first, 0, key) }
        _ = keep(first, 1, Array("written".utf8), missedWrite: true)
        Self.oddKeys[0].withUnsafeBytes { first.keptKeyWritten(server: 0, key: $0) }   // a delete becomes a kept write
        let forgotten = Self.oddKeys[1]
        #expect(first.remove(server: 0, key: forgotten, applied: first.entry(server: 0, key: forgotten)!))

        let (second, read, (restored, dropped, overflowed)) = try start(in: directory)
        #expect(!read.foreign && read.damagedLines == 0 && !read.tornLastLine)
        #expect(overflowed.isEmpty)
        #expect(restored == Self.oddKeys.count && dropped == 0)
        for key in Self.oddKeys {
            #expect(second.missedWrite(server: 0, key: key) == first.missedWrite(server: 0, key: key))
        }
        #expect(second.missedWrite(server: 0, key: Self.oddKeys[0]) == true)
        #expect(second.missedWrite(server: 0, key: forgotten) == nil)
        #expect(second.missedWrite(server: 1, key: Array("written".utf8)) == true)
        #expect(second.missedWriteCount(server: 0) == 1 && second.deleteCount(server: 0) == Self.oddKeys.count - 2)
    }

    @Test("once nothing is kept the file is its header alone; a server no longer configured is dropped on restore")
    func emptiedAndDropped() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (kept, _, _) = try start(in: directory)
        _ = keep(kept, 0, Array("gone".utf8))
        _ = keep(kept, 1, Array("other".utf8))
        let path = directory + "/" + KeptKeysJournal.fileName
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count > KeptKeysRecord.header.count)
        #expect(kept.remove(server: 0, key: Array("gone".utf8), applied: kept.entry(server: 0, key: Array("gone".utf8))!))
        #expect(kept.remove(server: 1, key: Array("other".utf8), applied: kept.entry(server: 1, key: Array("other".utf8))!))
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == KeptKeysRecord.header)

        // Kept for a server that the next configuration no longer has.
        _ = keep(kept, 1, Array("orphan".utf8))
        let (_, _, (restored, dropped, _)) = try start(in: directory, named: [try servers()[0]])
        #expect(restored == 0 && dropped == 1)
    }

    @Test("a file that is not a journal is moved aside, never read or overwritten; a missing directory is refused")
    func foreignFile() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/" + KeptKeysJournal.fileName
        try Data("not a journal\n".utf8).write(to: URL(fileURLWithPath: path))
        let (_, replay) = try reopen(directory)
        #expect(replay.foreign && replay.keptCount == 0)
        #expect(try String(contentsOfFile: path + ".unreadable", encoding: .utf8) == "not a journal\n")
        guard case .failure(let error) = KeptKeysJournal.open(directory: directory + "/missing") else {
            Issue.record("a missing directory was accepted")
            return
        }
        #expect(error.description.contains("not a directory"))
    }

    @Test("past its limit a server's list overflows: the key is refused, the overflow is journaled and restored, a clear forgets both")
    func overflow() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let (kept, _, _) = try start(in: directory, limit: 2)
        #expect(keep(kept, 0, Array("a".utf8)) && keep(kept, 0, Array("b".utf8)))
        #expect(keep(kept, 0, Array("a".utf8), missedWrite: true))    // already kept: no room needed
        #expect(!keep(kept, 0, Array("c".utf8)))
        #expect(!keep(kept, 0, Array("d".utf8)))
        #expect(kept.overflows.current == 2 && kept.count(server: 0) == 2)
        #expect(keep(kept, 1, Array("x".utf8)))

        let (restarted, read, (restored, _, overflowed)) = try start(in: directory, limit: 2)
        #expect(read.overflowed == ["primary/127.0.0.1:21201"] && read.keptCount == 3)
        #expect(restored == 3 && overflowed == [0])

        restarted.clear(server: 0)
        #expect(restarted.count(server: 0) == 0 && restarted.missedWriteCount(server: 0) == 0 && restarted.count(server: 1) == 1)
        let (_, afterClear) = try reopen(directory)
        #expect(afterClear.overflowed.isEmpty && afterClear.kept == ["backup/127.0.0.1:21202": [Array("x".utf8): false]])
        // A smaller limit on restart: what does not fit overflows.
        _ = keep(restarted, 1, Array("y".utf8))
        let (_, withTwo, (_, dropped, overflowedAgain)) = try start(in: directory, limit: 1)
        #expect(withTwo.keptCount == 2 && dropped == 1 && overflowedAgain == [1])
    }
}
