// Issue 3, "nothing lost when a memcached dies and comes back empty": a restart is
// detected (seen down, or by pid), misses fail over to the backup and are written
// back, the restarted server is refilled with flags and TTLs, replication does not
// drift, and deletes a server missed are applied and never undone.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// This suite's helpers (one namespace: every test file shares the module).
enum RecoveryKit {
    /// Waits until every named server is `up` with nothing left to refill (and, when
    /// `noPendingDeletes`, no kept deletes); records an issue with the stats and the log if not.
    @discardableResult
    static func waitSettled(_ cluster: Cluster, _ servers: [String], timeout: Double = 10, noPendingDeletes: Bool = true,
                            sourceLocation: SourceLocation = #_sourceLocation) -> ServerStates.Watch {
        let result = ServerStates.watch(cluster, timeout: timeout, interval: 0.05) { stats in
            servers.allSatisfy { server in
                stats["\(server):state"] == "up" && stats["\(server):refill_left"] == "0"
                    && (!noPendingDeletes || stats["\(server):pending_deletes"] == "0")
            }
        }
        #expect(result.done, "\(servers) not up and refilled within \(timeout) s: \(ServerStates.describe(result.last))\nmagent log:\n\(ServerStates.log(cluster))",
                sourceLocation: sourceLocation)
        return result
    }


    // MARK: direct access to memcached

    struct Item: Equatable {
        var value: [UInt8]
        var flags: UInt32
        /// Remaining seconds, -1 when it never expires.
        var ttl: Int
    }

    /// `mg <key> v f t` straight to memcached; nil on a miss.
    static func metaGet(_ server: Memcached, _ key: String) throws -> Item? {
        let client = try server.client()
        defer { client.close() }
        try client.send("mg \(key) v f t\r\n")
        let header = try client.readLine()
        if header == "EN\r\n" { return nil }
        let parts = fields(header)
        guard parts.count >= 2, parts[0] == "VA", let size = Int(parts[1]) else {
            throw HarnessError("memcached \(server.port) answered \"\(escaped(bytes(header)))\" to mg")
        }
        var item = Item(value: [], flags: 0, ttl: -2)
        for part in parts.dropFirst(2) {
            if part.hasPrefix("f") { item.flags = UInt32(part.dropFirst()) ?? 0 }
            if part.hasPrefix("t") { item.ttl = Int(part.dropFirst()) ?? -2 }
        }
        let data = try client.read(count: size + 2)
        item.value = Array(data.dropLast(2))
        return item
    }

    /// A raw storage command straight to memcached; returns its reply line.
    @discardableResult
    static func store(_ server: Memcached, _ key: String, _ value: String, flags: UInt32 = 0, exptime: Int = 0,
                      verb: String = "set") throws -> String {
        let client = try server.client()
        defer { client.close() }
        try client.send("\(verb) \(key) \(flags) \(exptime) \(value.utf8.count)\r\n\(value)\r\n")
        return try client.readLine()
    }

    /// Keys held by a memcached (`lru_crawler metadump all`, whose lines end in a
    /// bare "\n"; only its END has "\r\n"), percent-decoded.
    static func heldKeys(_ server: Memcached) throws -> [String] {
        var dump = ""
        // The crawler answers BUSY while it is still busy with another request: asked again until it is free.
        try waitFor("the lru crawler of \(server.port) to be free", timeout: 5, interval: 0.1) {
            let client = try server.client()
            defer { client.close() }
            try client.send("lru_crawler metadump all\r\n")
            dump = try client.read(until: "\r\n")  // everything through END, or a BUSY line
            return !dump.hasPrefix("BUSY")
        }
        guard dump.hasSuffix("END\r\n") else { throw HarnessError("metadump answered \(escaped(bytes(dump)))") }
        var keys: [String] = []
        for line in dump.split(separator: "\n") where line.hasPrefix("key=") {
            let field = line.dropFirst(4).prefix { $0 != " " }
            keys.append(field.removingPercentEncoding ?? String(field))
        }
        return keys
    }

    /// Writes a key through `client` and waits (bounded) until `backup` holds it. A
    /// client's requests to a server always travel on the same connection, in order,
    /// so whatever the proxy sent the backup for this client's earlier requests has
    /// been applied by then: what the backup holds now is final.
    static func barrier(_ client: TextClient, backup: Memcached, sourceLocation: SourceLocation = #_sourceLocation) {
        let key = "barrier:\(UInt32.random(in: 0...UInt32.max))"
        client.expect(Text.set(key, "b"), "STORED\r\n", sourceLocation: sourceLocation)
        eventually(backup, key, is: "b", timeout: 5, sourceLocation: sourceLocation)
    }

    // MARK: through the proxy

    struct Value: Equatable {
        var flags: UInt32
        var value: [UInt8]
        var cas: String?
    }

    /// Parses a whole retrieval reply (VALUE blocks and one END, nothing else);
    /// a key answered twice is an error.
    static func parseRetrieval(_ reply: [UInt8]) throws -> [String: Value] {
        var result: [String: Value] = [:]
        var index = 0
        for _ in 0..<100_000 {
            var end = index
            while end + 1 < reply.count && !(reply[end] == 13 && reply[end + 1] == 10) { end += 1 }
            guard end + 1 < reply.count else { throw HarnessError("no line end in \"\(escaped(reply))\"") }
            let line = text(Array(reply[index..<end]))
            index = end + 2
            if line == "END" {
                guard index == reply.count else { throw HarnessError("bytes after END in \"\(escaped(reply))\"") }
                return result
            }
            let parts = line.split(separator: " ").map(String.init)
            guard parts.count == 4 || parts.count == 5, parts[0] == "VALUE", let flags = UInt32(parts[2]),
                  let size = Int(parts[3]), index + size + 2 <= reply.count,
                  reply[index + size] == 13, reply[index + size + 1] == 10 else {
                throw HarnessError("bad retrieval reply \"\(escaped(reply))\"")
            }
            guard result[parts[1]] == nil else { throw HarnessError("\(parts[1]) answered twice: \"\(escaped(reply))\"") }
            result[parts[1]] = Value(flags: flags, value: Array(reply[index..<(index + size)]), cas: parts.count == 5 ? parts[4] : nil)
            index += size + 2
        }
        throw HarnessError("parse bound reached")
    }

    /// One `get`/`gets` of `keys` through the proxy, parsed.
    static func fetch(_ client: TextClient, _ keys: [String], verb: String = "get", timeout: Double = 5) throws -> [String: Value] {
        try client.send("\(verb) \(keys.joined(separator: " "))\r\n")
        return try parseRetrieval(client.readRetrieval(timeout: timeout))
    }

    /// Sends the storage commands pipelined, 50 at a time, expecting STORED for each.
    static func setAll(_ client: TextClient, _ items: [(key: String, value: String, flags: Int)],
                       sourceLocation: SourceLocation = #_sourceLocation) {
        for start in stride(from: 0, to: items.count, by: 50) {
            let batch = items[start..<min(start + 50, items.count)]
            client.expect(batch.map { Text.set($0.key, $0.value, flags: $0.flags) }.joined(),
                          String(repeating: "STORED\r\n", count: batch.count), sourceLocation: sourceLocation)
        }
    }

    /// Waits until `server` holds every one of `keys` (replication to a backup is asynchronous).
    static func waitHolds(_ server: Memcached, _ keys: [String], timeout: Double = 3,
                          sourceLocation: SourceLocation = #_sourceLocation) {
        var held = 0
        let done = waitUntil(timeout: timeout, interval: 0.02) {
            held = (try? server.getMany(keys).count) ?? -1
            return held == keys.count
        }
        #expect(done, "memcached \(server.port) holds \(held) of \(keys.count) keys", sourceLocation: sourceLocation)
    }

    /// Gets `key` through the proxy until the primary at `index` is marked down; every
    /// answer must still be `expected` (from the backup). Bounded.
    static func driveDown(_ cluster: Cluster, primary index: Int, key: String, expected: Value,
                          sourceLocation: SourceLocation = #_sourceLocation) throws {
        let client = try cluster.client()
        defer { client.close() }
        let name = ServerStates.primaryName(index)
        let result = ServerStates.watch(cluster, timeout: 5, interval: 0.05) { stats in
            do {
                let values = try fetch(client, [key], timeout: 3)
                #expect(values == [key: expected], "\(key) read through the proxy with its primary dead",
                        sourceLocation: sourceLocation)
            } catch {
                Issue.record("get \(key) with its primary dead: \(error)", sourceLocation: sourceLocation)
            }
            return stats["\(name):state"] == "down"
        }
        #expect(result.done, "\(name) never marked down: \(ServerStates.describe(result.last))", sourceLocation: sourceLocation)
    }

    // MARK: php

    static let php = "/usr/bin/php"
    static let sessionScript = Environment.packageRoot + "/Tests/ClientScripts/recovery_session.php"

    /// Runs `php recovery_session.php arguments...`, bounded; returns exit code and output.
    static func runPHP(_ arguments: [String], timeout: Double = 30) throws -> (code: Int32?, output: String) {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let child = try ChildProcess(executable: php, arguments: [sessionScript] + arguments, directory: directory)
        guard child.waitForExit(timeout: timeout) else {
            child.stop(grace: 1)
            throw HarnessError("php \(arguments.joined(separator: " ")) did not finish in \(timeout) s: "
                               + child.standardOutput + child.standardError)
        }
        return (child.exitCode, child.standardOutput + child.standardError)
    }
}

