// Issue 16 item 4, one flush_all wiping every copy: `--flush-all refuse`
// answers flush_all (text and binary) with an error and touches no server.
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
}
