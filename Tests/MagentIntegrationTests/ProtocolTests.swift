// The memcached text protocol through magent: every command's exact reply,
// errors answered by the proxy itself, long lines, large values, noreply.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite struct ProtocolTests {
    @Test func versionAndQuit() throws {
        let cluster = try Cluster(primaries: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("version\r\n", Text.version)
        // quit closes only after the replies owed to earlier requests.
        try client.send("set a 0 0 1\r\nx\r\nget a\r\nquit\r\nversion\r\n")
        let (closed, before) = client.waitForClose()
        #expect(closed)
        #expect(text(before) == "STORED\r\n" + Text.hit("a", "x"))
    }

    @Test func statsShowsTheServerMatrix() throws {
        let cluster = try Cluster(primaries: 3, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let addresses = cluster.primaries.map(\.address)
        client.expect("stats\r\n", Text.agentStats(addresses.map { ($0, 0) }))
        // "foo" goes to index 0 of three servers: after one get, one idle connection there.
        #expect(cluster.placement(of: "foo").primary == 0)
        client.expect("get foo\r\n", "END\r\n")
        client.expect("stats\r\n", Text.agentStats([(addresses[0], 1), (addresses[1], 0), (addresses[2], 0)]))
        // "a" goes to index 1.
        client.expect("get a\r\n", "END\r\n")
        client.expect("stats\r\n", Text.agentStats([(addresses[0], 1), (addresses[1], 1), (addresses[2], 0)]))
        client.expect("stats items\r\n", "ERROR\r\n")
        client.expect("stats anything at all\r\n", "ERROR\r\n")
        client.expectSilence()
    }

    @Test func storageCommandsAnswerExactly() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("get k1\r\n", "END\r\n")
        client.expect(Text.set("k1", "hello", flags: 5), "STORED\r\n")
        client.expect("get k1\r\n", Text.hit("k1", "hello", flags: 5))
        client.expect(Text.set("k1", "other", verb: "add"), "NOT_STORED\r\n")
        client.expect(Text.set("k2", "two", verb: "add"), "STORED\r\n")
        client.expect(Text.set("nothere", "x", verb: "replace"), "NOT_STORED\r\n")
        client.expect(Text.set("k2", "TWO", verb: "replace"), "STORED\r\n")
        client.expect(Text.set("k2", "-end", verb: "append"), "STORED\r\n")
        client.expect(Text.set("k2", "start-", verb: "prepend"), "STORED\r\n")
        client.expect(Text.set("nothere", "x", verb: "append"), "NOT_STORED\r\n")
        client.expect("get k2\r\n", Text.hit("k2", "start-TWO-end"))

        // gets and cas.
        try client.send("gets k2\r\n")
        let gets = try client.readRetrieval()
        let header = text(gets).components(separatedBy: "\r\n").first ?? ""
        let parts = fields(header)
        #expect(parts.count == 5 && parts[0] == "VALUE" && parts[1] == "k2" && parts[2] == "0" && parts[3] == "13")
        let unique = parts.count == 5 ? UInt64(parts[4]) : nil
        #expect(unique != nil)
        #expect(text(gets) == "VALUE k2 0 13 \(unique ?? 0)\r\nstart-TWO-end\r\nEND\r\n")
        client.expect("cas k2 0 0 3 \((unique ?? 0) + 1000)\r\nbad\r\n", "EXISTS\r\n")
        client.expect("cas k2 0 0 3 \(unique ?? 0)\r\nnew\r\n", "STORED\r\n")
        client.expect("cas missing 0 0 1 1\r\nx\r\n", "NOT_FOUND\r\n")
        client.expect("get k2\r\n", Text.hit("k2", "new"))

        // incr / decr.
        client.expect(Text.set("n", "10"), "STORED\r\n")
        client.expect("incr n 5\r\n", "15\r\n")
        client.expect("decr n 20\r\n", "0\r\n")
        client.expect("incr n 18446744073709551615\r\n", "18446744073709551615\r\n")
        client.expect("incr missing 1\r\n", "NOT_FOUND\r\n")
        client.expect("incr k2 1\r\n", "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n")

        // delete, with the optional 0.
        client.expect("delete n\r\n", "DELETED\r\n")
        client.expect("delete n\r\n", "NOT_FOUND\r\n")
        client.expect("delete k1 0\r\n", "DELETED\r\n")
        client.expect("get k1 n\r\n", "END\r\n")

        // touch, gat, gats.
        client.expect("touch k2 100\r\n", "TOUCHED\r\n")
        client.expect("touch missing 100\r\n", "NOT_FOUND\r\n")
        client.expect("gat 100 k2 missing\r\n", Text.hit("k2", "new"))
        try client.send("gats 0 k2\r\n")
        let gats = text(try client.readRetrieval())
        #expect(gats.hasPrefix("VALUE k2 0 3 ") && gats.hasSuffix("\r\nnew\r\nEND\r\n"))
        client.expectSilence()
    }

    @Test func multiGetMergesServersWithOneEnd() throws {
        let cluster = try Cluster(primaries: 3)
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<30).map { "multi\($0)" }
        #expect(Set(keys.map { cluster.placement(of: $0).primary }).count == 3)
        for key in keys where key != "multi7" { client.expect(Text.set(key, "v-\(key)"), "STORED\r\n") }
        try client.send("get " + keys.joined(separator: " ") + "\r\n")
        let reply = text(try client.readRetrieval())
        // Every hit exactly once, one END at the very end, nothing for the miss.
        #expect(reply.hasSuffix("END\r\n"))
        #expect(reply.components(separatedBy: "END\r\n").count == 2)
        for key in keys where key != "multi7" { #expect(reply.components(separatedBy: Text.value(key, "v-\(key)")).count == 2) }
        #expect(!reply.contains("multi7 "))
        let expectedLength = keys.filter { $0 != "multi7" }.reduce(5) { $0 + Text.value($1, "v-\($1)").utf8.count }
        #expect(reply.utf8.count == expectedLength)
        // gat and gats touch and return keys of every server.
        let spread = ["multi0", "multi1", "multi2", "multi3", "multi4", "multi5"]
        #expect(Set(spread.map { cluster.placement(of: $0).primary }).count == 3)
        let touchesBefore = try cluster.primaries.reduce(0) { $0 + (try $1.stat("cmd_touch")) }
        try client.send("gat 1000 " + spread.joined(separator: " ") + "\r\n")
        let gat = text(try client.readRetrieval())
        #expect(gat.utf8.count == spread.reduce(5) { $0 + Text.value($1, "v-\($1)").utf8.count } && gat.hasSuffix("\r\nEND\r\n"),
                "gat: \(gat)")
        for key in spread { #expect(gat.contains(Text.value(key, "v-\(key)"))) }
        let touchesAfter = try cluster.primaries.reduce(0) { $0 + (try $1.stat("cmd_touch")) }
        #expect(touchesAfter - touchesBefore == spread.count)
        try client.send("gats 0 multi0 multi1 multi2\r\n")
        let gats = text(try client.readRetrieval())
        #expect(gats.components(separatedBy: "VALUE ").count == 4 && gats.hasSuffix("END\r\n"), "gats: \(gats)")
        // Duplicate keys are answered as memcached does: once per mention.
        client.expect("get multi1 multi1\r\n", Text.value("multi1", "v-multi1") + Text.value("multi1", "v-multi1") + "END\r\n")
        client.expectSilence()
    }

    @Test func flushAllAndVerbosityGoToEveryServer() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        for server in cluster.primaries + cluster.backups { try server.set("direct", "x") }
        client.expect("flush_all\r\n", "OK\r\n")
        for server in cluster.primaries + cluster.backups {
            #expect(try server.get("direct") == nil, "flush_all did not reach \(server.address)")
            #expect(try server.stat("cmd_flush") == 1)
        }
        client.expect("flush_all 0\r\n", "OK\r\n")
        client.expect("flush_all noreply\r\nversion\r\n", Text.version)
        client.expect("verbosity 1\r\n", "OK\r\n")
        client.expect("verbosity 0 noreply\r\nversion\r\n", Text.version)
        client.expect("flush_all x\r\n", "CLIENT_ERROR invalid exptime argument\r\n")
        // One server down: not every server said OK.
        cluster.backups[0].kill()
        try client.send("flush_all\r\n")
        let line = try client.readLine()
        #expect(line.hasPrefix("SERVER_ERROR "), "got \(line)")
        client.expect("version\r\n", Text.version)
        client.expectSilence()
    }

    @Test func errorsAreAnsweredWithoutReachingABackend() throws {
        let cluster = try Cluster(primaries: 1)
        defer { cluster.stop() }
        let server = cluster.primaries[0]
        let before = try server.commandCount()
        let client = try cluster.client()
        let longKey = String(repeating: "k", count: 251)
        let table: [(String, String)] = [
            ("foo\r\n", "ERROR\r\n"),
            ("GET a\r\n", "ERROR\r\n"),
            ("Set a 0 0 1\r\n", "ERROR\r\n"),
            ("\r\n", "ERROR\r\n"),
            ("   \r\n", "ERROR\r\n"),
            ("get\r\n", "ERROR\r\n"),
            ("get \(longKey)\r\n", Text.badFormat),
            ("get ok \(longKey)\r\n", Text.badFormat),
            ("gets a\tb\r\n", Text.badFormat),
            ("get a\u{1}b\r\n", Text.badFormat),
            ("incr a x\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"),
            ("decr a -1\r\n", "CLIENT_ERROR invalid numeric delta argument\r\n"),
            ("touch a x\r\n", "CLIENT_ERROR invalid exptime argument\r\n"),
            ("gat x a\r\n", "CLIENT_ERROR invalid exptime argument\r\n"),
            ("delete a 5\r\n", "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"),
            ("delete \(longKey)\r\n", Text.badFormat),
            ("incr \(longKey) 1\r\n", Text.badFormat),
            ("touch a\u{7f} 1\r\n", Text.badFormat),
            ("stats anything\r\n", "ERROR\r\n"),
        ]
        for (request, expected) in table { client.expect(request, expected) }
        // NUL inside a key.
        client.expect(bytes("get a") + [0] + bytes("b\r\n"), Text.badFormat)
        // Storage command with a bad key but a valid length: the block is swallowed,
        // even when it looks like commands.
        client.expect("set \(longKey) 0 0 5\r\nhello\r\nversion\r\n", Text.badFormat + Text.version)
        client.expect("set a\tb 0 0 13\r\nget a\r\nquit\r\n\r\nversion\r\n", Text.badFormat + Text.version)
        client.expect(bytes("add a") + [0] + bytes(" 0 0 3\r\nabc\r\nversion\r\n"), Text.badFormat + Text.version)
        client.expect("set ok x 0 3\r\nabc\r\nversion\r\n", Text.badFormat + Text.version)
        client.expect("set ok 0 x 3\r\nabc\r\nversion\r\n", Text.badFormat + Text.version)
        client.expect("cas ok 0 0 3 x\r\nabc\r\nversion\r\n", Text.badFormat + Text.version)
        client.expectSilence()
        // A 250-byte key is fine.
        let maxKey = String(repeating: "m", count: 250)
        client.expect(Text.set(maxKey, "v"), "STORED\r\n")
        client.expect("get \(maxKey)\r\n", Text.hit(maxKey, "v"))
        // Only the last two requests reached memcached.
        #expect(try server.commandCount() == before + 2)
        #expect(try server.get("ok") == nil)
    }

    @Test func storageLengthThatIsNotANumberClosesTheConnection() throws {
        let cluster = try Cluster(primaries: 1)
        defer { cluster.stop() }
        for line in ["set a 0 0 abc\r\n", "set a 0 0 -1\r\n", "add a 0 0 1x\r\n"] {
            let client = try cluster.client()
            try client.send(line + "hello\r\nversion\r\n")
            let (closed, before) = client.waitForClose()
            #expect(text(before) == Text.badFormat, "for \(line)")
            #expect(closed, "for \(line)")
        }
        #expect(try cluster.primaries[0].get("a") == nil)
        // Others are still served.
        try cluster.client().expect("version\r\n", Text.version)
    }

    @Test func longCommandLines() throws {
        let cluster = try Cluster(primaries: 3)
        defer { cluster.stop() }
        let client = try cluster.client()
        // An 8 KB storage line (padding between tokens).
        let padded = "set wide" + String(repeating: " ", count: 8000) + "0 0 2\r\nok\r\n"
        client.expect(padded, "STORED\r\n")
        client.expect("get wide\r\n", Text.hit("wide", "ok"))
        // An 8 KB get line: 40 keys of 200 bytes.
        let keys = (0..<40).map { String(format: "%03d", $0) + String(repeating: "x", count: 197) }
        client.expect(Text.set(keys[3], "three"), "STORED\r\n")
        client.expect("get " + keys.joined(separator: " ") + "\r\n", Text.hit(keys[3], "three"))
        client.expectSilence()

        // Over 16 KB without a newline: refused, and the connection closes.
        let tooLong = try cluster.client()
        try tooLong.send("set " + String(repeating: "a", count: 17_000))
        let (closed, before) = tooLong.waitForClose()
        #expect(text(before) == "CLIENT_ERROR line too long\r\n")
        #expect(closed)
        // Over 16 KB with a newline, not a get: the same.
        let tooLongLine = try cluster.client()
        try tooLongLine.send("delete " + String(repeating: "a", count: 17_000) + "\r\nversion\r\n")
        let second = tooLongLine.waitForClose()
        #expect(text(second.before) == "CLIENT_ERROR line too long\r\n")
        #expect(second.closed)
        // A get line may be far longer, but not without bound (4 MB).
        let hugeGet = try cluster.client()
        try hugeGet.send("get " + String(repeating: "key ", count: 1_100_000))
        let third = hugeGet.waitForClose(timeout: 5)
        #expect(text(third.before) == "CLIENT_ERROR line too long\r\n")
        #expect(third.closed)
        try cluster.client().expect("version\r\n", Text.version)
    }

    @Test func getWithThousandsOfKeys() throws {
        let cluster = try Cluster(primaries: 3)
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<3000).map { "many:\($0)" }
        // Store every third key, pipelined.
        let stored = keys.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
        try client.send(stored.map { Text.set($0, "v\($0)") }.joined())
        let replies = try client.read(count: stored.count * 8, timeout: 20)
        #expect(text(replies) == String(repeating: "STORED\r\n", count: stored.count))
        try client.send("get " + keys.joined(separator: " ") + "\r\n")
        let reply = try client.readRetrieval(timeout: 20)
        var found = Set<String>()
        var index = 0
        let lines = text(reply).components(separatedBy: "\r\n")
        while index < lines.count - 2 {
            let parts = fields(lines[index])
            #expect(parts.count == 4 && parts[0] == "VALUE")
            if parts.count == 4 {
                #expect(lines[index + 1] == "v\(parts[1])")
                found.insert(parts[1])
            }
            index += 2
        }
        #expect(lines.suffix(2) == ["END", ""])
        #expect(found == Set(stored))
        #expect(lines.count == stored.count * 2 + 2)
        // Each server got its share.
        for (index, server) in cluster.primaries.enumerated() {
            let share = stored.filter { cluster.placement(of: $0).primary == index }
            #expect(try server.getMany(share).count == share.count)
        }
    }

    @Test func largeBinaryValuesRoundTrip() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        var value = pseudoRandomBytes(count: 1_000_000, seed: 42)
        let trap = bytes("\r\nEND\r\n")
        for offset in [0, 17, 500_000, 999_993] { value.replaceSubrange(offset..<(offset + trap.count), with: trap) }
        for key in ["big1", "big2"] {
            try client.send(bytes("set \(key) 7 0 \(value.count)\r\n") + value + bytes("\r\n"))
            #expect(try client.readLine(timeout: 10) == "STORED\r\n")
        }
        try client.send("get big1 big2\r\n")
        let expectedValue = { (key: String) in bytes("VALUE \(key) 7 \(value.count)\r\n") + value + bytes("\r\n") }
        let expected = expectedValue("big1") + expectedValue("big2") + bytes("END\r\n")
        let reply = try client.read(count: expected.count, timeout: 20)
        #expect(reply == expected)
        for key in ["big1", "big2"] { #expect(try cluster.primary(for: key).get(key) == value) }
        client.expectSilence()
    }

    @Test func noreplyOnEveryCommand() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect(Text.set("a", "1", noreply: true) + "get a\r\n", Text.hit("a", "1"))
        client.expect(Text.set("a", "2", verb: "add", noreply: true) + "get a\r\n", Text.hit("a", "1"))
        client.expect(Text.set("b", "2", verb: "add", noreply: true) + "get b\r\n", Text.hit("b", "2"))
        client.expect(Text.set("b", "3", verb: "replace", noreply: true) + "get b\r\n", Text.hit("b", "3"))
        client.expect(Text.set("b", "4", verb: "append", noreply: true) + "get b\r\n", Text.hit("b", "34"))
        client.expect(Text.set("b", "2", verb: "prepend", noreply: true) + "get b\r\n", Text.hit("b", "234"))
        client.expect("incr b 6 noreply\r\nget b\r\n", Text.hit("b", "240"))
        client.expect("decr b 40 noreply\r\nget b\r\n", Text.hit("b", "200"))
        client.expect("touch b 100 noreply\r\nget b\r\n", Text.hit("b", "200"))
        try client.send("gets a\r\n")
        let header = try client.readLine()
        _ = try client.read(until: "END\r\n")
        let unique = fields(header).last ?? "0"
        client.expect("cas a 0 0 3 \(unique) noreply\r\nnew\r\nget a\r\n", Text.hit("a", "new"))
        client.expect("delete a noreply\r\nget a\r\n", "END\r\n")
        client.expect("delete b 0 noreply\r\nget b\r\n", "END\r\n")
        client.expect(Text.set("c", "x", noreply: true) + "flush_all noreply\r\nget c\r\n", "END\r\n")
        client.expect("verbosity 1 noreply\r\nversion\r\n", Text.version)
        // Failing noreply commands stay silent as well.
        client.expect("incr missing 1 noreply\r\n" + Text.set("zz", "x", verb: "replace", noreply: true) + "version\r\n", Text.version)
        client.expectSilence(waiting: 0.3)
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        let cluster = try Cluster(primaries: 3)
        defer { cluster.stop() }
        let client = try cluster.client()
        var request = ""
        var expected = ""
        for number in 0..<150 {
            let key = "pipe\(number)"
            request += Text.set(key, "value\(number)")
            expected += "STORED\r\n"
            if number % 3 == 2 {
                let earlier = "pipe\(number - 2)"
                request += "get \(earlier) \(key) nope\r\n"
                expected += Text.value(earlier, "value\(number - 2)") + Text.value(key, "value\(number)") + "END\r\n"
            }
            if number % 10 == 0 {
                request += "version\r\nincr \(key) 1\r\n"
                expected += Text.version + "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            }
        }
        client.expect(request, expected, timeout: 10)
        client.expectSilence()
        // Each key landed on its own server only.
        for number in 0..<150 {
            let key = "pipe\(number)"
            let home = cluster.placement(of: key).primary
            for (index, server) in cluster.primaries.enumerated() {
                #expect(try server.getString(key) == (index == home ? "value\(number)" : nil), "\(key) on server \(index)")
            }
        }
    }

    @Test func requestsSplitIntoSingleBytesParseTheSame() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        let watch = try cluster.watch()
        defer { watch.close() }
        let request = bytes(Text.set("drip", "hello world") + "get drip\r\nbogus\r\nversion\r\n")
        for (index, byte) in request.enumerated() {
            try client.send([byte])
            // Each byte is read on its own before the next is sent.
            try watch.waitForBytesRead(index + 1)
        }
        let expected = "STORED\r\n" + Text.hit("drip", "hello world") + "ERROR\r\n" + Text.version
        #expect(text(try client.read(count: expected.utf8.count)) == expected)
        client.expectSilence()
    }

    @Test func unixSocketAndTCPServeTheSameData() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/magent.sock"
        let cluster = try Cluster(primaries: 2, unixPath: path)
        defer { cluster.stop() }
        let unix = try TextClient(unixPath: path)
        unix.expect(Text.set("viaunix", "u"), "STORED\r\n")
        try cluster.client().expect("get viaunix\r\n", Text.hit("viaunix", "u"))
        unix.expect("version\r\n", Text.version)
        try unix.send("stats\r\n")
        let stats = try unix.read(until: "END\r\n")
        #expect(stats.hasPrefix("memcached agent v1.0.0\r\nmatrix 1 -> \(cluster.primaries[0].address), pool size "))
        unix.expectSilence()
    }
}
