// Clients that misbehave: garbage, NUL bytes, endless lines, bad lengths, values
// longer or shorter than declared, leaving mid-value or mid-reply, never reading,
// slowloris, connection churn. After each, a fresh client is served and nothing
// the bad client half-sent was stored, on the primary or on the backup.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// `stats limits` through the proxy, as name → number.
func limitStats(_ port: UInt16, through existing: TextClient? = nil) throws -> [String: Int] {
    let client = try existing ?? TextClient(port: port)
    defer { if existing == nil { client.close() } }
    return StatLines.numbers(try client.stats("stats limits"))
}

/// A fresh client is served correctly (a write and a read through the proxy,
/// checked on the primary), and the servers hold exactly `items` items.
func expectServedAndClean(_ cluster: Cluster, items: Int = 0, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(cluster.magent.isRunning, "magent died", sourceLocation: sourceLocation)
    do {
        let key = "fresh\(UInt32.random(in: 0...UInt32.max))"
        let client = try cluster.client()
        client.expect(Text.set(key, "ok") + "get \(key)\r\n", "STORED\r\n" + Text.hit(key, "ok"), sourceLocation: sourceLocation)
        client.expect("delete \(key)\r\n", "DELETED\r\n", sourceLocation: sourceLocation)
        client.expectSilence(sourceLocation: sourceLocation)
        // The backup's copy of the delete may land a moment after the reply.
        let servers = cluster.primaries + cluster.backups
        let clean = waitUntil(timeout: 2) { (try? servers.map { try $0.stat("curr_items") }.reduce(0, +)) == items }
        let counts = try servers.map { try $0.stat("curr_items") }
        #expect(clean, "items on the servers: \(counts), expected \(items) in all", sourceLocation: sourceLocation)
    } catch {
        Issue.record("fresh client: \(error)", sourceLocation: sourceLocation)
    }
}

