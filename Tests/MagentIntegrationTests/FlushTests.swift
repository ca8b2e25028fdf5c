// Issue 16 item 4, one flush_all wiping every copy: `--flush-all refuse`
// answers flush_all (text and binary) with an error and touches no server;
// with `all` (the default) a server that did not take a flush the others
// took (refused, timed out, down) is kept out of use until it takes it, so no
// flushed key reads back through it after the primary is gone.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct FlushTests {
    private static let refusal = "SERVER_ERROR flush_all is refused by this proxy (flush-all = refuse)\r\n"
    private static let notEveryServer = "SERVER_ERROR not every server answered OK\r\n"
    private static let keys = (1...5).map { "flushed\($0)" }

    /// `stats servers` through the proxy, as name → value.
    private func servers(_ magent: Magent) throws -> [String: String] {
        let client = try magent.client(timeout: 3)
        defer { client.close() }
        return try client.stats("stats servers")
    }

    private func waitForBackup(_ magent: Magent, state: String, timeout: Double = 15) throws {
        var last: [String: String] = [:]
        try waitFor("backup:1 to be \(state)", timeout: timeout, interval: 0.05, detail: { ServerStates.describe(last) }) {
            last = try servers(magent)
            return last["backup:1:state"] == state
        }
    }

    private func writeKeys(_ client: TextClient) {
        for key in Self.keys { client.expect(Text.set(key, "v-\(key)"), "STORED\r\n") }
    }

    /// Every key misses through the proxy.
    private func expectNoneReadBack(_ client: TextClient, sourceLocation: SourceLocation = #_sourceLocation) {
        for key in Self.keys { client.expect("get \(key)\r\n", "END\r\n", sourceLocation: sourceLocation) }
        client.expect("get \(Self.keys.joined(separator: " "))\r\n", "END\r\n", sourceLocation: sourceLocation)
    }

    // MARK: - flush-all = refuse

    @Test func refuseAnswersTextFlushAllAndTouchesNoServer() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "--flush-all", "refuse"])
        defer { cluster.stop() }
        for server in cluster.primaries + cluster.backups { try server.set("direct", "x") }
        let client = try cluster.client()
        client.expect(Text.set("kept", "1"), "STORED\r\n")
        client.expect("flush_all\r\n", Self.refusal)
        client.expect("flush_all 30\r\n", Self.refusal)
        // noreply: nothing, as memcached -F answers nothing to it.
        client.expect("flush_all noreply\r\nflush_all 0 noreply\r\nversion\r\n", Text.version)
        // Still checked first: a malformed one is a client error.
        client.expect("flush_all x\r\n", "CLIENT_ERROR invalid exptime argument\r\n")
        client.expect("get kept\r\n", Text.hit("kept", "1"))
        for server in cluster.primaries + cluster.backups {
            #expect(try server.stat("cmd_flush") == 0, "\(server.address) got a flush")
            #expect(try server.getString("direct") == "x", "\(server.address) lost its key")
        }
        // Other broadcasts still go everywhere.
        client.expect("verbosity 0\r\n", "OK\r\n")
        client.expectSilence()
    }

    @Test func refuseAnswersBinaryFlushWithAnError() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--flush-all", "refuse"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let message = Array("flush_all is refused by this proxy (flush-all = refuse)".utf8)
        // flush, flush with a delay, flushq (quiet: errors are answered), then noop.
        try client.send(BinaryMessage(opcode: 0x08, opaque: 1).encoded()
                        + BinaryMessage(opcode: 0x08, opaque: 2, extras: BinaryMessage.be(30, 4)).encoded()
                        + BinaryMessage(opcode: 0x18, opaque: 3).encoded()
                        + BinaryMessage(opcode: 0x0a, opaque: 4).encoded())
        for (opcode, opaque) in [(UInt8(0x08), UInt32(1)), (0x08, 2), (0x18, 3)] {
            let reply = try BinaryMessage.read(from: client)
            #expect(reply.opcode == opcode && reply.opaque == opaque, "\(reply)")
            #expect(reply.status == 0x83, "status \(reply.status)")
            #expect(reply.value == message, "\(reply)")
        }
        let noop = try BinaryMessage.read(from: client)
        #expect(noop.opcode == 0x0a && noop.status == 0 && noop.opaque == 4, "\(noop)")
        for server in cluster.primaries + cluster.backups {
            #expect(try server.stat("cmd_flush") == 0, "\(server.address) got a flush")
        }
    }

    /// The setting comes from the file too, and a reload changes it.
    @Test func refuseFromTheFileAndAReloadBackToAll() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let memcached = try Memcached()
        defer { memcached.stop() }
        let path = try Environment.writeConfiguration(["server = \(memcached.address)", "flush-all = refuse"], in: directory)
        let magent = try Magent(["-c", path, "-t", "1", "--log-level", "notice"])
        defer { magent.stop() }
        let client = try magent.client()
        client.expect("flush_all\r\n", Self.refusal)
        _ = try Environment.writeConfiguration(["server = \(memcached.address)", "flush-all = all"], in: directory)
        magent.process.signal(SIGHUP)
        try waitFor("the reload", timeout: 5) { magent.process.standardError.contains("changed: flush-all refuse -> all") }
        // The worker takes the new setting between two events: a refusal until then.
        try waitFor("flush_all to be taken", timeout: 5) {
            try client.send("flush_all\r\n")
            return try client.readLine() == "OK\r\n"
        }
        #expect(try memcached.stat("cmd_flush") == 1)
    }

    // MARK: - flush-all = all: a server that did not take it

    /// A backup that refuses flush_all (memcached -F): out of use from then
    /// on, so with the primary gone its old copies are never read.
    @Test func aBackupThatRefusesTheFlushIsKeptOutOfUse() throws {
        let primary = try Memcached()
        defer { primary.stop() }
        let backup = try Memcached(extraArguments: ["-F"])
        defer { backup.stop() }
        let magent = try Magent(["-s", primary.address, "-b", backup.address, "-t", "1", "--log-level", "notice"])
        defer { magent.stop() }
        let client = try magent.client()
        writeKeys(client)
        eventually(backup, Self.keys[0], is: "v-\(Self.keys[0])")
        client.expect("flush_all\r\n", Self.notEveryServer)
        try waitForBackup(magent, state: "down", timeout: 5)
        // The backup kept its copies: it refused.
        #expect(try backup.getString(Self.keys[0]) == "v-\(Self.keys[0])")
        primary.kill()
        expectNoneReadBack(client)
        // Its probe keeps offering the flush; it keeps refusing, and stays out.
        try waitFor("the refusal in the log", timeout: 5) {
            magent.process.standardError.contains("answered 'CLIENT_ERROR flush_all not allowed' to the flush_all it missed")
        }
        #expect(try servers(magent)["backup:1:state"] == "down")
        let log = magent.process.standardError
        #expect(log.contains("missed a flush_all other servers took"), "\(log)")
    }

    /// A flush every server refuses changes nothing anywhere: no server is
    /// taken out of use.
    @Test func aFlushNoServerTookMarksNothing() throws {
        let primary = try Memcached(extraArguments: ["-F"])
        defer { primary.stop() }
        let backup = try Memcached(extraArguments: ["-F"])
        defer { backup.stop() }
        let magent = try Magent(["-s", primary.address, "-b", backup.address, "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        client.expect(Text.set("stays", "1"), "STORED\r\n")
        client.expect("flush_all\r\n", Self.notEveryServer)
        let states = try servers(magent)
        #expect(states["primary:1:state"] == "up" && states["backup:1:state"] == "up", "\(ServerStates.describe(states))")
        client.expect("get stays\r\n", Text.hit("stays", "1"))
    }

    /// The backup is down (frozen with SIGSTOP, marked down by a failed
    /// write) when the flush comes; it thaws with its old copies and the
    /// writes it took late. Its probe gives it the flush before it is used
    /// again; then it is refilled with what was written since.
    @Test func aBackupDownAtTheFlushTakesItBeforeItIsUsedAgain() throws {
        let cluster = try Cluster(primaries: 1, backups: 1,
                                  arguments: ["-t", "1", "--request-timeout", "300", "--failure-limit", "1", "--log-level", "notice"])
        defer { cluster.stop() }
        let backup = cluster.backups[0]
        let client = try cluster.client()
        writeKeys(client)
        eventually(backup, Self.keys[0], is: "v-\(Self.keys[0])")
        backup.pause()
        // Its copy of this write times out: it is marked down (it takes the write when it thaws).
        client.expect(Text.set(Self.keys[1], "late"), "STORED\r\n")
        try waitForBackup(cluster.magent, state: "down", timeout: 5)
        client.expect("flush_all\r\n", Self.notEveryServer)
        client.expect(Text.set("after", "fresh"), "STORED\r\n")
        backup.resume()
        try waitFor("the flush given in the log", timeout: 10) {
            cluster.magent.process.standardError.contains("took the flush_all it missed")
        }
        try waitForBackup(cluster.magent, state: "up")
        for key in Self.keys { #expect(try backup.getString(key) == nil, "the backup still has \(key)") }
        eventually(backup, "after", is: "fresh")
        cluster.primaries[0].kill()
        expectNoneReadBack(client)
        client.expect("get after\r\n", Text.hit("after", "fresh"))
    }

    /// The backup is frozen when the flush comes, so its flush times out. It
    /// is taken out of use at once and given the flush by its probe when it
    /// thaws; no flushed key reads back once the primary is gone. (memcached
    /// also runs the flush left in its socket buffer when it thaws; writes
    /// left there on other connections may run after it, which is why the
    /// server is not trusted until it answers a flush of its own.)
    @Test func aBackupWhoseFlushTimedOutReadsNoFlushedKey() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "300", "--log-level", "notice"])
        defer { cluster.stop() }
        let backup = cluster.backups[0]
        let client = try cluster.client()
        writeKeys(client)
        eventually(backup, Self.keys[0], is: "v-\(Self.keys[0])")
        backup.pause()
        client.expect("flush_all\r\n", Self.notEveryServer)
        try waitForBackup(cluster.magent, state: "down", timeout: 5)
        backup.resume()
        try waitForBackup(cluster.magent, state: "up")
        for key in Self.keys { #expect(try backup.getString(key) == nil, "the backup still has \(key)") }
        cluster.primaries[0].kill()
        expectNoneReadBack(client)
        let log = cluster.magent.process.standardError
        #expect(log.contains("missed a flush_all other servers took"), "\(log)")
        #expect(log.contains("took the flush_all it missed"), "\(log)")
    }
}
