// Servers that die, hang, come back or misbehave: reads fall back to the
// backup, writes reach the backup once, nothing hangs, and a recovered server
// is used again.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct FailoverTests {
    @Test func killedPrimaryIsReplacedByItsBackup() throws {
        let cluster = try Cluster(primaries: 2, backups: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = cluster.keys(onPrimary: 0, count: 3, prefix: "fo")
        let liveKey = cluster.keys(onPrimary: 1, count: 1, prefix: "live")[0]
        for key in keys + [liveKey] { client.expect(Text.set(key, "v-\(key)"), "STORED\r\n") }
        let backup = try #require(cluster.backup(for: keys[0]))
        eventually(backup, keys[0], is: "v-\(keys[0])")
        eventually(try #require(cluster.backup(for: keys[1])), keys[1], is: "v-\(keys[1])")

        cluster.primaries[0].kill()
        expectTimely(client, "get \(keys[0])\r\n", Text.hit(keys[0], "v-\(keys[0])"), within: 1.5)
        expectTimely(client, "get \(keys[1]) \(liveKey)\r\n",
                     Text.value(keys[1], "v-\(keys[1])") + Text.value(liveKey, "v-\(liveKey)") + "END\r\n", within: 1.5)
        // Writes go to the backup exactly once.
        let added = cluster.keys(onPrimary: 0, count: 1, prefix: "added")[0]
        let addedBackup = try #require(cluster.backup(for: added))
        expectTimely(client, Text.set(added, "first", verb: "add"), "STORED\r\n", within: 1.5)
        #expect(try addedBackup.getString(added) == "first")
        expectTimely(client, Text.set(added, "second", verb: "add"), "NOT_STORED\r\n", within: 1.5)
        expectTimely(client, Text.set(keys[0], "+", verb: "append"), "STORED\r\n", within: 1.5)
        #expect(try backup.getString(keys[0]) == "v-\(keys[0])+")
        expectTimely(client, "get \(keys[0]) \(added)\r\n",
                     Text.value(keys[0], "v-\(keys[0])+") + Text.value(added, "first") + "END\r\n", within: 1.5)
        client.expectSilence()
    }

    @Test func terminatedPrimaryIsReplacedByItsBackup() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect(Text.set("gentle", "bye"), "STORED\r\n")
        eventually(cluster.backups[0], "gentle", is: "bye")
        cluster.primaries[0].terminate()
        for _ in 0..<5 { expectTimely(client, "get gentle\r\n", Text.hit("gentle", "bye"), within: 1.5) }
        expectTimely(client, Text.set("gentle", "again"), "STORED\r\n", within: 1.5)
        expectTimely(client, "get gentle\r\n", Text.hit("gentle", "again"), within: 1.5)
    }

    @Test func primaryAndBackupDown() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let deadKey = cluster.keys(onPrimary: 0, count: 1, prefix: "dead")[0]
        let liveKey = cluster.keys(onPrimary: 1, count: 1, prefix: "alive")[0]
        client.expect(Text.set(deadKey, "d") + Text.set(liveKey, "l"), "STORED\r\nSTORED\r\n")
        cluster.primaries[0].kill()
        cluster.backups[0].kill()
        for _ in 0..<3 {
            expectTimely(client, "get \(deadKey)\r\n", "END\r\n", within: 1.5)
            let line = try timelyLine(client, Text.set(deadKey, "x"), within: 1.5)
            #expect(line.hasPrefix("SERVER_ERROR "), "got \(line)")
            expectTimely(client, "get \(deadKey) \(liveKey)\r\n", Text.hit(liveKey, "l"), within: 1.5)
            client.expect("version\r\n", Text.version)
        }
        // The live primary still takes writes (its backup copy fails quietly).
        expectTimely(client, Text.set(liveKey, "l2"), "STORED\r\n", within: 1.5)
        #expect(try cluster.primaries[1].getString(liveKey) == "l2")
        client.expectSilence()
    }

    @Test func stoppedPrimaryTimesOutAndIsUsedAgainAfterContinue() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "300"])
        defer { cluster.stop() }
        let primary = cluster.primaries[0]
        let client = try cluster.client()
        client.expect(Text.set("paused", "value"), "STORED\r\n")
        eventually(cluster.backups[0], "paused", is: "value")

        primary.pause()
        expectTimely(client, "get paused\r\n", Text.hit("paused", "value"), within: 1.5)
        expectTimely(client, "get paused\r\n", Text.hit("paused", "value"), within: 1.5)
        // A write is answered from the backup too.
        expectTimely(client, Text.set("paused2", "b"), "STORED\r\n", within: 1.5)
        #expect(try cluster.backups[0].getString("paused2") == "b")
        primary.resume()

        // A value only the primary has tells which server answered.
        try primary.set("onlyprimary", "p")
        let recovered = waitUntil(timeout: 5, interval: 0.1) {
            guard let probe = try? cluster.client(timeout: 2) else { return false }
            try? probe.send("get onlyprimary\r\n")
            return (try? probe.readRetrieval(timeout: 2)) == bytes(Text.hit("onlyprimary", "p"))
        }
        #expect(recovered, "the proxy did not use the primary again within 5 s of SIGCONT")
        expectTimely(client, Text.set("after", "resume"), "STORED\r\n", within: 1.5)
        #expect(try primary.getString("after") == "resume")
    }

    @Test func markedDownServerIsProbedAndUsedAgain() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--failure-limit", "1"])
        defer { cluster.stop() }
        let primary = cluster.primaries[0]
        let client = try cluster.client()
        primary.kill()
        // Down after one failure: later requests go straight to the backup.
        expectTimely(client, Text.set("k", "during"), "STORED\r\n", within: 1.5)
        for _ in 0..<5 { expectTimely(client, "get k\r\n", Text.hit("k", "during"), within: 0.5) }
        // Restarted (empty): the probe finds it and it is the primary again.
        try primary.restart()
        // First probe ~200 ms after it went down, backing off to 2 s: well within 2.5 s.
        let restarted = now()
        let used = waitUntil(timeout: 2.5, interval: 0.05) {
            try? client.send(Text.set("back", "up"))
            _ = try? client.readLine(timeout: 2)
            return (try? primary.getString("back")) == "up"
        }
        #expect(used, "the restarted primary was not used again within 2.5 s")
        #expect(now() - restarted < 2.5)
        client.expect(Text.set("k", "after"), "STORED\r\n")
        #expect(try primary.getString("k") == "after")
        eventually(cluster.backups[0], "k", is: "after")
    }

    @Test func hungServerWithoutBackupMisses() throws {
        let (port, silent) = try Sockets.silentListenerOnFreePort()
        defer { close(silent) }
        let directory = try Environment.temporaryDirectory()
        let magent = try Magent(["-s", "127.0.0.1:\(port)", "-t", "1", "--request-timeout", "300", "--failure-limit", "5"],
                                directory: directory)
        defer { magent.stop() }
        let client = try magent.client()
        expectTimely(client, "get a\r\n", "END\r\n", within: 1.5)
        expectTimely(client, Text.set("a", "x"), "SERVER_ERROR backend timeout\r\n", within: 1.5)
        expectTimely(client, "incr a 1\r\n", "SERVER_ERROR backend timeout\r\n", within: 1.5)
        client.expect("version\r\n", Text.version)
    }

    @Test func hungServerWithDefaultTimeoutAnswersWithinTwoSeconds() throws {
        let (port, silent) = try Sockets.silentListenerOnFreePort()
        defer { close(silent) }
        let magent = try Magent(["-s", "127.0.0.1:\(port)", "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        expectTimely(client, "get a b c\r\n", "END\r\n", within: 2.5)
    }

    @Test func backendClosingMidValueNeverCorruptsTheStream() throws {
        let mock = try MockBackend { line in
            line.hasPrefix("get") ? .replyAndClose(bytes("VALUE k 0 10\r\nabc")) : .reply(bytes("STORED\r\n"), delay: 0)
        }
        defer { mock.stop() }
        let magent = try Magent(["-s", mock.address, "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        try client.send("get k\r\n")
        let (closed, before) = client.waitForClose(timeout: 3)
        // Either a clean miss, or the connection is cut: never a truncated value and END.
        if closed {
            #expect(!text(before).contains("END"), "got \(escaped(before))")
        } else {
            #expect(text(before) == "END\r\n", "got \(escaped(before))")
        }
        try magent.client().expect("version\r\n", Text.version)
    }

    @Test func backendAnsweringGarbageIsAMiss() throws {
        let mock = try MockBackend { _ in .reply(bytes("WHAT IS THIS\r\n"), delay: 0) }
        defer { mock.stop() }
        let magent = try Magent(["-s", mock.address, "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        expectTimely(client, "get k\r\n", "END\r\n", within: 1.5)
        client.expect("version\r\n", Text.version)
        client.expectSilence()
    }

    @Test func clientsLeavingWhileTheirRequestsWaitOnAHungServer() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "--request-timeout", "300", "--failure-limit", "100"])
        defer { cluster.stop() }
        let hungKey = cluster.keys(onPrimary: 0, count: 1, prefix: "hung")[0]
        let liveKey = cluster.keys(onPrimary: 1, count: 1, prefix: "live")[0]
        try cluster.client().expect(Text.set(liveKey, "ok"), "STORED\r\n")
        cluster.primaries[0].pause()
        for round in 0..<10 {
            let leaving = try cluster.client()
            try leaving.send("get \(hungKey) \(liveKey)\r\n" + Text.set(hungKey, "\(round)") + Text.set(hungKey, "n", noreply: true)
                             + "incr \(hungKey) 1\r\nflush_all 100\r\n")
            if round % 2 == 0 { leaving.reset() } else { leaving.close() }
        }
        // Past every deadline: the parts they left behind resolve with nobody to answer.
        // (The leaving clients are closed, and every request sent to the stopped server
        // has failed by its timeout.)
        if let watch = try? cluster.watch() {  // none if magent died: checked next
            defer { watch.close() }
            try watch.waitForConnections(0)
            try watch.waitForServers("every request to the stopped primary to fail by its timeout") { stats in
                let sent = ServerStates.number(stats, "primary:1:requests")
                return sent >= 0 && sent == ServerStates.number(stats, "primary:1:failed_requests")
            }
        }
        #expect(cluster.magent.isRunning, "magent died")
        let client = try cluster.client()
        expectTimely(client, "get \(liveKey)\r\n", Text.hit(liveKey, "ok"), within: 1.5)
        cluster.primaries[0].resume()
        client.expect("version\r\n", Text.version)
        client.expectSilence()
    }

    @Test func primaryDyingMidReplyFallsBackToTheBackupWhenNothingWasSent() throws {
        // Server 0 answers slowly, so the reply from server 1 waits behind it, unsent.
        let slow = try MockBackend { line in line.hasPrefix("get") ? .reply(bytes("END\r\n"), delay: 0.3) : .ignore }
        defer { slow.stop() }
        let dying = try MockBackend { line in
            line.hasPrefix("get") ? .replyAndClose(bytes("VALUE k 0 10\r\nabc")) : .ignore
        }
        defer { dying.stop() }
        let backup = try Memcached()
        defer { backup.stop() }
        let names = [slow.placementName, dying.placementName]
        let onSlow = try Placement.key(onPrimary: 0, of: names, prefix: "s")
        let onDying = try Placement.key(onPrimary: 1, of: names, prefix: "d")
        try backup.set(onDying, "from-backup")
        let magent = try Magent(["-s", slow.address, "-s", dying.address, "-b", backup.address, "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        client.expect("get \(onSlow)\r\nget \(onDying)\r\n", "END\r\n" + Text.hit(onDying, "from-backup"))
        client.expectSilence()
    }

    @Test func unreachableServerIsGivenUpAfterTheConnectTimeout() throws {
        let (port, fds) = try Sockets.unreachableListener()
        defer { fds.forEach { close($0) } }
        // The listener really is unreachable.
        #expect(!Sockets.accepts(port: port))
        let backup = try Memcached()
        defer { backup.stop() }
        try backup.set("u", "from-backup")
        let magent = try Magent(["-s", "127.0.0.1:\(port)", "-b", backup.address, "-t", "1", "--connect-timeout", "200",
                                 "--failure-limit", "100"])
        defer { magent.stop() }
        let client = try magent.client()
        expectTimely(client, "get u\r\n", Text.hit("u", "from-backup"), within: 1.0)
        expectTimely(client, Text.set("u", "new"), "STORED\r\n", within: 1.0)
        #expect(try backup.getString("u") == "new")
        // Without a backup: a miss and a timeout error.
        let alone = try Magent(["-s", "127.0.0.1:\(port)", "-t", "1", "--connect-timeout", "200", "--failure-limit", "100"])
        defer { alone.stop() }
        let lonely = try alone.client()
        expectTimely(lonely, "get u\r\n", "END\r\n", within: 1.0)
        expectTimely(lonely, Text.set("u", "x"), "SERVER_ERROR backend timeout\r\n", within: 1.0)
        lonely.expectSilence()
    }

    @Test func serverIsMarkedDownAfterTheFailureLimit() throws {
        let (port, fds) = try Sockets.unreachableListener()
        defer { fds.forEach { close($0) } }
        for limit in [2, 3] {
            var arguments = ["-s", "127.0.0.1:\(port)", "-t", "1", "--connect-timeout", "300"]
            if limit != 2 { arguments += ["--failure-limit", String(limit)] }  // 2 is the default
            let magent = try Magent(arguments)
            defer { magent.stop() }
            let client = try magent.client()
            // Each attempt waits out the connect timeout until the limit is reached ...
            for attempt in 1...limit {
                let started = now()
                client.expect("get k\r\n", "END\r\n", timeout: 3)
                let elapsed = now() - started
                #expect(elapsed > 0.25 && elapsed < 1.5, "limit \(limit), attempt \(attempt): \(elapsed) s")
            }
            // ... then the server is down and skipped at once.
            for _ in 0..<3 {
                let started = now()
                client.expect("get k\r\n", "END\r\n", timeout: 3)
                client.expect(Text.set("k", "v"), "SERVER_ERROR backend unavailable\r\n", timeout: 3)
                #expect(now() - started < 0.2, "limit \(limit): a server marked down was tried again")
            }
        }
    }
}
