// One regression test per defect of the original magent (compat §6), named
// after it. Defects 11 and 21 belong to later work.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// Expects the process to use (almost) no CPU while idle for `seconds`.
func expectIdle(_ pid: pid_t, seconds: Double = 1, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let before = ProcessTable.cpuSeconds(pid) else {
        Issue.record("no /proc/\(pid)/stat", sourceLocation: sourceLocation)
        return
    }
    // The scenario: an idle window, CPU use measured over it.
    sleep(seconds: seconds)
    guard let after = ProcessTable.cpuSeconds(pid) else {
        Issue.record("process \(pid) is gone", sourceLocation: sourceLocation)
        return
    }
    #expect(after - before < 0.25 * seconds, "used \(after - before) s of CPU in \(seconds) s idle", sourceLocation: sourceLocation)
}

@Suite(.serialized) struct DefectRegressionTests {
    @Test func defect01_ketamaSpreadsKeysOverEveryServer() throws {
        let cluster = try Cluster(primaries: 3, mode: .ketama)
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<300).map { "spread\($0)" }
        try client.send(keys.map { Text.set($0, "v") }.joined())
        #expect(text(try client.read(count: keys.count * 8)) == String(repeating: "STORED\r\n", count: keys.count))
        for (index, server) in cluster.primaries.enumerated() {
            let held = try Set(server.getMany(keys).keys)
            #expect(held.count >= 50, "server \(index) holds only \(held.count) of 300 keys")
            #expect(held == Set(keys.filter { cluster.placement(of: $0).primary == index }))
        }
    }

    @Test func defect02_backupConnectionReuseDoesNotHang() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let started = now()
        for number in 0..<300 {
            try client.send(Text.set("reuse\(number)", "\(number)"))
            let reply = try client.readLine(timeout: 2)
            if reply != "STORED\r\n" {
                Issue.record("write \(number) answered \(reply)")
                break
            }
        }
        #expect(now() - started < 15)
        #expect(waitUntil(timeout: 3) { (try? cluster.backups[0].getMany((0..<300).map { "reuse\($0)" }).count) == 300 })
        client.expect("get reuse299\r\n", Text.hit("reuse299", "299"))
        expectIdle(cluster.magent.pid)
    }

    @Test func defect03_noreplyNeitherLeaksNorCrashes() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        var batch = ""
        for number in 0..<200 { batch += Text.set("nr\(number)", "\(number)", noreply: true) }
        client.expect(batch + "get nr199\r\n", Text.hit("nr199", "199"))
        client.expect("delete nr0 noreply\r\nincr nr1 1 noreply\r\nget nr0 nr1\r\n", Text.hit("nr1", "2"))
        client.expectSilence()
        // A client that leaves right after noreply commands and another command.
        for _ in 0..<10 {
            let leaving = try cluster.client()
            try leaving.send(Text.set("gone", "x", noreply: true) + "get nr5\r\n" + Text.set("gone2", "y", noreply: true))
            leaving.close()
        }
        // The proxy has handled every leaving client: only `client` is still open.
        if let watch = try? cluster.watch() {  // none if magent died: checked next
            defer { watch.close() }
            try watch.waitForConnections(1)
        }
        #expect(cluster.magent.isRunning, "magent died")
        let other = try cluster.client()
        other.expect("get gone gone2\r\n", Text.value("gone", "x") + Text.value("gone2", "y") + "END\r\n")
        expectIdle(cluster.magent.pid)
    }

    @Test func defect04_bothServersFailingOnAGetIsAMiss() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect(Text.set("k", "v"), "STORED\r\n")
        cluster.primaries[0].kill()
        cluster.backups[0].kill()
        for _ in 0..<5 {
            expectTimely(client, "get k\r\n", "END\r\n", within: 1.5)
            expectTimely(client, "gets k other\r\n", "END\r\n", within: 1.5)
        }
        #expect(cluster.magent.isRunning, "magent died")
        client.expect("version\r\n", Text.version)
        try cluster.client().expect("get k\r\n", "END\r\n")
    }

    @Test func defect05_incrWithPrimaryDownIsAnswered() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect(Text.set("n", "5"), "STORED\r\n")
        eventually(cluster.backups[0], "n", is: "5")
        cluster.primaries[0].kill()
        // Served by the backup, applied once.
        expectTimely(client, "incr n 3\r\n", "8\r\n", within: 1.5)
        expectTimely(client, "decr n 1\r\n", "7\r\n", within: 1.5)
        #expect(try cluster.backups[0].getString("n") == "7")
        // Another client is not frozen meanwhile.
        try cluster.client().expect("version\r\n", Text.version)
        // Backup gone too: an error line, in time.
        cluster.backups[0].kill()
        let line = try timelyLine(client, "incr n 1\r\n", within: 1.5)
        #expect(line.hasPrefix("SERVER_ERROR "), "got \(line)")
        client.expect("version\r\n", Text.version)
    }

    @Test func defect06_writeWithBothServersDownAnswersServerError() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        cluster.primaries[0].kill()
        cluster.backups[0].kill()
        let writes = [Text.set("w", "1"), Text.set("w", "1", verb: "add"), Text.set("w", "1", verb: "append"),
                      "cas w 0 0 1 5\r\nx\r\n", "delete w\r\n", "incr w 1\r\n", "decr w 1\r\n", "touch w 10\r\n"]
        for write in writes {
            let line = try timelyLine(client, write, within: 1.5)
            #expect(line.hasPrefix("SERVER_ERROR "), "\(escaped(bytes(write))): got \(line)")
        }
        // noreply writes say nothing even then.
        client.expect(Text.set("w", "1", noreply: true) + "version\r\n", Text.version)
        client.expectSilence()
    }

    @Test func defect07_connectionAnswersAfterAServerError() throws {
        let cluster = try Cluster(primaries: 2, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let deadKey = cluster.keys(onPrimary: 0, count: 1, prefix: "x")[0]
        let liveKey = cluster.keys(onPrimary: 1, count: 1, prefix: "y")[0]
        cluster.primaries[0].kill()
        for round in 0..<3 {
            let line = try timelyLine(client, Text.set(deadKey, "v"), within: 1.5)
            #expect(line.hasPrefix("SERVER_ERROR "), "got \(line)")
            client.expect(Text.set(liveKey, "\(round)"), "STORED\r\n")
            client.expect("get \(liveKey)\r\n", Text.hit(liveKey, "\(round)"))
            client.expect("version\r\n", Text.version)
        }
        // Also after a CLIENT_ERROR and an ERROR.
        client.expect("incr \(liveKey) x\r\nbogus\r\nget \(liveKey)\r\n",
                      "CLIENT_ERROR invalid numeric delta argument\r\nERROR\r\n" + Text.hit(liveKey, "2"))
        client.expectSilence()
    }

    @Test func defect08_multiGetWhoseLastKeysServersAreDownEndsWithEnd() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let liveKeys = cluster.keys(onPrimary: 0, count: 2, prefix: "live")
        let deadKeys = cluster.keys(onPrimary: 1, count: 2, prefix: "dead")
        for key in liveKeys + deadKeys { client.expect(Text.set(key, key), "STORED\r\n") }
        cluster.primaries[1].kill()
        cluster.backups[0].kill()
        let live = Text.value(liveKeys[0], liveKeys[0]) + Text.value(liveKeys[1], liveKeys[1])
        expectTimely(client, "get \(liveKeys[0]) \(liveKeys[1]) \(deadKeys[0]) \(deadKeys[1])\r\n", live + "END\r\n", within: 1.5)
        expectTimely(client, "get \(deadKeys[0]) \(liveKeys[0]) \(deadKeys[1]) \(liveKeys[1])\r\n", live + "END\r\n", within: 1.5)
        expectTimely(client, "get \(deadKeys[0]) \(deadKeys[1])\r\n", "END\r\n", within: 1.5)
        client.expectSilence()
    }

    @Test func defect09_pipelinedCommandsAreAnsweredInOrderAndPlacedPerKey() throws {
        let cluster = try Cluster(primaries: 3, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<3).map { cluster.keys(onPrimary: $0, count: 1, prefix: "pipe\($0)-")[0] }
        let request = keys.map { Text.set($0, "val-\($0)") }.joined() + "get \(keys[2])\r\n" + Text.set(keys[0], "x", verb: "add")
            + "get \(keys[0]) \(keys[1]) \(keys[2])\r\nversion\r\n"
        let expected = "STORED\r\nSTORED\r\nSTORED\r\n" + Text.hit(keys[2], "val-\(keys[2])") + "NOT_STORED\r\n"
            + keys.map { Text.value($0, "val-\($0)") }.joined() + "END\r\n" + Text.version
        client.expect(request, expected)
        client.expectSilence()
        for (index, key) in keys.enumerated() {
            for (serverIndex, server) in cluster.primaries.enumerated() {
                #expect(try server.getString(key) == (serverIndex == index ? "val-\(key)" : nil), "\(key) on server \(serverIndex)")
            }
        }
    }

    @Test func defect10_writeWithPrimaryDownReachesTheBackupOnce() throws {
        // A high failure limit keeps the primary "up": every write tries it and fails first.
        for limit in ["1000", "1"] {
            let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--failure-limit", limit])
            defer { cluster.stop() }
            let client = try cluster.client()
            let backup = cluster.backups[0]
            client.expect(Text.set("app", "a") + Text.set("num", "10"), "STORED\r\nSTORED\r\n")
            eventually(backup, "num", is: "10")
            cluster.primaries[0].kill()
            for _ in 0..<2 {
                expectTimely(client, Text.set("fresh", "1", verb: "add"), "STORED\r\n", within: 1.5)
                #expect(try backup.getString("fresh") == "1", "limit \(limit)")
                expectTimely(client, Text.set("fresh", "2", verb: "add"), "NOT_STORED\r\n", within: 1.5)
                expectTimely(client, Text.set("app", "b", verb: "append"), "STORED\r\n", within: 1.5)
                expectTimely(client, Text.set("app", "c", verb: "prepend"), "STORED\r\n", within: 1.5)
                expectTimely(client, "incr num 5\r\n", "15\r\n", within: 1.5)
                #expect(try backup.getString("app") == "cab", "limit \(limit)")
                #expect(try backup.getString("num") == "15", "limit \(limit)")
                expectTimely(client, "delete fresh\r\n", "DELETED\r\n", within: 1.5)
                expectTimely(client, Text.set("app", "a") + "decr num 5\r\n", "STORED\r\n10\r\n", within: 1.5)
            }
            client.expectSilence()
        }
    }

    @Test func defect12_hungBackendGetsATimelyReply() throws {
        // A primary that accepts and never answers, with a live backup.
        let (port, silent) = try Sockets.silentListenerOnFreePort()
        defer { close(silent) }
        let backup = try Memcached()
        defer { backup.stop() }
        try backup.set("h", "from-backup")
        let magent = try Magent(["-s", "127.0.0.1:\(port)", "-b", backup.address, "-t", "1", "--request-timeout", "300"])
        defer { magent.stop() }
        let client = try magent.client()
        expectTimely(client, "get h\r\n", Text.hit("h", "from-backup"), within: 1.5)
        expectTimely(client, Text.set("h", "new"), "STORED\r\n", within: 1.5)
        #expect(try backup.getString("h") == "new")
        expectTimely(client, "get h\r\n", Text.hit("h", "new"), within: 1.5)
        // Many clients at once, none stuck.
        let clients = try (0..<5).map { _ in try magent.client() }
        for other in clients { try other.send("get h\r\n") }
        for other in clients { #expect(try other.read(count: Text.hit("h", "new").utf8.count, timeout: 2) == bytes(Text.hit("h", "new"))) }
    }

    @Test func defect13_longLinesAndNulBytes() throws {
        let cluster = try Cluster(primaries: 2, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        // Longer than the original's 2,048 bytes.
        let keys = (0..<30).map { "long\($0)-" + String(repeating: "z", count: 150) }
        client.expect(Text.set(keys[29], "last"), "STORED\r\n")
        client.expect("get " + keys.joined(separator: " ") + "\r\n", Text.hit(keys[29], "last"))
        client.expect("touch \(keys[29])" + String(repeating: " ", count: 4000) + "100\r\n", "TOUCHED\r\n")
        // A NUL byte does not hide the line end.
        client.expect(bytes("get a") + [0] + bytes("b\r\nversion\r\n"), Text.badFormat + Text.version)
        client.expect([0] + bytes("\r\nversion\r\n"), "ERROR\r\n" + Text.version)
        client.expect(bytes("get \(keys[29])") + [0] + bytes("\r\nversion\r\n"), Text.badFormat + Text.version)
        client.expectSilence()
    }

    @Test func defect13_binaryProtocolClientIsNotLeftHanging() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        // A binary-protocol GET of key "a": magic 0x80, opcode 0, key length 1, body length 1.
        var request: [UInt8] = [0x80, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01]
        request += [0x00, 0x00, 0x00, 0x2a] + [UInt8](repeating: 0, count: 8)
        request += bytes("a")
        try client.send(request)
        // Answered in the binary protocol, as memcached answers: not found, opaque kept.
        let response = try BinaryMessage.read(from: client)
        #expect(response == BinaryMessage(opcode: 0, status: 1, opaque: 42, value: bytes("Not found")), "got \(response)")
        try client.send(BinaryMessage(opcode: 0x0a, opaque: 7).encoded())
        #expect(try BinaryMessage.read(from: client) == BinaryMessage(opcode: 0x0a, opaque: 7))
        try cluster.client().expect("version\r\n", Text.version)
    }

    @Test func defect14_badKeysNeverReachABackend() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let servers = cluster.primaries + cluster.backups
        let before = try servers.map { try $0.commandCount() }
        let client = try cluster.client()
        let long = String(repeating: "L", count: 251)
        for verb in ["set", "add", "replace", "append", "prepend"] {
            client.expect("\(verb) \(long) 0 0 5\r\nhello\r\nversion\r\n", Text.badFormat + Text.version)
            client.expect("\(verb) tab\tkey 0 0 5 noreply\r\nhello\r\nversion\r\n", Text.badFormat + Text.version)
        }
        client.expect("cas \(long) 0 0 5 1\r\nhello\r\n", Text.badFormat)
        for request in ["get \(long)", "gets a \(long)", "gat 0 \(long)", "delete \(long)", "incr \(long) 1", "touch \(long) 1",
                        "get bell\u{7}", "delete esc\u{1b}"] {
            client.expect(request + "\r\n", Text.badFormat)
        }
        client.expectSilence()
        #expect(try servers.map { try $0.commandCount() } == before)
        #expect(try servers.map { try $0.stat("curr_items") } == [0, 0])
    }

    @Test func defect14_largeValuesStreamThrough() throws {
        // A mock primary shows the value arriving before the client has sent all of it.
        let mock = try MockBackend { line in
            line.hasPrefix("xxxx") ? .reply(bytes("STORED\r\n"), delay: 0) : .ignore
        }
        defer { mock.stop() }
        // A long request timeout: the client pauses mid-value while the test watches the
        // backend, and a pause past the timeout would (rightly) drop the value.
        let magent = try Magent(["-s", mock.address, "-t", "1", "--request-timeout", "10000"])
        defer { magent.stop() }
        let client = try magent.client()
        let total = 1_000_000
        try client.send("set big 0 0 \(total)\r\n")
        try client.send([UInt8](repeating: UInt8(ascii: "x"), count: 300_000))
        let streamed = waitUntil(timeout: 3) { mock.receivedBytes.count >= 250_000 }
        #expect(streamed, "the backend got \(mock.receivedBytes.count) bytes of the first 300,000 sent; the value is buffered")
        try client.send([UInt8](repeating: UInt8(ascii: "x"), count: total - 300_000) + bytes("\r\n"))
        #expect(try client.readLine(timeout: 5) == "STORED\r\n")
        // The health monitor's identity checks ("stats") arrive on their own connections.
        let received = withoutIdentityChecks(mock.receivedBytes)
        let header = bytes("set big 0 0 \(total)\r\n")
        #expect(received.count == header.count + total + 2)
        #expect(Array(received.prefix(header.count)) == header)
    }

    @Test func defect15_userAndGroupAreBothApplied() throws {
        guard Environment.isRoot else { return }
        guard let nobody = getpwnam("nobody") else { return }
        let uid = String(nobody.pointee.pw_uid)
        let gid = String(nobody.pointee.pw_gid)
        let groupName = getgrgid(nobody.pointee.pw_gid).map { String(cString: $0.pointee.gr_name) } ?? gid
        let memcached = try Memcached()
        defer { memcached.stop() }
        let variants: [[String]] = [["-u", "nobody"], ["-u", "nobody", "-g", groupName], ["-g", groupName, "-u", "nobody"],
                                    ["-u", uid, "-g", gid], ["-u", uid]]
        for variant in variants {
            let magent = try Magent(["-s", memcached.address, "-t", "1"] + variant)
            defer { magent.stop() }
            // The port opens before the switch (binding may need root): give a slow
            // (sanitized, loaded) start a moment to get past it.
            waitUntil(timeout: 5, interval: 0.05) { ProcessTable.statusField(magent.pid, "Uid")?.first == uid }
            let uids = ProcessTable.statusField(magent.pid, "Uid")
            let gids = ProcessTable.statusField(magent.pid, "Gid")
            let groups = ProcessTable.statusField(magent.pid, "Groups") ?? []
            #expect(uids == [uid, uid, uid, uid], "\(variant): Uid \(String(describing: uids))")
            #expect(gids == [gid, gid, gid, gid], "\(variant): Gid \(String(describing: gids))")
            #expect(!groups.contains("0"), "\(variant): still in the root group: \(groups)")
            // Still serving after dropping privileges.
            try magent.client().expect(Text.set("priv", "1") + "get priv\r\n", "STORED\r\n" + Text.hit("priv", "1"))
        }
        // Privileges are dropped after binding: a port below 1024 still works.
        if let lowPort = Ports.freePrivileged() {
            let magent = try Magent(["-s", memcached.address, "-t", "1", "-u", "nobody"], port: lowPort)
            defer { magent.stop() }
            #expect(ProcessTable.statusField(magent.pid, "Uid")?.first == uid)
            try magent.client().expect("version\r\n", Text.version)
        }
        // Unknown names are errors, not silence.
        for bad in [["-u", "no-such-user-xyz"], ["-g", "no-such-group-xyz"]] {
            let port = try Ports.free()
            let result = try runToCompletion(try Environment.magentBinary(),
                                             ["-D", "-l", "127.0.0.1", "-p", String(port), "-s", memcached.address] + bad)
            #expect(result.exitCode != nil && result.exitCode != 0, "\(bad): exit \(String(describing: result.exitCode))")
            #expect(result.standardError.contains(bad[1]), "\(bad): stderr: \(result.standardError)")
        }
    }

    @Test func defect16_hostNamesResolveAndInvalidListenAddressesFail() throws {
        let memcached = try Memcached()
        defer { memcached.stop() }
        let backup = try Memcached()
        defer { backup.stop() }
        let magent = try Magent(["-s", "localhost:\(memcached.port)", "-b", "localhost:\(backup.port)", "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        client.expect(Text.set("named", "host") + "get named\r\n", "STORED\r\n" + Text.hit("named", "host"))
        #expect(try memcached.getString("named") == "host")
        eventually(backup, "named", is: "host")
        client.expect("stats\r\n", Text.agentStats([("localhost:\(memcached.port)", 1)]))
        // A host name to listen on.
        let listenPort = try Ports.free()
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let named = try ChildProcess(executable: try Environment.magentBinary(),
                                     arguments: ["-D", "-l", "localhost", "-p", String(listenPort), "-s", memcached.address],
                                     directory: directory)
        defer { named.stop() }
        #expect(waitUntil(timeout: 5) { Sockets.accepts(port: listenPort) }, "-l localhost: \(named.standardError)")
        // Invalid listen addresses are start-up errors.
        for address in ["999.1.1.1", "255.255.255.255x", "no-such-host.invalid", "1.2.3"] {
            let port = try Ports.free()
            for daemon in [false, true] {
                let result = try runToCompletion(try Environment.magentBinary(),
                                                 (daemon ? [] : ["-D"]) + ["-l", address, "-p", String(port), "-s", memcached.address])
                #expect(result.exitCode != nil && result.exitCode != 0,
                        "-l \(address)\(daemon ? " (daemon)" : ""): exit \(String(describing: result.exitCode))")
                #expect(!result.standardError.isEmpty, "-l \(address): no message")
            }
            for pid in ProcessTable.pids(withArguments: ["-p", String(port)], executable: try Environment.magentBinary()) {
                Issue.record("-l \(address): a daemon \(pid) is running")
                ProcessTable.stop(pid)
            }
        }
    }

    @Test func defect17_bindFailureIsReportedWithANonZeroExit() throws {
        let memcached = try Memcached()
        defer { memcached.stop() }
        let binary = try Environment.magentBinary()
        let busy = String(memcached.port)
        defer {
            for pid in ProcessTable.pids(withArguments: ["-p", busy], executable: binary) { ProcessTable.stop(pid) }
        }
        for daemon in [false, true] {
            let result = try runToCompletion(binary, (daemon ? [] : ["-D"]) + ["-l", "127.0.0.1", "-p", busy, "-s", memcached.address])
            #expect(result.exitCode != nil && result.exitCode != 0, "\(daemon ? "daemon" : "-D"): exit \(String(describing: result.exitCode))")
            #expect(result.standardError.contains(busy), "\(daemon ? "daemon" : "-D"): stderr: \(result.standardError)")
            #expect(ProcessTable.pids(withArguments: ["-p", busy], executable: binary).isEmpty, "a daemon stayed behind")
        }
        // The unix socket path in a missing directory is a start-up error too.
        let result = try runToCompletion(binary, ["-p", "0", "-f", "/nonexistent-dir/x.sock", "-s", memcached.address])
        #expect(result.exitCode != nil && result.exitCode != 0)
        #expect(result.standardError.contains("/nonexistent-dir/x.sock"), "stderr: \(result.standardError)")
    }

    @Test func defect18_noreplyWritesWithBackupsDoNotGrowThePool() throws {
        let cluster = try Cluster(primaries: 2, backups: 2, arguments: ["-t", "1", "-i", "5"])
        defer { cluster.stop() }
        let baseline = try cluster.backups.map { try $0.stat("curr_connections") }
        let clients = try (0..<8).map { _ in try cluster.client() }
        for (number, client) in clients.enumerated() {
            var batch = ""
            for round in 0..<100 { batch += Text.set("leak\(number)-\(round)", "v", noreply: true) }
            try client.send(batch + "incr nothing 1 noreply\r\ndelete nothing noreply\r\n")
        }
        let lastKeys = (0..<8).map { "leak\($0)-99" }
        for (number, client) in clients.enumerated() {
            client.expect("get \(lastKeys[number])\r\n", Text.hit(lastKeys[number], "v"))
        }
        let allKeys = (0..<8).flatMap { number in (0..<100).map { "leak\(number)-\($0)" } }
        #expect(waitUntil(timeout: 3) {
            cluster.backups.reduce(0) { $0 + ((try? $1.getMany(allKeys).count) ?? 0) } == allKeys.count
        }, "not every noreply write reached its backup")
        let client = clients[0]
        try client.send("stats\r\n")
        let stats = try client.read(until: "END\r\n")
        for line in stats.components(separatedBy: "\r\n") where line.hasPrefix("matrix") {
            let pool = Int(fields(line).last ?? "") ?? -1
            #expect(pool >= 0 && pool <= 5, "\(line)")
        }
        for (index, backup) in cluster.backups.enumerated() {
            let open = try backup.stat("curr_connections")
            // -i 5 pooled connections, plus at most one short-lived health check ("stats" every second).
            #expect(open - baseline[index] <= 5 + 1, "backup \(index): \(open - baseline[index]) connections from the proxy (-i 5)")
        }
        // Repeating the load does not open more.
        for client in clients {
            try client.send((0..<50).map { Text.set("again\($0)", "v", noreply: true) }.joined() + "get again49\r\n")
            #expect(try client.readRetrieval() == bytes(Text.hit("again49", "v")))
        }
        for (index, backup) in cluster.backups.enumerated() {
            let open = try backup.stat("curr_connections")
            #expect(open - baseline[index] <= 5 + 1, "backup \(index): \(open - baseline[index]) connections after a second round")
        }
    }

    @Test func defect19_sigpipeDoesNotKillTheProxy() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        // The proxy ignores SIGPIPE itself (the test starts it with the default action).
        if let ignored = ProcessTable.statusField(cluster.magent.pid, "SigIgn")?.first, let mask = UInt64(ignored, radix: 16) {
            #expect(mask & (1 << UInt64(SIGPIPE - 1)) != 0, "SIGPIPE is not ignored (SigIgn \(ignored))")
        }
        let setup = try cluster.client()
        let value = pseudoRandomBytes(count: 900_000, seed: 3)
        try setup.send(bytes("set big 0 0 \(value.count)\r\n") + value + bytes("\r\n"))
        #expect(try setup.readLine(timeout: 5) == "STORED\r\n")
        for round in 0..<20 {
            let rude = try cluster.client()
            try rude.send(String(repeating: "get big\r\n", count: 4) + "set half 0 0 1000\r\nabc")
            if round % 2 == 0 { rude.reset() } else { rude.close() }
        }
        // Written into a socket the client already reset.
        for _ in 0..<5 {
            let rude = try cluster.client()
            try rude.send("get big\r\n")
            _ = try rude.read(count: 1000)
            rude.reset()
        }
        // The proxy has handled every rude client: only `setup` is still open.
        if let watch = try? cluster.watch() {  // none if magent died: checked next
            defer { watch.close() }
            try watch.waitForConnections(1)
        }
        #expect(cluster.magent.isRunning, "magent died: signal \(String(describing: cluster.magent.process.terminatingSignal))")
        let client = try cluster.client()
        client.expect("version\r\n", Text.version)
        client.expect("get half\r\n", "END\r\n")
        try client.send("get big\r\n")
        let expected = bytes("VALUE big 0 \(value.count)\r\n") + value + bytes("\r\nEND\r\n")
        #expect(try client.read(count: expected.count, timeout: 10) == expected)
    }

    @Test func defect20_multiGetAcrossServersWithTwoThreads() throws {
        let cluster = try Cluster(primaries: 3, backups: 1, arguments: ["-t", "2"])
        defer { cluster.stop() }
        // The listener opens before the worker threads are all up: wait for them (bounded).
        func threads() -> Int { Int(ProcessTable.statusField(cluster.magent.pid, "Threads")?.first ?? "") ?? 0 }
        waitUntil(timeout: 5, interval: 0.05) { threads() >= 3 }
        #expect(threads() >= 3)
        let keys = (0..<60).map { "mt\($0)" }
        let setup = try cluster.client()
        setup.expect(keys.map { Text.set($0, "value-\($0)") }.joined(), String(repeating: "STORED\r\n", count: keys.count))
        let port = cluster.port
        let failures = FailureLog()
        DispatchQueue.concurrentPerform(iterations: 6) { worker in
            do {
                let client = try TextClient(port: port)
                for round in 0..<30 {
                    let chosen = (0..<12).map { keys[(worker * 7 + round * 5 + $0 * 3) % keys.count] }
                    try client.send("get " + chosen.joined(separator: " ") + " missing\(round)\r\n")
                    let reply = try client.readRetrieval()
                    // Values come grouped by server, so compare as sets of items.
                    let expected = chosen.map { Text.value($0, "value-\($0)") }
                    var items = text(reply)
                    var found: [String] = []
                    for item in expected.sorted(by: { $0.count > $1.count }) {
                        if let range = items.range(of: item) {
                            found.append(item)
                            items.removeSubrange(range)
                        }
                    }
                    if found.count != expected.count || items != "END\r\n" {
                        failures.add("client \(worker) round \(round): \(escaped(reply))")
                    }
                }
            } catch {
                failures.add("client \(worker): \(error)")
            }
        }
        #expect(failures.entries.isEmpty, "\(failures.entries.prefix(3))")
    }

    @Test func defect20_multiGetAsksServersInParallel() throws {
        let delay = 0.5
        let mocks = try (0..<3).map { _ in
            try MockBackend { line in line.hasPrefix("get ") ? .reply(bytes("END\r\n"), delay: delay) : .ignore }
        }
        defer { mocks.forEach { $0.stop() } }
        let magent = try Magent(mocks.flatMap { ["-s", $0.address] } + ["-t", "2"])
        defer { magent.stop() }
        let names = mocks.map(\.placementName)
        var keys: [String] = []
        for index in 0..<3 {
            keys.append(try Placement.key(onPrimary: index, of: names, prefix: "par"))
        }
        let client = try magent.client()
        expectTimely(client, "get " + keys.joined(separator: " ") + "\r\n", "END\r\n", within: delay * 2.4)
        for (index, mock) in mocks.enumerated() { #expect(mock.requestLines.filter { $0 != "stats" } == ["get \(keys[index])"]) }
    }
}

/// A mock backend's bytes without the health monitor's "stats\r\n" requests.
private func withoutIdentityChecks(_ bytes: [UInt8]) -> [UInt8] {
    let probe = Array("stats\r\n".utf8)
    var result: [UInt8] = []
    var index = 0
    while index < bytes.count {
        if bytes.count - index >= probe.count && Array(bytes[index..<(index + probe.count)]) == probe {
            index += probe.count
        } else {
            result.append(bytes[index])
            index += 1
        }
    }
    return result
}