@Suite(.serialized) struct BadClientTests {
    @Test func garbageIsAnsweredWithErrorsAndStoresNothing() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        for seed: UInt64 in [1, 2, 3, 4] {
            // Random bytes, lines of random length; no 0x80 (the binary protocol's first byte).
            var garbage = pseudoRandomBytes(count: 200_000, seed: seed).map { $0 == 0x80 ? 0x81 : $0 }
            for index in stride(from: 0, to: garbage.count, by: 97) { garbage[index] = 10 }
            let client = try cluster.client()
            try? client.send(garbage)
            try? client.send("\r\nversion\r\n")
            // Every line is refused (ERROR or CLIENT_ERROR) or the connection is closed;
            // the proxy never forwards any of it.
            let (_, replies) = client.waitForClose(timeout: 1)
            for line in text(replies).components(separatedBy: "\r\n") where !line.isEmpty {
                let known = line == "ERROR" || line.hasPrefix("CLIENT_ERROR ") || line == "VERSION 1.6.0 memcached agent v1.0.0"
                #expect(known, "seed \(seed): unexpected reply line \"\(escaped(bytes(line)))\"")
            }
            client.close()
        }
        let servers = cluster.primaries + cluster.backups
        #expect(try servers.map { try $0.commandCount() } == [0, 0, 0], "garbage reached a memcached")
        expectServedAndClean(cluster)
    }

    @Test func nulBytesAnywhere() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        // A line of NULs, NUL in a key, NUL in a number: refused, the connection goes on.
        client.expect([UInt8](repeating: 0, count: 1000) + bytes("\r\nversion\r\n"), "ERROR\r\n" + Text.version)
        client.expect(bytes("set k") + [0] + bytes("x 0 0 1\r\nv\r\nversion\r\n"), Text.badFormat + Text.version)
        client.expect(bytes("incr k 1") + [0] + bytes("\r\n"), "CLIENT_ERROR invalid numeric delta argument\r\n")
        client.expect(bytes("delete ") + [0] + bytes("\r\n"), Text.badFormat)
        // NUL bytes inside a value are data: stored and returned byte for byte.
        let value: [UInt8] = [0, 0, 13, 10, 0, 69, 78, 68, 0]
        client.expect(bytes("set nul 0 0 \(value.count)\r\n") + value + bytes("\r\n"), "STORED\r\n")
        try client.send("get nul\r\n")
        #expect(try client.readRetrieval() == bytes("VALUE nul 0 \(value.count)\r\n") + value + bytes("\r\nEND\r\n"))
        client.expect("delete nul\r\n", "DELETED\r\n")
        // NULs without any line end: bounded, refused, closed.
        let endless = try cluster.client()
        try? endless.send([UInt8](repeating: 0, count: 40_000))
        let (closed, before) = endless.waitForClose(timeout: 3)
        #expect(closed && text(before) == "CLIENT_ERROR line too long\r\n", "got \(escaped(before))")
        expectServedAndClean(cluster)
    }

    @Test func linesThatNeverEndAreBoundedCountedAndClosed() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let pid = cluster.magent.pid
        let before = try #require(ProcessTable.residentKiB(pid))
        // Ten clients at once, each sending 8 MB without a line end: the proxy keeps at
        // most the line limit of each (4 MB for a get line), then refuses and closes.
        let clients = try (0..<10).map { _ in try cluster.client() }
        let chunk = bytes(String(repeating: "key ", count: 16_384))
        for round in 0..<128 {
            for (index, client) in clients.enumerated() where client.fd >= 0 {
                if round == 0 { try? client.send(index % 2 == 0 ? "get " : "set ") }
                do { try client.send(chunk) } catch { client.close() }
            }
        }
        let during = try #require(ProcessTable.residentKiB(pid))
        #expect(!Environment.measuresMemory || during - before < 80 * 1024, "magent grew by \((during - before) / 1024) MiB for 10 endless lines")
        for client in clients where client.fd >= 0 {
            let (closed, replies) = client.waitForClose(timeout: 5)
            #expect(closed, "a client sending an endless line was not closed")
            #expect(text(replies) == "CLIENT_ERROR line too long\r\n", "got \(escaped(replies))")
        }
        #expect(try limitStats(cluster.port)["lines_too_long"] == 10)
        expectServedAndClean(cluster)
    }

    @Test func negativeHugeAndNonNumericLengths() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        // Lengths that are not a length: memcached's error, then the stream cannot be
        // trusted (where would the data end?), so the connection is closed.
        for length in ["-1", "-9223372036854775808", "abc", "1e3", "99999999999999999999999", "2147483646", "4294967298", ""] {
            let client = try cluster.client()
            try client.send("set bad 0 0 \(length)\r\nxyz\r\nget bad\r\n")
            let (closed, before) = client.waitForClose(timeout: 3)
            let reply = text(before)
            // A missing length is a line with too few tokens: ERROR, as memcached says, and
            // the data line is then an unknown command too.
            let expected = length.isEmpty ? "ERROR\r\nERROR\r\nEND\r\n" : Text.badFormat
            #expect(reply == expected, "length \"\(length)\": \(escaped(before))")
            if reply == Text.badFormat { #expect(closed, "length \"\(length)\": left open") }
        }
        // A huge valid length is refused by the value limit, and its data is skipped
        // by length (the client may send it or leave): nothing is buffered or stored.
        let pid = cluster.magent.pid
        let rssBefore = try #require(ProcessTable.residentKiB(pid))
        let huge = try cluster.client()
        try huge.send("set huge 0 0 2147483645\r\n")
        #expect(try huge.readLine() == "SERVER_ERROR object too large for cache\r\n")
        let junk = [UInt8](repeating: UInt8(ascii: "j"), count: 1 << 20)
        for _ in 0..<64 { try huge.send(junk) }
        huge.expectSilence()
        huge.close()
        let rssAfter = try #require(ProcessTable.residentKiB(pid))
        #expect(!Environment.measuresMemory || rssAfter - rssBefore < 32 * 1024, "magent grew by \((rssAfter - rssBefore) / 1024) MiB skipping a huge value")
        #expect(try limitStats(cluster.port)["values_too_large"] == 1)
        expectServedAndClean(cluster)
    }

    @Test func valueSizeLimitIsConfigurable() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--max-value-size", "1000"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let big = String(repeating: "b", count: 1001)
        let fits = String(repeating: "f", count: 1000)
        // Refused even with noreply (an error is never silent), the data skipped, the next request served.
        client.expect(Text.set("big", big) + Text.set("big", big, noreply: true) + Text.set("big", big, verb: "append")
                      + "cas big 0 0 1001 1\r\n\(big)\r\n" + "get big\r\n",
                      String(repeating: "SERVER_ERROR object too large for cache\r\n", count: 4) + "END\r\n")
        client.expect(Text.set("fits", fits) + "get fits\r\n", "STORED\r\n" + Text.hit("fits", fits))
        let limits = try limitStats(cluster.port)
        #expect(limits["values_too_large"] == 4)
        #expect(limits["limit_max_value_size"] == 1000)
        expectServedAndClean(cluster, items: 2)
    }

    @Test func dataLongerOrShorterThanDeclared() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        // Longer: memcached refuses the block ("bad data chunk"); what follows is read as
        // the next command. Nothing stored, and the connection stays in step.
        client.expect("set long 0 0 3\r\nhello\r\nversion\r\n", "CLIENT_ERROR bad data chunk\r\nERROR\r\n" + Text.version)
        // With noreply memcached's refusal is silent too; "world" is an unknown command.
        client.expect("set long2 0 0 3 noreply\r\nhelloworld\r\nversion\r\n", "ERROR\r\n" + Text.version)
        client.expect("get long long2\r\n", "END\r\n")
        // Shorter, then the client leaves: the value is cut short and never stored.
        for reset in [false, true] {
            let short = try cluster.client()
            let watch = try cluster.watch()
            defer { watch.close() }
            let request = "set short 0 0 100\r\nonly this\r\n"
            try short.send(request)
            // It leaves once the proxy has read what it sent: in the middle of the value.
            try watch.waitForBytesRead(request.utf8.count)
            if reset { short.reset() } else { short.close() }
        }
        // Shorter, and the client goes on: its next bytes are the rest of the value,
        // as in memcached (the block ends by length); the stream stays in step.
        client.expect("set short 0 0 10\r\nabc\r\n", "")
        client.expect("get x\r\n", "STORED\r\n")
        client.expect("get short\r\n", Text.hit("short", "abc\r\nget x"))
        client.expect("delete short\r\n", "DELETED\r\n")
        expectServedAndClean(cluster)
    }

    @Test func clientLeavingMidValueStoresNothing() throws {
        // -i 1 and two clients writing at once: the second one's value is staged while
        // the first streams, so both paths (streamed, staged) are cut short.
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-i", "1", "--request-timeout", "5000"])
        defer { cluster.stop() }
        let watch = try cluster.watch()
        defer { watch.close() }
        var sent = 0
        for round in 0..<6 {
            let first = try cluster.client()
            let second = try cluster.client()
            let value = pseudoRandomBytes(count: 300_000, seed: UInt64(round + 1))
            for (index, client) in [first, second].enumerated() {
                let verb = ["set", "add", "replace", "append", "prepend", "cas"][round]
                let cas = verb == "cas" ? " 1" : ""
                let request = bytes("\(verb) mid\(index) 0 0 \(value.count)\(cas)\r\n") + Array(value[0..<150_000])
                try client.send(request)
                sent += request.count
            }
            // Both leave once the proxy has read what they sent: in the middle of their values.
            try watch.waitForBytesRead(sent)
            if round % 2 == 0 { first.reset(); second.close() } else { second.reset(); first.close() }
        }
        // The proxy has closed both sides of every round.
        try watch.waitForConnections(0)
        expectServedAndClean(cluster)
    }

    @Test func clientLeavingMidReply() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let setup = try cluster.client()
        let value = pseudoRandomBytes(count: 500_000, seed: 9)
        for key in ["r1", "r2", "r3"] {
            try setup.send(bytes("set \(key) 0 0 \(value.count)\r\n") + value + bytes("\r\n"))
            #expect(try setup.readLine(timeout: 5) == "STORED\r\n")
        }
        for round in 0..<20 {
            let client = try cluster.client()
            try client.send(String(repeating: "get r1 r2 r3\r\n", count: 10))
            _ = try client.read(count: 1000 * (round + 1))
            if round % 2 == 0 { client.reset() } else { client.close() }
        }
        // Its replies are dropped with it; everyone else is served.
        try setup.send("get r2\r\n")
        #expect(try setup.readRetrieval(timeout: 5) == bytes("VALUE r2 0 \(value.count)\r\n") + value + bytes("\r\nEND\r\n"))
        expectServedAndClean(cluster, items: 6)
    }

    @Test func clientThatNeverReadsIsPausedThenDisconnectedAndCounted() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let value = pseudoRandomBytes(count: 1_000_000, seed: 5)
        let setup = try cluster.client()
        try setup.send(bytes("set v 0 0 \(value.count)\r\n") + value + bytes("\r\n"))
        #expect(try setup.readLine(timeout: 5) == "STORED\r\n")
        let pid = cluster.magent.pid
        let before = try #require(ProcessTable.residentKiB(pid))
        // Three clients ask for 200 MB each and never read.
        let readers = try (0..<3).map { _ in try cluster.client() }
        for reader in readers {
            var small = Int32(16 * 1024)
            setsockopt(reader.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            try reader.send(String(repeating: "get v\r\n", count: 200))
        }
        // Measured once the proxy holds all it will for them: it has stopped reading each.
        do {
            let watch = try cluster.watch()
            defer { watch.close() }
            try watch.waitForLimit("reading_paused_for_output", atLeast: 3)
        }
        let during = try #require(ProcessTable.residentKiB(pid))
        #expect(!Environment.measuresMemory || during - before < 3 * 48 * 1024, "magent grew by \((during - before) / 1024) MiB for 3 clients that do not read")
        #expect(try limitStats(cluster.port)["reading_paused_for_output"] ?? 0 >= 3)
        // Once a reader drains what it got, the rest comes only up to the hard limit: disconnected.
        for reader in readers {
            var disconnected = false
            do { try reader.discard(count: (value.count + 30) * 200, timeout: 30) } catch let error as HarnessError {
                disconnected = error.description.contains("closed with")
            }
            #expect(disconnected, "a client that fell behind by 200 MB was served everything")
        }
        #expect(try limitStats(cluster.port)["output_limit_disconnects"] == 3)
        expectServedAndClean(cluster, items: 1)
    }

    @Test func slowlorisIsClosedButIdleAndSlowClientsAreKept() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--client-timeout", "1000", "--request-timeout", "5000"])
        defer { cluster.stop() }
        let idle = try cluster.client()
        let steady = try cluster.client()
        // One byte a second of a command line: closed with an error after the timeout.
        let lineDrip = try cluster.client()
        // One byte a second of a value: closed, the value never stored.
        let valueDrip = try cluster.client()
        try valueDrip.send("set drip 0 0 100\r\n")
        let started = now()
        var lineClosed: Double? = nil
        var valueClosed: Double? = nil
        var lineReply: [UInt8] = []
        let line = bytes("get slowloris-key\r\n")
        for second in 0..<4 {
            if lineClosed == nil {
                try? lineDrip.send([line[second]])
                let (closed, before) = lineDrip.waitForClose(timeout: 0.45)
                lineReply += before
                if closed { lineClosed = now() - started }
            }
            if valueClosed == nil {
                try? valueDrip.send("v")
                if valueDrip.waitForClose(timeout: 0.45).closed { valueClosed = now() - started }
            }
            // A client that sends whole requests slowly is making progress.
            steady.expect("get s\(second)\r\n", "END\r\n")
        }
        #expect(lineClosed != nil && lineClosed! < 3.5, "a line dripping one byte a second was kept \(String(describing: lineClosed))")
        #expect(text(lineReply) == "CLIENT_ERROR request not completed in time\r\n", "got \(escaped(lineReply))")
        #expect(valueClosed != nil && valueClosed! < 3.5, "a value dripping one byte a second was kept")
        // An idle client (between requests) is never timed out.
        idle.expect("version\r\n", Text.version)
        #expect(try limitStats(cluster.port)["client_timeouts"] == 2)
        expectServedAndClean(cluster)
    }

    @Test func connectionLimitIsCountedAndEveryLimitIsShown() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "-n", "2"])
        defer { cluster.stop() }
        // A client that is served (a connection the harness just closed may still be counted).
        func served() throws -> TextClient {
            var client: TextClient?
            waitUntil(timeout: 3, interval: 0.05) {
                guard let candidate = try? cluster.client(timeout: 2), (try? candidate.send("version\r\n")) != nil,
                      (try? candidate.read(count: Text.version.utf8.count)) == bytes(Text.version) else { return false }
                client = candidate
                return true
            }
            return try #require(client, "no client was served")
        }
        let held = try served()
        let watcher = try served()
        let refusedBefore = try #require(try limitStats(cluster.port, through: watcher)["connections_refused"])
        for _ in 0..<3 {
            let refused = try cluster.client()
            let (closed, before) = refused.waitForClose(timeout: 3)
            #expect(closed && text(before) == "SERVER_ERROR OUT OF CONNECTION\r\n", "got \(escaped(before))")
        }
        try watcher.send("stats limits\r\n")
        let block = try watcher.read(until: "END\r\n")
        let names = block.components(separatedBy: "\r\n").dropLast(2).map { fields($0) }
        #expect(names.allSatisfy { $0.count == 3 && $0[0] == "STAT" && Int($0[2]) != nil }, "\(block)")
        #expect(names.map { $0[1] } == ["limit_max_connections", "limit_max_line", "limit_max_retrieval_line", "limit_max_value_size",
                                        "limit_output_pause", "limit_max_output", "limit_client_timeout_ms", "connections_refused",
                                        "accept_paused_no_descriptors", "lines_too_long", "values_too_large",
                                        "reading_paused_for_output", "output_limit_disconnects", "client_timeouts"])
        #expect(block.contains("STAT limit_max_connections 2\r\n"), "\(block)")
        #expect(block.contains("STAT connections_refused \(refusedBefore + 3)\r\n"), "\(block)")
        #expect(block.contains("STAT limit_client_timeout_ms 10000\r\n") && block.contains("STAT limit_max_value_size 67108864\r\n"))
        held.expect("version\r\n", Text.version)
    }

    @Test func tenThousandConnectionsOpenedAndDropped() throws {
        // -i 2: at most 2 connections per server and worker stay open (8 in all).
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "2", "-i", "2"])
        defer { cluster.stop() }
        let pid = cluster.magent.pid
        func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
        try cluster.client().expect("version\r\n", Text.version)
        let descriptorsBefore = openDescriptors()
        let rssBefore = try #require(ProcessTable.residentKiB(pid))
        let deadline = now() + 90
        var opened = 0
        var failures = 0
        for round in 0..<10_000 {
            guard now() < deadline else { break }
            guard let client = try? TextClient(port: cluster.port, timeout: 2) else {
                failures += 1
                continue
            }
            opened += 1
            switch round % 4 {
            case 0: client.close()
            case 1: client.reset()
            case 2:
                try? client.send("get k\(round)\r\nset half 0 0 10\r\nabc")
                client.reset()
            default:
                if round % 400 == 3 {
                    client.expect("set churn\(round) 0 0 1\r\nx\r\n", "STORED\r\n")
                }
                client.close()
            }
        }
        #expect(opened == 10_000, "opened \(opened) connections in 90 s, \(failures) failed")
        // Every connection is gone again, and memory is what it was, give or take.
        let settled = waitUntil(timeout: 5) { openDescriptors() <= descriptorsBefore + 8 }
        #expect(settled, "descriptors: \(descriptorsBefore) before, \(openDescriptors()) after")
        let rssAfter = try #require(ProcessTable.residentKiB(pid))
        #expect(!Environment.measuresMemory || rssAfter - rssBefore < 16 * 1024, "magent grew by \((rssAfter - rssBefore) / 1024) MiB over 10,000 connections")
        expectServedAndClean(cluster, items: 50)
    }
}