@Suite(.serialized) struct RecoveryTests {
    typealias Kit = RecoveryKit

    // MARK: 1. The seed scenario

    /// Two primaries and a backup; both primaries die, come back empty: nothing is
    /// lost, and each primary ends up holding exactly its own keys again.
    @Test func bothPrimariesRestartEmptyAndAreRefilled() throws {
        // A slow refill, so that reads right after the restart meet primaries still missing keys.
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "-vv", "--refill-rate", "40"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<200).map { "seed:\($0)" }
        let items = keys.enumerated().map { number, key in
            (key: key, value: "value of \(key) " + String(repeating: "abcdefghij", count: number % 20), flags: number % 7 * 1000)
        }
        let expected = Dictionary(uniqueKeysWithValues: items.map { ($0.key, Kit.Value(flags: UInt32($0.flags), value: bytes($0.value))) })
        Kit.setAll(client, items)
        Kit.waitHolds(cluster.backups[0], keys)

        // Placement, predicted independently of the proxy.
        let names = (primaries: cluster.primaries.map(\.placementName), backups: cluster.backups.map(\.placementName))
        var own: [[String]] = [[], []]
        for key in keys {
            let placement = Placement.predict(key, primaries: names.primaries, backups: names.backups, mode: .modulo)
            #expect(placement.backup == 0)
            own[placement.primary].append(key)
        }
        try #require(!own[0].isEmpty && !own[1].isEmpty, "the 200 keys should spread over both primaries")

        func readEverything(_ pass: String) {
            for key in keys {
                let item = expected[key]!
                client.expect("get \(key)\r\n", Text.hit(key, text(item.value), flags: Int(item.flags)), timeout: 3)
            }
            // And as multi-gets spanning both primaries.
            for start in stride(from: 0, to: keys.count, by: 40) {
                let slice = Array(keys[start..<min(start + 40, keys.count)])
                do {
                    let values = try Kit.fetch(client, slice)
                    let missing = slice.filter { values[$0] != expected[$0] }
                    #expect(missing.isEmpty, "\(pass): multi-get lost or changed \(missing)")
                } catch {
                    Issue.record("\(pass): multi-get failed: \(error)")
                }
            }
        }

