// Backends that misbehave: unexpected or malformed replies, replies nobody asked
// for, resets, a memcached stopped under load. The affected requests get timely
// errors or the backup's answer, other servers' requests are unaffected, a client
// connection never gets another request's reply, and the server is used again
// on its own once it behaves.
import Foundation
import Glibc
import Synchronization
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct BadBackendTests {
    /// Replies memcached never gives to a get, each answered by a mock primary;
    /// the key's backup (real memcached) holds the value. The second element is
    /// the well-formed start of the bad reply, which the client may get instead
    /// of the backup's answer when the fault shows only after it (extra bytes).
    static let badGetReplies: [(String, String?)] = [
        ("STORED\r\n", nil),
        ("VALUE k 0 abc\r\nxyz\r\nEND\r\n", nil),
        // The value is already on its way to the client when its end turns out bad:
        // the client connection is cut (see below), never given a wrong value.
        ("VALUE k 0 3\r\nabcdef\r\nEND\r\n", "cut"),
        ("VALUE k 0 3\r\nabc\r\nEND\r\nEND\r\n", Text.hit("k", "abc")),
        ("END\r\nSTORED\r\n", "END\r\n"),
        ("\r\n", nil),
        (String(repeating: "z", count: 20_000), nil),
        ("VALUE k 0 99999999999\r\n", nil),
        ("\u{1}\u{2}\u{3}\r\n", nil),
    ]

    @Test(arguments: badGetReplies)
    func unexpectedGetReplyFailsOverAndNeverDesynchronises(_ reply: String, _ wellFormedStart: String?) throws {
        let mock = try MockBackend { line in line.hasPrefix("get") ? .reply(bytes(reply), delay: 0) : .ignore }
        defer { mock.stop() }
        let backup = try Memcached()
        defer { backup.stop() }
        try backup.set("k", "from-backup")
        try backup.set("j", "jay")
        let magent = try Magent(["-s", mock.address, "-b", backup.address, "-t", "1", "--request-timeout", "500",
                                 "--failure-limit", "100"])
        defer { magent.stop() }
        var client = try magent.client()
        for _ in 0..<3 {
            // Each request on the same connection gets its own reply, whatever came before.
            for (request, fromBackup) in [("get k\r\n", Text.hit("k", "from-backup")),
                                          ("get j k\r\n", Text.value("j", "jay") + Text.hit("k", "from-backup"))] {
                let started = now()
                try client.send(request)
                if wellFormedStart == "cut" {
                    let (closed, before) = client.waitForClose(timeout: 3)
                    #expect(!closed && text(before) == fromBackup || closed && !text(before).contains("END"),
                            "\(escaped(bytes(request))) answered \(escaped(before)), closed: \(closed)")
                    if closed { client = try magent.client() }
                    continue
                }
                let answer = text(try client.readRetrieval(timeout: 3))
                #expect(answer == fromBackup || answer == wellFormedStart, "\(escaped(bytes(request))) answered \(escaped(bytes(answer)))")
                #expect(now() - started < 1.5, "\(escaped(bytes(request))) took \(now() - started) s")
                client.expect("version\r\n", Text.version)
            }
        }
        client.expectSilence(waiting: 0.3)
        // Without a backup: a miss, never the garbage.
        let alone = try Magent(["-s", mock.address, "-t", "1", "--request-timeout", "500", "--failure-limit", "100"])
        defer { alone.stop() }
        let lonely = try alone.client()
        for _ in 0..<2 where wellFormedStart != "cut" {
            try lonely.send("get k\r\n")
            let answer = text(try lonely.readRetrieval(timeout: 3))
            #expect(answer == "END\r\n" || answer == wellFormedStart, "get k answered \(escaped(bytes(answer)))")
            lonely.expect("version\r\n", Text.version)
        }
        lonely.expectSilence(waiting: 0.3)
    }

    @Test func unexpectedWriteRepliesAreErrorsOrTheBackupsAnswer() throws {
        // The mock primary answers storage commands with a retrieval's END, deletes with
        // a VALUE, incr with garbage: the client hears the backup's answer or an
        // error, and the next request on the connection its own reply.
        let mock = try MockBackend { line in
            if line.hasPrefix("set") { return .reply(bytes("END\r\n"), delay: 0) }
            if line.hasPrefix("delete") { return .reply(bytes("VALUE k 0 1\r\nx\r\nEND\r\n"), delay: 0) }
            if line.hasPrefix("incr") { return .reply(bytes("\u{7f}\u{7f}\r\n"), delay: 0) }
            return .ignore
        }
        defer { mock.stop() }
        let backup = try Memcached()
        defer { backup.stop() }
        let magent = try Magent(["-s", mock.address, "-b", backup.address, "-t", "1", "--request-timeout", "500",
                                 "--failure-limit", "100"])
        defer { magent.stop() }
        let client = try magent.client()
        let allowed: [String: Set<String>] = [
            Text.set("w", "1"): ["STORED\r\n", "SERVER_ERROR backend unavailable\r\n", "SERVER_ERROR backend timeout\r\n"],
            "delete w\r\n": ["DELETED\r\n", "NOT_FOUND\r\n", "SERVER_ERROR backend unavailable\r\n", "SERVER_ERROR backend timeout\r\n"],
            "incr w 1\r\n": ["NOT_FOUND\r\n", "SERVER_ERROR backend unavailable\r\n", "SERVER_ERROR backend timeout\r\n"],
        ]
        for request in [Text.set("w", "1"), "incr w 1\r\n", "delete w\r\n", Text.set("w", "1"), "incr w 1\r\n"] {
            let line = try timelyLine(client, request, within: 1.5)
            #expect(allowed[request]!.contains(line) || (request.hasPrefix("incr") && line == "2\r\n"),
                    "\(escaped(bytes(request))) answered \(escaped(bytes(line)))")
            client.expect("version\r\n", Text.version)
        }
        client.expectSilence(waiting: 0.3)
    }

    @Test func resettingPrimaryFailsOverAndIsUsedAgainWhenHealthy() throws {
        let healthy = Atomic<Bool>(false)
        let started = now()
        let mock = try MockBackend { line in
            // The health probe asks for pid and uptime.
            if line == "stats" { return .reply(bytes("STAT pid 7\r\nSTAT uptime \(Int(now() - started) + 100)\r\nEND\r\n"), delay: 0) }
            guard line.hasPrefix("get") else { return .ignore }
            return healthy.load(ordering: .relaxed) ? .reply(bytes(Text.hit("k", "from-primary")), delay: 0) : .reset
        }
        defer { mock.stop() }
        let backup = try Memcached()
        defer { backup.stop() }
        try backup.set("k", "from-backup")
        let magent = try Magent(["-s", mock.address, "-b", backup.address, "-t", "1"])
        defer { magent.stop() }
        let client = try magent.client()
        // Resets: the backup answers, at once (a reset is not a timeout), again and again
        // (past the failure limit the primary is skipped).
        for _ in 0..<6 {
            expectTimely(client, "get k\r\n", Text.hit("k", "from-backup"), within: 0.9)
            client.expect("version\r\n", Text.version)
        }
        // It behaves again: its probe succeeds and it is asked again, on its own.
        healthy.store(true, ordering: .relaxed)
        var reply = ""
        let used = waitUntil(timeout: 6, interval: 0.1) {
            try? client.send("get k\r\n")
            reply = (try? text(client.readRetrieval(timeout: 2))) ?? "<none>"
            return reply == Text.hit("k", "from-primary")
        }
        #expect(used, "the healed primary was not used again; last reply \(escaped(bytes(reply)))")
        client.expectSilence()
    }

    @Test func primaryClosingMidReplyUnderPipeliningNeverMixesReplies() throws {
        // Every third get is cut off mid-value; the rest are answered properly.
        let count = Atomic<Int>(0)
        let mock = try MockBackend { line in
            guard line.hasPrefix("get") else { return .ignore }
            let number = count.add(1, ordering: .relaxed).newValue
            let key = String(line.dropFirst(4))
            return number % 3 == 0 ? .replyAndClose(bytes("VALUE \(key) 0 20\r\nhalf")) : .reply(bytes(Text.hit(key, "m-\(key)")), delay: 0)
        }
        defer { mock.stop() }
        let backup = try Memcached()
        defer { backup.stop() }
        let magent = try Magent(["-s", mock.address, "-b", backup.address, "-t", "1", "--failure-limit", "1000"])
        defer { magent.stop() }
        for round in 0..<5 {
            let client = try magent.client()
            let keys = (0..<10).map { "p\(round)-\($0)" }
            try client.send(keys.map { "get \($0)\r\n" }.joined() + "version\r\n")
            // Each key: the mock's value, or (its connection cut) the backup's miss, or the
            // client connection is cut if its value was already on its way. Never another key's.
            var closedEarly = false
            for key in keys {
                guard let reply = try? client.readRetrieval(timeout: 3) else {
                    closedEarly = true
                    break
                }
                let ok = text(reply) == Text.hit(key, "m-\(key)") || text(reply) == "END\r\n"
                #expect(ok, "get \(key) answered \(escaped(reply))")
            }
            if !closedEarly { client.expect("", Text.version) }
        }
        try magent.client().expect("version\r\n", Text.version)
    }

    @Test func stoppedPrimaryUnderLoadDelaysOnlyItsOwnKeysAndIsUsedAgain() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2", "--request-timeout", "1500"])
        defer { cluster.stop() }
        let failures = FailureLog()
        let threads = 6
        let stopAt = now() + 1.0
        let resumeAt = stopAt + 3.0
        let endAt = resumeAt + 1.5
        let slowOthers = Atomic<Int>(0)
        let requestsOnOthers = Atomic<Int>(0)
        let slowStopped = Atomic<Int>(0)
        let group = DispatchGroup()
        let port = cluster.port
        // Each thread its own keys, half on each primary: the last value it wrote
        // is what it must read (for the running primary's keys).
        let keySets = (0..<threads).map { thread in
            (cluster.keys(onPrimary: 0, count: 4, prefix: "t\(thread)a"), cluster.keys(onPrimary: 1, count: 4, prefix: "t\(thread)b"))
        }
        for thread in 0..<threads {
            let (onStopped, onRunning) = keySets[thread]
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    var written: [String: [String]] = [:]
                    let client = try TextClient(port: port, timeout: 5)
                    for key in onStopped + onRunning {
                        client.expect(Text.set(key, "\(key)=0"), "STORED\r\n")
                        written[key] = ["\(key)=0"]
                    }
                    var round = 0
                    while now() < endAt && round < 100_000 {
                        round += 1
                        let stopped = round % 2 == 0
                        let key = (stopped ? onStopped : onRunning)[round % 4]
                        let started = now()
                        if round % 3 == 0 {
                            let value = "\(key)=\(round)"
                            try client.send(Text.set(key, value))
                            let line = try client.readLine(timeout: 5)
                            if line == "STORED\r\n" {
                                written[key]!.append(value)
                            } else if !stopped || !line.hasPrefix("SERVER_ERROR") {
                                failures.add("set \(key) answered \(escaped(bytes(line)))")
                            }
                        } else {
                            try client.send("get \(key)\r\n")
                            let reply = text(try client.readRetrieval(timeout: 5))
                            let values = fields(reply.components(separatedBy: "\r\n").dropFirst().first ?? "")
                            if stopped {
                                // Any value this thread wrote to the key (a stopped server keeps
                                // what it had: see README); never another key's, never garbage.
                                if !(values.count == 1 && written[key]!.contains(values[0])) {
                                    failures.add("get \(key) answered \(escaped(bytes(reply)))")
                                }
                            } else if reply != Text.hit(key, written[key]!.last!) {
                                failures.add("get \(key) answered \(escaped(bytes(reply))), last written \(written[key]!.last!)")
                            }
                        }
                        let elapsed = now() - started
                        if stopped {
                            if elapsed > 3.0 { slowStopped.add(1, ordering: .relaxed) }
                        } else {
                            requestsOnOthers.add(1, ordering: .relaxed)
                            // Never held up by the stopped server's 1.5 s timeout.
                            if elapsed > 1.2 { slowOthers.add(1, ordering: .relaxed) }
                        }
                    }
                } catch {
                    failures.add("thread \(thread): \(error)")
                }
            }.start()
        }
        // The scenario: the load runs until stopAt, the primary stays stopped until resumeAt.
        sleep(seconds: stopAt - now())
        cluster.primaries[0].pause()
        sleep(seconds: resumeAt - now())
        cluster.primaries[0].resume()
        #expect(group.wait(timeout: .now() + 30) == .success, "client threads hung")
        #expect(failures.entries.isEmpty, "\(failures.entries.prefix(10))")
        #expect(slowOthers.load(ordering: .relaxed) == 0,
                "\(slowOthers.load(ordering: .relaxed)) of \(requestsOnOthers.load(ordering: .relaxed)) requests to the running primary waited on the stopped one")
        #expect(slowStopped.load(ordering: .relaxed) == 0, "requests to the stopped primary were not answered in time")
        // Continued: it is used again on its own (up, and a new write lands on it).
        let watch = ServerStates.watch(cluster, timeout: 15, interval: 0.1) { $0["primary:1:state"] == "up" }
        #expect(watch.done, "primary 1 did not come back: \(ServerStates.describe(watch.last))")
        let key = cluster.keys(onPrimary: 0, count: 1, prefix: "after")[0]
        try cluster.client().expect(Text.set(key, "back"), "STORED\r\n")
        #expect(try cluster.primaries[0].getString(key) == "back")
    }
}
