// Drop-in behaviour at the edges: the same bytes as memcached itself for odd but
// valid input, values too large, slow uploads, a backend connection shared by
// clients, late replies, pool accounting.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct CompatibilityTests {
    /// Inputs whose replies through magent (one server) must equal memcached's own.
    static let parityCases: [String] = [
        "set k 0 0 3\r\nabcde\r\n",
        "get a  b\r\n",
        "get a b \r\n",
        "set k 0 0 3 \r\nabc\r\nget k\r\n",
        "set  k  0  0  1\r\nx\r\nget k\r\n",
        "   get k\r\n",
        "set k 0 0 3 noreply\r\nabc\r\nget k\r\n",
        "set n 0 0 1\r\n5\r\nincr n 1 noreply\r\nget n\r\n",
        "set k 0 0 1\r\nx\r\ndelete k noreply\r\nget k\r\n",
        "set k 0 0 1\r\nx\r\ndelete k 0\r\n",
        "set k 0 0 1\r\nx\r\ndelete k 0 noreply\r\nget k\r\n",
        "delete k 0 noreply\r\n",
        "delete k noreply extra\r\n",
        "delete k 0 0\r\n",
        "delete noreply\r\n",
        "delete noreply\r\nget a\r\n",
        "touch k 10 noreply\r\n",
        "touch noreply 10\r\n",
        "incr noreply 1\r\n",
        "set noreply 0 0 1\r\nx\r\nget noreply\r\n",
        "verbosity\r\n",
        "verbosity 1 2\r\n",
        "verbosity 1 noreply\r\n",
        "get\r\n", "gets\r\n", "decr\r\n", "touch k\r\n", "delete\r\n", "incr k\r\n",
        "set k 0 0\r\n",
        "cas k 0 0 1\r\nx\r\n",
        "cas k 0 0 1 0\r\nx\r\n",
        "cas k 0 0 1 1 noreply\r\nx\r\n",
        "set n 0 0 1\r\n5\r\nincr n 1 2\r\n",
        "set k 0 0 1\r\nx\r\ntouch k 10 x\r\n",
        "set k 0 0 2\r\nab\r\nincr k 1\r\n",
        "incr k 18446744073709551616\r\n",
        "decr k -1\r\n",
        "touch k abc\r\n",
        "gat abc k\r\n",
        "GET k\r\n",
        "get\tk\r\n",
        "set k 0 0 1\nx\r\nget k\n",
        "set k 4294967295 0 1\r\nx\r\nget k\r\n",
        "set k 0 -1 1\r\nx\r\nget k\r\n",
        "append k 0 0 1\r\nx\r\nprepend k 0 0 1\r\nx\r\nreplace k 0 0 1\r\nx\r\n",
        "flush_all 0\r\nflush_all noreply\r\n",
        "flush_all 0 noreply\r\n",
        "set n 0 0 20\r\n18446744073709551615\r\nincr n 1\r\n",
        "set n 0 0 1\r\n5\r\ndecr n 10\r\n",
        "set n 0 0 1\r\n5\r\nincr n 007\r\n",
        "set k 0 0 0\r\n\r\nget k\r\n",
        "get " + String(repeating: "x", count: 250) + "\r\n",
        "incr k 1 noreply\r\n",
        "set k 0 0 1\r\nx\r\ngats 10 k\r\n".replacingOccurrences(of: "gats", with: "gat"),
        "set k 0 0 1 noreply\r\nxy\r\n",
        "set k 0 0 1\r\nx\r\nget k k k\r\n",
        "set k 0 0 1 noreply extra\r\nx\r\n",
        "incr k 1 noreply extra\r\n",
        "set k 0 0 1\r\nx\r\nincr k 1 noreply\r\n",
        "set k 0 0 5\r\nhello\r\nappend k 0 0 2 noreply\r\n!!\r\nget k\r\n",
        "\n",
        "set k 0 0 1 2\r\nx\r\n",
        "set k 0 0 2000000\r\n" + String(repeating: "y", count: 2_000_000) + "\r\nget k\r\n",
    ]

    @Test func sameRepliesAsMemcachedItself() throws {
        let direct = try Memcached()
        defer { direct.stop() }
        let cluster = try Cluster(primaries: 1)
        defer { cluster.stop() }
        // A request both answer the same, distinctive way, to know where a reply ends.
        let sentinel = "set __s 0 0 1\r\nS\r\nget __s\r\n"
        let sentinelReply = bytes("STORED\r\nVALUE __s 0 1\r\nS\r\nEND\r\n")
        func reply(_ connect: () throws -> TextClient, _ input: String) throws -> [UInt8] {
            let client = try connect()
            defer { client.close() }
            client.expect("flush_all\r\n", "OK\r\n")
            try client.send(input + sentinel)
            do {
                let all = try client.read(until: sentinelReply, timeout: 3)
                return Array(all.dropLast(sentinelReply.count))
            } catch {
                return bytes("<\(error)>")
            }
        }
        for input in Self.parityCases {
            let expected = try reply({ try direct.client() }, input)
            let actual = try reply({ try cluster.client() }, input)
            #expect(escaped(actual) == escaped(expected), "input \"\(escaped(bytes(input), limit: 80))\"")
        }
    }

    @Test func uploadStalledPastTheTimeoutIsRefusedAndNothingIsStored() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "300"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let value = pseudoRandomBytes(count: 200_000, seed: 12)
        try client.send(bytes("set stalled 0 0 \(value.count)\r\n") + Array(value[0..<100_000]))
        // The proxy gives up on the value while the client is silent...
        #expect(try client.readLine(timeout: 3) == "SERVER_ERROR value not received in time\r\n")
        // ...and when the rest comes it is skipped by its declared length: the stream stays in step.
        try client.send(Array(value[100_000...]) + bytes("\r\n"))
        client.expect("get stalled\r\n", "END\r\n")
        #expect(try cluster.primaries[0].get("stalled") == nil)
        #expect(try cluster.backups[0].get("stalled") == nil)
    }

    @Test func valueTooLargeIsRefusedAndTheConnectionGoesOn() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let value = [UInt8](repeating: UInt8(ascii: "y"), count: 2_000_000)
        try client.send(bytes("set big 0 0 \(value.count)\r\n") + value + bytes("\r\nget big\r\n") + bytes(Text.set("a", "x")) + bytes("get a\r\n"))
        let expected = "SERVER_ERROR object too large for cache\r\nEND\r\nSTORED\r\n" + Text.hit("a", "x")
        #expect(text(try client.read(count: expected.utf8.count, timeout: 10)) == expected)
        client.expectSilence()
        eventually(cluster.backups[0], "a", is: "x")
    }

    @Test func slowUploadIsNotTimedOut() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "2000"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let value = pseudoRandomBytes(count: 200_000, seed: 11)
        // Pauses shorter than the request timeout: the value streams through and is stored.
        try client.send(bytes("set slow 0 0 \(value.count)\r\n") + Array(value[0..<50_000]))
        for chunk in 1..<4 {
            // The scenario: the client pauses mid-value (shorter than the request timeout).
            sleep(seconds: 0.3)
            try client.send(Array(value[(chunk * 50_000)..<((chunk + 1) * 50_000)]))
        }
        try client.send(bytes("\r\n"))
        #expect(try client.readLine(timeout: 3) == "STORED\r\n")
        #expect(try cluster.primaries[0].get("slow") == value)
        #expect(waitUntil(timeout: 2) { (try? cluster.backups[0].get("slow")) == value })
        client.expect("get missing\r\n", "END\r\n")
    }

    @Test func clientsSharingOneBackendConnection() throws {
        // -i 1: every client of the worker uses the same connection per server.
        // A long request timeout: the value's sender pauses mid-value on purpose.
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "-i", "1", "--request-timeout", "10000"])
        defer { cluster.stop() }
        let server = cluster.primaries[0]
        let streaming = try cluster.client()
        let other = try cluster.client()
        let watch = try cluster.watch()
        defer { watch.close() }
        var sent = 0
        /// Sends and waits (bounded) until the proxy has read everything sent so far.
        func sendRead(_ client: TextClient, _ data: [UInt8]) throws {
            try client.send(data)
            sent += data.count
            try watch.waitForBytesRead(sent)
        }
        let value = pseudoRandomBytes(count: 600_000, seed: 5)
        try sendRead(streaming, bytes("set shared 0 0 \(value.count)\r\n") + Array(value[0..<300_000]))
        // Another client's requests meanwhile: answered once the value is through, unharmed.
        try sendRead(other, bytes(Text.set("small", "s") + "get small\r\n"))
        try streaming.send(Array(value[300_000...]) + bytes("\r\nget small\r\n"))
        #expect(text(try other.read(count: 8 + Text.hit("small", "s").utf8.count, timeout: 5)) == "STORED\r\n" + Text.hit("small", "s"))
        #expect(text(try streaming.read(count: 8 + Text.hit("small", "s").utf8.count, timeout: 5)) == "STORED\r\n" + Text.hit("small", "s"))
        #expect(try server.get("shared") == value)

        // A client that leaves in the middle of its value: nothing stored, others unharmed.
        let leaving = try cluster.client()
        sent = try watch.bytesReadFromOthers()
        try sendRead(leaving, bytes("set cut 0 0 100000\r\n") + Array(value[0..<50_000]))
        try sendRead(other, bytes(Text.set("after", "a") + "get after shared\r\n"))
        leaving.close()
        let expected = bytes("STORED\r\n" + Text.value("after", "a")) + bytes("VALUE shared 0 \(value.count)\r\n") + value + bytes("\r\nEND\r\n")
        #expect(try other.read(count: expected.count, timeout: 5) == expected)
        other.expect("get cut\r\n", "END\r\n")
        #expect(try server.get("cut") == nil)
        other.expectSilence()
    }

    @Test func halfClosedClientStillGetsItsReplies() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        try client.send(Text.set("hc", "1") + "get hc nothing\r\nversion\r\n")
        client.shutdownWrite()
        let (closed, before) = client.waitForClose(timeout: 3)
        #expect(text(before) == "STORED\r\n" + Text.hit("hc", "1") + Text.version)
        #expect(closed)
    }

    @Test func backupThatIsThePrimaryIsWrittenOnce() throws {
        let first = try Memcached()
        defer { first.stop() }
        let second = try Memcached()
        defer { second.stop() }
        // Same lists: every key's backup index equals its primary index.
        let magent = try Magent(["-s", first.address, "-s", second.address, "-b", first.address, "-b", second.address, "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        for key in ["a", "foo", "hello", "x1", "x2"] {
            client.expect(Text.set(key, "10") + "incr \(key) 1\r\n" + Text.set(key, "!", verb: "append") + "get \(key)\r\n",
                          "STORED\r\n11\r\nSTORED\r\n" + Text.hit(key, "11!"))
        }
        client.expect("flush_all\r\n", "OK\r\n")
        #expect(try first.stat("cmd_flush") == 1)
        #expect(try second.stat("cmd_flush") == 1)
        client.expectSilence()
    }

    @Test func poolSizeCountsIdleConnectionsOfEveryWorker() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2"])
        defer { cluster.stop() }
        let addresses = cluster.primaries.map(\.address)
        let key = cluster.keys(onPrimary: 0, count: 1)[0]
        let clients = try (0..<3).map { _ in try cluster.client() }
        for client in clients { client.expect("get \(key)\r\n", "END\r\n") }
        // Three clients dealt to two workers; each worker's clients share one connection
        // to primary 1 (up to 64 clients per connection): two idle connections. The backup
        // is not listed.
        clients[0].expect("stats\r\n", Text.agentStats([(addresses[0], 2), (addresses[1], 0)]))
        // A dead server keeps no idle connections.
        cluster.primaries[0].kill()
        for client in clients { client.expect("get \(key)\r\n", "END\r\n") }
        clients[0].expect("stats\r\n", Text.agentStats([(addresses[0], 0), (addresses[1], 0)]))
    }

    @Test func poolSizeIsBoundedByDashI() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "-i", "2"])
        defer { cluster.stop() }
        // 64 clients share a connection: 200 clients would use 4, -i 2 keeps 2.
        let clients = try (0..<200).map { _ in try cluster.client() }
        for client in clients { client.expect("get k\r\n", "END\r\n") }
        clients[0].expect("stats\r\n", Text.agentStats([(cluster.primaries[0].address, 2)]))
    }

    @Test func repliesKeepTheirOrderAcrossSlowAndFastServers() throws {
        // The slow server answers every get with a value for the key asked.
        let slow = try MockBackend { line in
            guard line.hasPrefix("get ") else { return .ignore }
            return .reply(bytes("VALUE \(line.dropFirst(4)) 0 4\r\nslow\r\nEND\r\n"), delay: 0.3)
        }
        defer { slow.stop() }
        let fast = try Memcached()
        defer { fast.stop() }
        let magent = try Magent(["-s", slow.address, "-s", fast.address, "-t", "1"])
        defer { magent.stop() }
        let names = [slow.placementName, fast.placementName]
        let onSlow = try Placement.key(onPrimary: 0, of: names, prefix: "s")
        let onFast = try Placement.key(onPrimary: 1, of: names, prefix: "f")
        try fast.set(onFast, "fast")
        let client = try magent.client()
        // In request order, even across servers (the fast one answers first).
        client.expect("get \(onSlow)\r\nget \(onFast)\r\nversion\r\nget \(onSlow) \(onFast)\r\nget \(onFast) \(onSlow)\r\n",
                      Text.hit(onSlow, "slow") + Text.hit(onFast, "fast") + Text.version
                      + Text.value(onSlow, "slow") + Text.value(onFast, "fast") + "END\r\n"
                      + Text.value(onFast, "fast") + Text.value(onSlow, "slow") + "END\r\n")
        client.expectSilence()
    }

    @Test func lateRepliesAfterATimeoutReachNobody() throws {
        let mock = try MockBackend { line in
            line == "get late" ? .reply(bytes("VALUE late 0 4\r\nlate\r\nEND\r\n"), delay: 0.6) : .reply(bytes("END\r\n"), delay: 0)
        }
        defer { mock.stop() }
        let magent = try Magent(["-s", mock.address, "-t", "1", "--request-timeout", "300", "--failure-limit", "100"])
        defer { magent.stop() }
        let client = try magent.client()
        expectTimely(client, "get late\r\n", "END\r\n", within: 1.0)
        // The late reply has been written back to the proxy (or found its connection closed).
        try waitFor("the mock to send its late reply", timeout: 5) {
            mock.requestLines.contains("get late") && mock.repliesWritten >= mock.requestLines.count
        }
        client.expect("get other\r\n", "END\r\n")
        client.expect("get other\r\n", "END\r\n")
        client.expectSilence(waiting: 0.3)
    }

    @Test func largeWritesWithServersDown() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let value = pseudoRandomBytes(count: 500_000, seed: 9)
        cluster.primaries[0].kill()
        try client.send(bytes("set big 0 0 \(value.count)\r\n") + value + bytes("\r\n"))
        #expect(try client.readLine(timeout: 3) == "STORED\r\n")
        #expect(try cluster.backups[0].get("big") == value)
        try client.send("get big\r\n")
        let expected = bytes("VALUE big 0 \(value.count)\r\n") + value + bytes("\r\nEND\r\n")
        #expect(try client.read(count: expected.count, timeout: 5) == expected)
        // Both down: an error, and the rest of the value is not read as commands.
        cluster.backups[0].kill()
        var tricky = value
        tricky.replaceSubrange(1000..<1013, with: bytes("\r\nversion\r\n\r\n"))
        try client.send(bytes("set big 0 0 \(tricky.count)\r\n") + tricky + bytes("\r\nversion\r\n"))
        let line = try client.readLine(timeout: 3)
        #expect(line.hasPrefix("SERVER_ERROR "), "got \(line)")
        #expect(try client.readLine(timeout: 3) == Text.version)
        client.expectSilence()
    }

    @Test func manyPipelinedRequestsInOneSend() throws {
        let cluster = try Cluster(primaries: 3, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<3).map { cluster.keys(onPrimary: $0, count: 1, prefix: "p\($0)-")[0] }
        client.expect(keys.map { Text.set($0, $0) }.joined(), String(repeating: "STORED\r\n", count: 3))
        var request = ""
        var expected = ""
        for number in 0..<5000 {
            let key = keys[number % 3]
            request += "get \(key)\r\n"
            expected += Text.hit(key, key)
        }
        try client.send(request)
        #expect(text(try client.read(count: expected.utf8.count, timeout: 20)) == expected)
        client.expectSilence()
    }

    @Test func verboseStaysInTheForegroundAndLogs() throws {
        let memcached = try Memcached()
        defer { memcached.stop() }
        let port = try Ports.free()
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let child = try ChildProcess(executable: try Environment.magentBinary(),
                                     arguments: ["-v", "-l", "127.0.0.1", "-p", String(port), "-s", memcached.address, "-t", "1"],
                                     directory: directory)
        defer { child.stop() }
        #expect(waitUntil(timeout: 5) { !child.isRunning || Sockets.accepts(port: port) })
        #expect(child.isRunning, "-v without -D must stay in the foreground: \(child.standardError)")
        try TextClient(port: port).expect("version\r\n", Text.version)
        #expect(!child.standardError.isEmpty, "-v logged nothing")
    }
}