        cluster.primaries.forEach { $0.kill() }
        readEverything("primaries dead")
        let whileDead = try ServerStates.read(cluster)
        #expect(whileDead["primary:1:state"] == "down" && whileDead["primary:2:state"] == "down",
                "\(ServerStates.describe(whileDead))")

        for primary in cluster.primaries { try primary.restart() }
        readEverything("right after the restart")
        // Once the proxy has seen them back (recovering), reads meet primaries still missing keys.
        let back = ServerStates.watch(cluster, timeout: 8, interval: 0.02) { stats in
            stats["primary:1:state"] != "down" && stats["primary:2:state"] != "down"
        }
        #expect(back.done, "primaries not seen back: \(ServerStates.describe(back.last))\n\(ServerStates.log(cluster))")
        readEverything("while recovering")
        let misses = cluster.primaries.map { (try? $0.stat("get_misses")) ?? 0 }.reduce(0, +)
        #expect(misses > 0, "no read ever reached a restarted primary that lacked the key, so miss failover went untested")

        Kit.waitSettled(cluster, ["primary:1", "primary:2", "backup:1"], timeout: 15)
        for (index, primary) in cluster.primaries.enumerated() {
            let held = try primary.getMany(keys)
            let detail = "primary \(index + 1) holds \(held.count) keys, its own are \(own[index].count); "
                + "missing \(Set(own[index]).subtracting(held.keys).sorted().prefix(10)), "
                + "foreign \(Set(held.keys).subtracting(own[index]).sorted().prefix(10))"
            #expect(Set(held.keys) == Set(own[index]), "\(detail)")
            for (key, value) in held { #expect(value == expected[key]?.value, "\(key) on primary \(index + 1)") }
            for key in own[index].prefix(20) {
                #expect(try Kit.metaGet(primary, key)?.flags == expected[key]?.flags, "flags of \(key) on primary \(index + 1)")
            }
            #expect(try primary.stat("curr_items") == own[index].count)
        }
        readEverything("after the refill")
        #expect(cluster.magent.isRunning)
    }

    // MARK: 2. Writes during an outage

    @Test func writesDuringAnOutageSurviveTheRestart() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "-vv"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let primary = cluster.primaries[0]
        let before = cluster.keys(onPrimary: 0, count: 6, prefix: "pre")
        let during = cluster.keys(onPrimary: 0, count: 20, prefix: "out")
        let other = cluster.keys(onPrimary: 1, count: 5, prefix: "other")
        let (changed, deleted, appended, counter, added) = (before[0], before[1], before[2], before[3], during[19])
        Kit.setAll(client, before.map { ($0, "old-\($0)", 1) } + other.map { ($0, "v-\($0)", 2) })
        client.expect(Text.set(counter, "5", flags: 1), "STORED\r\n")
        Kit.waitHolds(cluster.backups[0], before + other)

        primary.kill()
        var expected: [String: (String, Int)] = [:]
        for key in before { expected[key] = ("old-\(key)", 1) }
        for key in other { expected[key] = ("v-\(key)", 2) }
        expected[counter] = ("5", 1)
        Kit.setAll(client, during.dropLast().map { ($0, "new-\($0)", 3) })
        for key in during.dropLast() { expected[key] = ("new-\(key)", 3) }
        client.expect(Text.set(changed, "changed", flags: 4), "STORED\r\n")
        expected[changed] = ("changed", 4)
        client.expect("delete \(deleted)\r\n", "DELETED\r\n")
        expected[deleted] = nil
        client.expect(Text.set(appended, "+a", verb: "append"), "STORED\r\n")
        expected[appended] = ("old-\(appended)+a", 1)
        client.expect("incr \(counter) 3\r\n", "8\r\n")
        expected[counter] = ("8", 1)
        client.expect(Text.set(added, "added", flags: 5, verb: "add"), "STORED\r\n")
        client.expect(Text.set(added, "again", flags: 5, verb: "add"), "NOT_STORED\r\n")
        expected[added] = ("added", 5)
        let allKeys = before + during + other

        func expectEverything(_ pass: String) {
            for key in allKeys {
                if let (value, flags) = expected[key] {
                    client.expect("get \(key)\r\n", Text.hit(key, value, flags: flags), timeout: 3)
                } else {
                    client.expect("get \(key)\r\n", "END\r\n", timeout: 3)
                }
            }
        }
        expectEverything("during the outage")

        try primary.restart()
        expectEverything("right after the restart")
        Kit.waitSettled(cluster, ["primary:1"])
        expectEverything("after the refill")
        let held = try primary.getMany(allKeys)
        let own = allKeys.filter { expected[$0] != nil && cluster.placement(of: $0).primary == 0 }
        #expect(Set(held.keys) == Set(own), "primary 1 holds \(held.keys.sorted()), expected \(own.sorted())")
        for (key, value) in held { #expect(text(value) == expected[key]?.0, "\(key) directly on primary 1") }
        #expect(try primary.getString(deleted) == nil, "the key deleted during the outage came back on the primary")
    }

    // MARK: 3. A restart the proxy never saw

    @Test func quickRestartIsDetectedByPid() throws {
        // 40 keys at 20 keys/s: the refill stays `recovering` for about 2 s, long enough to see.
        // memcached -vv: its log shows the proxy's identity probes.
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "-vv", "--refill-rate", "20"],
                                  memcachedArguments: ["-vv"])
        defer { cluster.stop() }
        let primary = cluster.primaries[0]
        let keys = cluster.keys(onPrimary: 0, count: 40, prefix: "quiet")
        let client = try cluster.client()
        Kit.setAll(client, keys.map { ($0, "v-\($0)", 11) })
        Kit.waitHolds(cluster.backups[0], keys)
        client.close()
        // The monitor must have asked who it is at least once (it does every second).
        try primary.waitUntilIdentified()
        let oldPid = primary.process.pid

        let killed = now()
        primary.kill()
        try primary.restart()
        let gap = now() - killed
        #expect(gap < 1, "the restart took \(gap) s")
        #expect(primary.process.pid != oldPid)
        #expect(try primary.stat("curr_items") == 0)

        let recovering = ServerStates.watch(cluster, timeout: 4) { $0["primary:1:state"] == "recovering" }
        #expect(recovering.done, "primary 1 never shown recovering after its restart: \(ServerStates.describe(recovering.last))\n\(ServerStates.log(cluster))")
        let settled = Kit.waitSettled(cluster, ["primary:1"], timeout: 8)
        let states = recovering.states.merging(settled.states) { $0 + $1 }
        #expect(states["primary:1"]?.contains("down") != true, "the proxy marked it down: \(states)")
        for server in ["primary:2", "backup:1"] {
            #expect(Set(states[server] ?? []) == ["up"], "\(server) went through \(states[server] ?? []) though it never restarted")
        }
        #expect(ServerStates.number(settled.last, "primary:1:refill_copied") == keys.count, "\(ServerStates.describe(settled.last))")

        let reader = try cluster.client()
        for key in keys { reader.expect("get \(key)\r\n", Text.hit(key, "v-\(key)", flags: 11)) }
        let held = try primary.getMany(keys)
        #expect(held.count == keys.count, "refilled \(held.count) of \(keys.count) keys on the restarted primary")
        for key in keys.prefix(5) { #expect(try Kit.metaGet(primary, key)?.flags == 11) }
        #expect(try primary.stat("curr_items") == keys.count)
    }

    // MARK: 4. A backup restarted empty

    @Test func restartedBackupIsRefilledFromThePrimaries() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "-vv"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let backup = cluster.backups[0]
        let keys = (0..<100).map { "bk:\($0)" }
        Kit.setAll(client, keys.enumerated().map { ($1, "v-\($1)", $0 % 3) })
        Kit.waitHolds(backup, keys)

        backup.kill()
        let later = (0..<10).map { "bk-out:\($0)" }
        Kit.setAll(client, later.map { ($0, "late-\($0)", 9) })
        for key in keys.prefix(2) { client.expect("delete \(key)\r\n", "DELETED\r\n") }
        let down = ServerStates.watch(cluster, timeout: 3) { $0["backup:1:state"] == "down" }
        #expect(down.done, "the dead backup is not marked down: \(ServerStates.describe(down.last))")
        #expect(ServerStates.number(down.last, "backup:1:pending_deletes") == 2, "\(ServerStates.describe(down.last))")

        try backup.restart()
        Kit.waitSettled(cluster, ["backup:1"])
        let live = Array(keys.dropFirst(2)) + later
        let held = try backup.getMany(keys + later)
        #expect(Set(held.keys) == Set(live), "backup holds \(held.count) keys; missing \(Set(live).subtracting(held.keys).sorted().prefix(10))")
        for (index, key) in keys.enumerated().dropFirst(2) {
            #expect(try Kit.metaGet(backup, key) == Kit.Item(value: bytes("v-\(key)"), flags: UInt32(index % 3), ttl: -1), "\(key) on the backup")
        }
        for key in later { #expect(try Kit.metaGet(backup, key) == Kit.Item(value: bytes("late-\(key)"), flags: 9, ttl: -1)) }
        #expect(try backup.stat("curr_items") == live.count)

        // The refilled backup serves when the primaries die.
        cluster.primaries.forEach { $0.kill() }
        for key in live.suffix(15) {
            let value = key.hasPrefix("bk-out") ? "late-\(key)" : "v-\(key)"
            let flags = key.hasPrefix("bk-out") ? 9 : Int(key.dropFirst(3))! % 3
            client.expect("get \(key)\r\n", Text.hit(key, value, flags: flags), timeout: 3)
        }
        client.expect("get \(keys[0])\r\n", "END\r\n", timeout: 3)
    }

    // MARK: 5. Deletes while the backup was away

    /// The backup is stopped (SIGSTOP: it keeps its data) and marked down; keys deleted
    /// meanwhile are kept for it and applied when it is back, and a primary restarted
    /// afterwards is refilled without them.
    @Test func deletesMissedByAStoppedBackupDoNotResurrect() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv", "--request-timeout", "300"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        let keys = (0..<10).map { "del:\($0)" }
        let (gone, kept) = (Array(keys.prefix(5)), Array(keys.suffix(5)))
        Kit.setAll(client, keys.map { ($0, "v-\($0)", 0) })
        Kit.waitHolds(backup, keys)

        backup.pause()
        // Writes time out on the stopped backup until it is marked down (the client hears the primary).
        var marks: [String] = []
        let down = ServerStates.watch(cluster, timeout: 6, interval: 0.35) { stats in
            let key = "mark:\(marks.count)"
            marks.append(key)
            client.expect(Text.set(key, "m"), "STORED\r\n", timeout: 2)
            return stats["backup:1:state"] == "down"
        }
        try #require(down.done, "the stopped backup is never marked down: \(ServerStates.describe(down.last))\n\(ServerStates.log(cluster))")
        for key in gone { client.expect("delete \(key)\r\n", "DELETED\r\n", timeout: 2) }
        let pending = try ServerStates.read(cluster)
        #expect(ServerStates.number(pending, "backup:1:pending_deletes") == gone.count, "\(ServerStates.describe(pending))")
        #expect(ServerStates.number(pending, "primary:1:pending_deletes") == 0)

        backup.resume()
        // Still there: the backup never received those deletes.
        #expect(try backup.getMany(gone).count == gone.count, "the stopped backup should still hold the deleted keys")
        Kit.waitSettled(cluster, ["backup:1"])
        let leftOnBackup = try backup.getMany(gone).keys.sorted()
        #expect(leftOnBackup.isEmpty, "kept deletes not applied to the backup: \(leftOnBackup)")
        #expect(try backup.getMany(kept).count == kept.count)

        primary.kill()
        try primary.restart()
        let noticed = ServerStates.watch(cluster, timeout: 5) { ServerStates.number($0, "primary:1:refill_copied") > 0 && $0["primary:1:state"] == "up" }
        #expect(noticed.done, "restarted primary not refilled: \(ServerStates.describe(noticed.last))\n\(ServerStates.log(cluster))")
        for key in gone { client.expect("get \(key)\r\n", "END\r\n", timeout: 3) }
        for key in kept { client.expect("get \(key)\r\n", Text.hit(key, "v-\(key)"), timeout: 3) }
        Kit.waitSettled(cluster, ["primary:1", "backup:1"])
        let refilledGone = try primary.getMany(gone).keys.sorted()
        #expect(refilledGone.isEmpty, "deleted keys refilled to the primary: \(refilledGone)")
        #expect(try primary.getMany(kept).count == kept.count)
        let final = try ServerStates.read(cluster)
        #expect(ServerStates.number(final, "pending_deletes_dropped") == 0)
    }

    /// The same, with everything at once: the backup resumes and the primary restarts
    /// empty while the backup's kept deletes may not be applied yet (the order depends
    /// on the monitor's timing). Deleted keys must read as misses at every moment and
    /// come back on no server.
    @Test func deletesStayDeletedWhileBothServersRecoverAtOnce() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv", "--request-timeout", "300"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        let keys = (0..<10).map { "both:\($0)" }
        let (gone, kept) = (Array(keys.prefix(5)), Array(keys.suffix(5)))
        Kit.setAll(client, keys.map { ($0, "v-\($0)", 0) })
        Kit.waitHolds(backup, keys)

        backup.pause()
        var marks = 0
        let down = ServerStates.watch(cluster, timeout: 6, interval: 0.35) { stats in
            marks += 1
            client.expect(Text.set("mark:\(marks)", "m"), "STORED\r\n", timeout: 2)
            return stats["backup:1:state"] == "down"
        }
        try #require(down.done, "the stopped backup is never marked down: \(ServerStates.describe(down.last))")
        for key in gone { client.expect("delete \(key)\r\n", "DELETED\r\n", timeout: 2) }

        backup.resume()
        primary.kill()
        try primary.restart()
        var resurrected: Set<String> = []
        let settled = ServerStates.watch(cluster, timeout: 10, interval: 0.03) { stats in
            if let values = try? Kit.fetch(client, gone) { resurrected.formUnion(values.keys) }
            let log = cluster.magent.process.standardError
            return ["primary:1", "backup:1"].allSatisfy { stats["\($0):state"] == "up" && stats["\($0):refill_left"] == "0"
                && stats["\($0):pending_deletes"] == "0" }
                && (log.contains("(primary 1) restarted") || log.contains("(primary 1) is up"))
        }
        #expect(resurrected.isEmpty, "deleted keys read back through the proxy: \(resurrected.sorted())\n\(ServerStates.log(cluster))")
        #expect(settled.done, "not settled: \(ServerStates.describe(settled.last))\n\(ServerStates.log(cluster))")
        for key in gone { client.expect("get \(key)\r\n", "END\r\n", timeout: 3) }
        #expect(try primary.getMany(gone).isEmpty && backup.getMany(gone).isEmpty, "deleted keys came back on a server")
        // Whether the live keys are back on the primary depends on which the proxy saw
        // first, the backup back or the primary restarted (see the test below); the
        // backup must keep them either way.
        #expect(try backup.getMany(kept).count == kept.count, "live keys lost on the backup")
    }

    /// A delete whose backup copy timed out once (the backup stays in use) is kept
    /// for the backup. Writing the key again afterwards must not leave it hidden:
    /// after a primary restart the new value is still served.
    @Test func keyWrittenAgainAfterAKeptDeleteIsNotHidden() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv", "--request-timeout", "300"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        client.expect(Text.set("again", "first"), "STORED\r\n")
        Kit.waitHolds(backup, ["again"])

        backup.pause()
        client.expect("delete again\r\n", "DELETED\r\n", timeout: 2)
        let kept = ServerStates.watch(cluster, timeout: 3) { ServerStates.number($0, "backup:1:pending_deletes") == 1 }
        backup.resume()
        try #require(kept.done, "the timed-out delete was not kept: \(ServerStates.describe(kept.last))")
        #expect(kept.last["backup:1:state"] == "up", "one timeout should not mark the backup down: \(ServerStates.describe(kept.last))")

        client.expect(Text.set("again", "second", flags: 3), "STORED\r\n", timeout: 3)
        eventually(backup, "again", is: "second")

        primary.kill()
        try primary.restart()
        let refilled = ServerStates.watch(cluster, timeout: 5) { stats in
            stats["primary:1:state"] == "up" && stats["primary:1:refill_left"] == "0"
                && cluster.magent.process.standardError.contains("(primary 1) restarted")
        }
        #expect(refilled.done, "the restart was not noticed: \(ServerStates.describe(refilled.last))\n\(ServerStates.log(cluster))")
        #expect(try Kit.fetch(client, ["again"]) == ["again": Kit.Value(flags: 3, value: bytes("second"))],
                "the key written again after a kept delete reads as a miss after the primary restarted")
        #expect(ServerStates.number(refilled.last, "primary:1:refill_copied") == 1,
                "the key written again was not refilled to the restarted primary: \(ServerStates.describe(refilled.last))\n\(ServerStates.log(cluster))")
        #expect(try primary.getString("again") == "second")
        #expect(ServerStates.number(try ServerStates.read(cluster), "backup:1:pending_deletes") == 0,
                "a kept delete stays forever for a backup that never went down")
    }

    /// A primary that restarts while its backup is unreachable (stopped, data intact)
    /// cannot be refilled yet; once the backup is back, the primary's keys are served again.
    @Test func primaryRestartedWhileItsBackupIsAwayIsRefilledWhenTheBackupReturns() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv", "--request-timeout", "300"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        let keys = (0..<10).map { "away:\($0)" }
        Kit.setAll(client, keys.map { ($0, "v-\($0)", 0) })
        Kit.waitHolds(backup, keys)

        backup.pause()
        var marks = 0
        let down = ServerStates.watch(cluster, timeout: 6, interval: 0.35) { stats in
            marks += 1
            client.expect(Text.set("mark:\(marks)", "m"), "STORED\r\n", timeout: 2)
            return stats["backup:1:state"] == "down"
        }
        try #require(down.done, "the stopped backup is never marked down: \(ServerStates.describe(down.last))")
        primary.kill()
        try primary.restart()
        // The proxy notices the new pid (about a second) while the backup is away.
        let noticed = waitUntil(timeout: 4) { cluster.magent.process.standardError.contains("restarted (pid") }
        #expect(noticed, "the restart was not noticed:\n\(ServerStates.log(cluster))")
        // The refill has been tried and held off: its source, the backup, is down.
        try waitFor("the refill to be held off while the backup is away", timeout: 5, detail: { ServerStates.log(cluster) }) {
            let log = cluster.magent.process.standardError
            guard let restart = log.range(of: "restarted (pid") else { return false }
            return log[restart.upperBound...].contains("(primary 1): refill interrupted (waiting for memcached")
        }

        backup.resume()
        let settled = ServerStates.watch(cluster, timeout: 10, interval: 0.05) { stats in
            ["primary:1", "backup:1"].allSatisfy { stats["\($0):state"] == "up" && stats["\($0):refill_left"] == "0" }
        }
        #expect(settled.done, "not settled: \(ServerStates.describe(settled.last))")
        let values = try Kit.fetch(client, keys)
        let detail = "after the backup came back, the proxy serves \(values.count) of \(keys.count) keys; "
            + "stats: \(ServerStates.describe((try? ServerStates.read(cluster)) ?? [:]))\nmagent log:\n\(ServerStates.log(cluster))"
        #expect(Set(values.keys) == Set(keys), "\(detail)")
        #expect(try primary.getMany(keys).count == keys.count, "the restarted primary was never refilled")
    }

    // MARK: 6. TTLs and flags

    @Test func refillAndRepairKeepFlagsAndRemainingTTL() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        let longExptime = Int(time(nil)) + 3_000_000  // over 30 days: an absolute time
        let setAt = now()
        client.expect("set ttl:100 5 100 7\r\nhundred\r\n", "STORED\r\n")
        client.expect("set ttl:never 9 0 5\r\nnever\r\n", "STORED\r\n")
        client.expect("set ttl:long 4294967295 \(longExptime) 4\r\nlong\r\n", "STORED\r\n")
        client.expect("set ttl:empty 1 100 0\r\n\r\n", "STORED\r\n")
        Kit.waitHolds(backup, ["ttl:100", "ttl:never", "ttl:long", "ttl:empty"])

        primary.kill()
        try Kit.driveDown(cluster, primary: 0, key: "ttl:100", expected: Kit.Value(flags: 5, value: bytes("hundred")))
        try primary.restart()
        let keys = ["ttl:100", "ttl:never", "ttl:long", "ttl:empty"]
        let expected = ["ttl:100": Kit.Value(flags: 5, value: bytes("hundred")), "ttl:never": Kit.Value(flags: 9, value: bytes("never")),
                        "ttl:long": Kit.Value(flags: 4294967295, value: bytes("long")), "ttl:empty": Kit.Value(flags: 1, value: [])]
        #expect(try Kit.fetch(client, keys) == expected, "right after the restart")
        Kit.waitSettled(cluster, ["primary:1"])
        #expect(try Kit.fetch(client, keys) == expected, "after the refill")

        let elapsed = Int((now() - setAt).rounded())
        func expectTTL(_ key: String, value: String, flags: UInt32, remaining: Int?) throws {
            let item = try #require(try Kit.metaGet(primary, key), "\(key) missing on the restarted primary")
            #expect(text(item.value) == value && item.flags == flags, "\(key) on the primary: \(item)")
            let backupItem = try Kit.metaGet(backup, key)
            if let remaining {
                #expect(abs(item.ttl - remaining) <= 2, "\(key): TTL \(item.ttl) on the primary, about \(remaining) expected (backup \(String(describing: backupItem?.ttl)))")
            } else {
                #expect(item.ttl == -1, "\(key) never expires, but the primary says TTL \(item.ttl)")
            }
        }
        try expectTTL("ttl:100", value: "hundred", flags: 5, remaining: 100 - elapsed)
        try expectTTL("ttl:never", value: "never", flags: 9, remaining: nil)
        try expectTTL("ttl:long", value: "long", flags: 4294967295, remaining: 3_000_000 - elapsed)
        try expectTTL("ttl:empty", value: "", flags: 1, remaining: 100 - elapsed)
    }

    // MARK: 7. Replication without drift

    @Test func writesTheBackupCannotRepeatAreCopiedFromThePrimary() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()

        func expectBackup(_ key: String, _ expected: Kit.Item?, ttlTolerance: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) {
            var last: Kit.Item?? = .none
            let matched = waitUntil(timeout: 2) {
                last = .some(try? Kit.metaGet(backup, key))
                guard let found = last ?? nil, let expected else { return (last ?? nil) == nil && expected == nil }
                return found.value == expected.value && found.flags == expected.flags && abs(found.ttl - expected.ttl) <= ttlTolerance
            }
            #expect(matched, "\(key) on the backup: expected \(String(describing: expected)), found \(String(describing: last))",
                    sourceLocation: sourceLocation)
        }

        // add: the primary lacks the key, the backup has a stale copy.
        try Kit.store(backup, "d:add", "stale", flags: 1)
        client.expect(Text.set("d:add", "new", flags: 3, verb: "add"), "STORED\r\n")
        expectBackup("d:add", Kit.Item(value: bytes("new"), flags: 3, ttl: -1))
        try Kit.store(backup, "d:add-nr", "stale")
        try client.send("add d:add-nr 2 0 3 noreply\r\nnew\r\n")
        expectBackup("d:add-nr", Kit.Item(value: bytes("new"), flags: 2, ttl: -1))

        // append / prepend on a key whose backup copy differs.
        client.expect(Text.set("d:app", "base", flags: 4), "STORED\r\n")
        eventually(backup, "d:app", is: "base")
        try Kit.store(backup, "d:app", "stale", flags: 8)
        client.expect(Text.set("d:app", "+x", verb: "append"), "STORED\r\n")
        #expect(try primary.getString("d:app") == "base+x")
        expectBackup("d:app", Kit.Item(value: bytes("base+x"), flags: 4, ttl: -1))
        try Kit.store(backup, "d:app", "stale again")
        client.expect(Text.set("d:app", "<", verb: "prepend"), "STORED\r\n")
        expectBackup("d:app", Kit.Item(value: bytes("<base+x"), flags: 4, ttl: -1))
        try Kit.store(backup, "d:app", "stale, noreply")
        try client.send("append d:app 0 0 1 noreply\r\n!\r\n")
        expectBackup("d:app", Kit.Item(value: bytes("<base+x!"), flags: 4, ttl: -1))

        // incr / decr: the backup holds the primary's number.
        client.expect(Text.set("d:num", "10", flags: 6), "STORED\r\n")
        eventually(backup, "d:num", is: "10")
        try Kit.store(backup, "d:num", "99")
        client.expect("incr d:num 5\r\n", "15\r\n")
        expectBackup("d:num", Kit.Item(value: bytes("15"), flags: 6, ttl: -1))
        client.expect("decr d:num 3\r\n", "12\r\n")
        expectBackup("d:num", Kit.Item(value: bytes("12"), flags: 6, ttl: -1))
        try Kit.store(backup, "d:num", "1000")
        try client.send("incr d:num 1 noreply\r\n")
        expectBackup("d:num", Kit.Item(value: bytes("13"), flags: 6, ttl: -1))

        // cas with the primary's unique.
        client.expect(Text.set("d:cas", "v1", flags: 2), "STORED\r\n")
        eventually(backup, "d:cas", is: "v1")
        try client.send("gets d:cas\r\n")
        let gets = try Kit.parseRetrieval(client.readRetrieval())
        let unique = try #require(gets["d:cas"]?.cas, "gets gave no cas unique: \(gets)")
        try Kit.store(backup, "d:cas", "stale")
        client.expect("cas d:cas 7 0 2 \(unique)\r\nv2\r\n", "STORED\r\n")
        expectBackup("d:cas", Kit.Item(value: bytes("v2"), flags: 7, ttl: -1))
        client.expect("cas d:cas 7 0 2 \(unique)\r\nv3\r\n", "EXISTS\r\n")
        Kit.barrier(client, backup: backup)
        expectBackup("d:cas", Kit.Item(value: bytes("v2"), flags: 7, ttl: -1))

        // touch: the backup's TTL follows.
        client.expect(Text.set("d:touch", "t", flags: 1), "STORED\r\n")
        expectBackup("d:touch", Kit.Item(value: bytes("t"), flags: 1, ttl: -1))
        client.expect("touch d:touch 100\r\n", "TOUCHED\r\n")
        #expect(try Kit.metaGet(primary, "d:touch").map { abs($0.ttl - 100) <= 1 } == true)
        expectBackup("d:touch", Kit.Item(value: bytes("t"), flags: 1, ttl: 100), ttlTolerance: 2)

        // replace on a key only the primary has.
        try Kit.store(primary, "d:rep", "p", flags: 0)
        client.expect(Text.set("d:rep", "newv", flags: 6, verb: "replace"), "STORED\r\n")
        expectBackup("d:rep", Kit.Item(value: bytes("newv"), flags: 6, ttl: -1))

        // Failed writes leave the backup alone.
        try Kit.store(backup, "d:nothing", "backup only")
        client.expect(Text.set("d:nothing", "x", verb: "replace"), "NOT_STORED\r\n")
        client.expect("incr d:nothing 1\r\n", "NOT_FOUND\r\n")
        Kit.barrier(client, backup: backup)
        expectBackup("d:nothing", Kit.Item(value: bytes("backup only"), flags: 0, ttl: -1))
        client.expectSilence()
    }

    // MARK: 8. --miss-failover

    @Test func missFailoverWithoutAnyRestart() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv", "--miss-failover"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        let setAt = now()
        try Kit.store(backup, "mf:only", "from backup", flags: 7, exptime: 100)
        try Kit.store(backup, "mf:empty", "", flags: 2)
        try Kit.store(backup, "mf:crlf", "a\r\nEND\r\nb", flags: 0)
        client.expect(Text.set("mf:both", "both", flags: 1), "STORED\r\n")

        client.expect("get mf:only\r\n", Text.hit("mf:only", "from backup", flags: 7))
        var written: Kit.Item?
        waitUntil(timeout: 2) {
            written = try? Kit.metaGet(primary, "mf:only")
            return written != nil
        }
        let item = try #require(written, "the hit on the backup was not written back to the primary")
        #expect(text(item.value) == "from backup" && item.flags == 7)
        let remaining = 100 - Int((now() - setAt).rounded())
        #expect(abs(item.ttl - remaining) <= 2, "written back with TTL \(item.ttl), about \(remaining) expected")

        let keys = ["mf:both", "mf:empty", "mf:nowhere", "mf:crlf", "mf:only"]
        let values = try Kit.fetch(client, keys)
        #expect(values == ["mf:both": Kit.Value(flags: 1, value: bytes("both")),
                           "mf:empty": Kit.Value(flags: 2, value: []),
                           "mf:crlf": Kit.Value(flags: 0, value: bytes("a\r\nEND\r\nb")),
                           "mf:only": Kit.Value(flags: 7, value: bytes("from backup"))])
        // gets carries a cas unique for the failed-over key too.
        let withCas = try Kit.fetch(client, ["mf:nowhere", "mf:empty"], verb: "gets")
        #expect(withCas["mf:empty"]?.cas != nil && withCas["mf:empty"]?.value == [], "\(withCas)")
        eventually(primary, "mf:crlf", is: "a\r\nEND\r\nb")
        eventually(primary, "mf:empty", is: "")
        #expect(try primary.getString("mf:nowhere") == nil)
        let stats = try ServerStates.read(cluster)
        #expect(stats["primary:1:state"] == "up" && stats["backup:1:state"] == "up", "\(ServerStates.describe(stats))")
        client.expectSilence()
    }

    @Test func withoutMissFailoverAMissIsAMiss() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        try Kit.store(backup, "mf:only", "from backup", flags: 7)
        client.expect("get mf:only\r\n", "END\r\n")
        client.expect("gets mf:only\r\n", "END\r\n")
        // A write-back to the primary would have been queued before this write on the
        // client's connection to it: once this is stored, the primary holds what it will.
        client.expect(Text.set("mf:barrier", "b"), "STORED\r\n")
        #expect(try primary.getString("mf:only") == nil)
        let stats = try ServerStates.read(cluster)
        #expect(stats["primary:1:state"] == "up", "\(ServerStates.describe(stats))")
    }

    // MARK: 9. PHP sessions survive a restart

    @Test func phpSessionSurvivesTheRestartOfItsPrimary() throws {
        guard access(Kit.php, X_OK) == 0 else {
            Issue.record("\(Kit.php) is missing: install Debian's php-cli and php-memcache (bash scripts/install-deps.sh)")
            return
        }
        let loaded = try runToCompletion(Kit.php, ["-r", "echo extension_loaded('memcache') ? 'y' : 'n', extension_loaded('memcached') ? 'y' : 'n';"])
        #expect(loaded.standardOutput.hasPrefix("y"),
                "php has no memcache extension: install Debian's php-memcache (bash scripts/install-deps.sh)")
        var handlers = ["memcache"]
        if loaded.standardOutput.hasSuffix("y") { handlers.append("memcached") }

        for handler in handlers {
            let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "-vv"])
            defer { cluster.stop() }
            let port = String(cluster.port)
            let written = try Kit.runPHP([handler, "write", port])
            try #require(written.code == 0, "\(handler) session write failed: \(written.output)")
            let sid = try #require(written.output.split(separator: "\n").first { $0.hasPrefix("SID ") }.map { String($0.dropFirst(4)) },
                                   "no session id in \(written.output)")

            // The session's key, found on the memcached that holds it.
            var found: [(index: Int, key: String)] = []
            for (index, server) in cluster.primaries.enumerated() {
                for key in try Kit.heldKeys(server) where key.contains(sid) && !key.contains("lock") { found.append((index, key)) }
            }
            try #require(found.count == 1, "\(handler): session keys found on the primaries: \(found)")
            let (index, key) = found[0]
            #expect(cluster.placement(of: key).primary == index)
            let primary = cluster.primaries[index]
            let stored = try #require(try Kit.metaGet(primary, key))
            Kit.waitHolds(cluster.backups[0], [key])

            primary.kill()
            try Kit.driveDown(cluster, primary: index, key: key, expected: Kit.Value(flags: stored.flags, value: stored.value))
            try primary.restart()
            let read = try Kit.runPHP([handler, "read", port, sid])
            #expect(read.code == 0, "\(handler): the session did not survive the restart: \(read.output)\nmagent log:\n\(ServerStates.log(cluster))")

            Kit.waitSettled(cluster, [ServerStates.primaryName(index)])
            let refilled = try Kit.metaGet(primary, key)
            #expect(refilled?.value == stored.value && refilled?.flags == stored.flags,
                    "\(handler): session key \(key) not restored on the primary (flags \(stored.flags), found \(String(describing: refilled?.flags)))")
            let again = try Kit.runPHP([handler, "read", port, sid])
            #expect(again.code == 0, "\(handler): session lost after the refill: \(again.output)")
        }
    }


    // MARK: Edge cases beyond the listed behaviour

    /// Writes that depend on the stored item (incr, append, touch, replace, add) on a key
    /// the recovering primary has not got back yet: the backup holds it, so they must
    /// act on it, not on its absence.
    @Test func writesToAKeyNotYetRefilledActOnTheBackupsCopy() throws {
        // 1 key/s: the first 64 keys are copied at once, the other 36 a minute later.
        // memcached -vv: its log shows the proxy's identity probes.
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv", "--refill-rate", "1"],
                                  memcachedArguments: ["-vv"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        let keys = (0..<100).map { "rel:\($0)" }
        Kit.setAll(client, keys.map { ($0, "10", 0) })
        Kit.waitHolds(backup, keys)
        try primary.waitUntilIdentified()  // the proxy knows who the primary is
        primary.kill()
        try primary.restart()
        let partial = ServerStates.watch(cluster, timeout: 4) { ServerStates.number($0, "primary:1:refill_copied") == 64 }
        try #require(partial.done, "refill did not copy its first batch: \(ServerStates.describe(partial.last))\n\(ServerStates.log(cluster))")
        #expect(partial.last["primary:1:state"] == "recovering")
        let missing = keys.filter { (try? primary.getString($0)) == nil }
        try #require(missing.count == 36, "\(missing.count) keys not yet refilled")

        let requests = [("incr \(missing[0]) 1\r\n", "11\r\n"),
                        (Text.set(missing[1], "x", verb: "append"), "STORED\r\n"),
                        ("touch \(missing[2]) 100\r\n", "TOUCHED\r\n"),
                        (Text.set(missing[3], "rep", verb: "replace"), "STORED\r\n"),
                        (Text.set(missing[4], "new", verb: "add"), "NOT_STORED\r\n")]
        for (request, expected) in requests {
            try client.send(request)
            let reply = try client.readLine()
            #expect(reply == expected, "\(escaped(bytes(request))) answered \(escaped(bytes(reply))) while the backup holds the key")
        }
        let expected = [missing[0]: "11", missing[1]: "10x", missing[2]: "10", missing[3]: "rep", missing[4]: "10"]
        // The writes reach the backup's copies asynchronously.
        waitUntil(timeout: 5) { (try? backup.getMany(Array(missing[0..<5])).mapValues(text)) == expected }
        let values = try Kit.fetch(client, Array(missing[0..<5]))
        #expect(values.mapValues { text($0.value) } == expected)
        #expect(try backup.getMany(Array(missing[0..<5])).mapValues(text) == expected, "the backup's copies")
    }

    /// A memcached that restarts right after the proxy started (before the monitor first
    /// asked its pid) while the proxy has already written to it: its closed
    /// connections put it in doubt, and the first identity check takes it as restarted.
    @Test func restartRightAfterTheProxyStartedIsDetected() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-vv"])
        defer { cluster.stop() }
        let (primary, backup) = (cluster.primaries[0], cluster.backups[0])
        let client = try cluster.client()
        let keys = (0..<20).map { "early:\($0)" }
        Kit.setAll(client, keys.map { ($0, "v-\($0)", 0) })
        Kit.waitHolds(backup, keys)
        primary.kill()
        try primary.restart()
        let refilled = ServerStates.watch(cluster, timeout: 3) { ServerStates.number($0, "primary:1:refill_copied") == keys.count }
        let values = try Kit.fetch(client, keys)
        let detail = "\(values.count) of \(keys.count) keys written through the proxy read back "
            + "after a restart it did not notice: \(ServerStates.describe(refilled.last))\n\(ServerStates.log(cluster))"
        // The kill closes the proxy's connections: the first identity check
        // after that has no pid to compare with and takes it as restarted.
        #expect(values.count == keys.count, "\(detail)")
        #expect(refilled.done, "the restarted primary was not refilled: \(detail)")
    }
}
