// SIGHUP reloads the -c file in a running proxy: servers added, removed and
// reordered, a timeout changed, an invalid file refused; client connections
// opened before keep working, a pipelined load across reloads sees no error,
// and keys on servers that stayed are still found.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// A proxy started with `-c` over memcached servers the test starts, and
/// the file it rewrites before each SIGHUP.
final class ReloadFixture: @unchecked Sendable {  // lets only; used from a load thread
    let servers: [Memcached]
    let directory: String
    let path: String
    let magent: Magent

    /// `count` memcached; the file first lists `initial` of them (indexes) as
    /// primaries, with `extra` lines.
    init(servers count: Int, initial: [Int], extra: [String] = [], arguments: [String] = ["-t", "2"]) throws {
        var started: [Memcached] = []
        do {
            for _ in 0..<count { started.append(try Memcached()) }
            servers = started
            directory = try Environment.temporaryDirectory()
            path = try Environment.writeConfiguration(initial.map { "server = \(started[$0].address)" } + extra, in: directory)
            magent = try Magent(["-c", path, "--log-level", "notice"] + arguments)
        } catch {
            started.forEach { $0.stop() }
            throw error
        }
    }

    /// Rewrites the file and sends SIGHUP; waits until the log shows the
    /// reload's outcome (one more "reload" line than before).
    func reload(_ lines: [String]) throws {
        let before = reloadLines()
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        magent.process.signal(SIGHUP)
        guard waitUntil(timeout: 10, { reloadLines() > before }) else {
            throw HarnessError("no reload in the log: \(magent.process.standardError)")
        }
    }

    /// Primaries as `server =` lines.
    func serverLines(_ indexes: [Int]) -> [String] { indexes.map { "server = \(servers[$0].address)" } }

    /// Each reload ends with one of these lines.
    private func reloadLines() -> Int {
        magent.process.standardError.split(separator: "\n").filter {
            $0.contains("] reloaded ") || ($0.contains("] reload of ") && $0.contains(" failed, "))
        }.count
    }

    var log: String { magent.process.standardError }

    /// The `stats` block listing `indexes` as primaries, in order.
    func matrix(_ indexes: [Int]) -> String {
        "memcached agent v\(MagentVersion.number)\r\n"
            + indexes.enumerated().map { "matrix \($0.offset + 1) -> \(servers[$0.element].address), pool size " }.joined()
    }

    /// The `stats` reply's matrix without pool sizes (they vary).
    static func primariesListed(_ client: TextClient) throws -> [String] {
        try client.send("stats\r\n")
        let reply = text(try client.read(until: "END\r\n".utf8.map { $0 }, timeout: 5))
        return reply.split(separator: "\r\n").filter { $0.hasPrefix("matrix ") }.map { String($0.split(separator: " ")[3].dropLast()) }
    }

    func stop() {
        magent.stop()
        ChildProcess.stopAll(servers.map(\.process), grace: Memcached.stopGrace)
        servers.forEach { $0.stop() }
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.serialized) struct ReloadTests {
    private func placementNames(_ fixture: ReloadFixture, _ indexes: [Int]) -> [String] {
        indexes.map { fixture.servers[$0].placementName }
    }

    /// The primary index of each key among `indexes` (one ring built, not one per key).
    private func primaries(_ keys: [String], _ fixture: ReloadFixture, _ indexes: [Int], mode: PlacementMode) -> [Int] {
        let placement = KeyPlacement(mode: mode, serverNames: placementNames(fixture, indexes))
        return keys.map { key in Array(key.utf8).withUnsafeBytes { placement.serverIndex(for: $0) } }
    }

    @Test func addingAServerMovesOnlyItsShareOfKeys() throws {
        let fixture = try ReloadFixture(servers: 3, initial: [0, 1], extra: ["ketama = yes"])
        defer { fixture.stop() }
        let client = try fixture.magent.client()
        let keys = (0..<300).map { "add\($0)" }
        for key in keys { client.expect("set \(key) 0 0 \(key.utf8.count)\r\n\(key)\r\n", "STORED\r\n") }

        try fixture.reload(fixture.serverLines([0, 1, 2]) + ["ketama = yes"])
        // The connection opened before the reload keeps working, and routes with the new list.
        #expect(try ReloadFixture.primariesListed(client) == [0, 1, 2].map { fixture.servers[$0].address })
        var moved = 0
        let before = primaries(keys, fixture, [0, 1], mode: .ketama)
        let after = primaries(keys, fixture, [0, 1, 2], mode: .ketama)
        for (index, key) in keys.enumerated() {
            if before[index] == after[index] {
                // Unchanged placement: still found.
                client.expect("get \(key)\r\n", "VALUE \(key) 0 \(key.utf8.count)\r\n\(key)\r\nEND\r\n")
            } else {
                #expect(after[index] == 2, "\(key) moved between servers that stayed")
                moved += 1
            }
        }
        // Ketama: the new server takes about a third, never everything.
        #expect(moved > 0 && moved < keys.count / 2, "moved \(moved) of \(keys.count)")
        // New writes reach the new server where placement says.
        for (index, key) in keys.prefix(60).enumerated() {
            client.expect("set \(key) 0 0 1\r\nn\r\n", "STORED\r\n")
            #expect(try fixture.servers[after[index]].getString(key) == "n", "\(key)")
        }
        #expect(fixture.log.contains("reloaded \(fixture.path): 3 servers, 0 backups; changed: server "))
    }

    @Test func removingAServerKeepsTheOthersKeys() throws {
        // Server 3 is never configured: its connection count is the baseline.
        let fixture = try ReloadFixture(servers: 4, initial: [0, 1, 2], extra: ["ketama = yes"])
        defer { fixture.stop() }
        let client = try fixture.magent.client()
        let keys = (0..<200).map { "rm\($0)" }
        for key in keys { client.expect("set \(key) 0 0 1\r\nv\r\n", "STORED\r\n") }

        try fixture.reload(fixture.serverLines([0, 2]) + ["ketama = yes"])
        #expect(try ReloadFixture.primariesListed(client) == [fixture.servers[0].address, fixture.servers[2].address])
        let before = primaries(keys, fixture, [0, 1, 2], mode: .ketama)
        for (index, key) in keys.enumerated() {
            if before[index] != 1 {
                client.expect("get \(key)\r\n", "VALUE \(key) 0 1\r\nv\r\nEND\r\n")
            } else {
                client.expect("get \(key)\r\n", "END\r\n")  // its server is gone: a miss, not an error
            }
        }
        // stats servers lists the two that stayed.
        try client.send("stats servers\r\n")
        let servers = text(try client.read(until: Array("END\r\n".utf8), timeout: 5))
        #expect(servers.contains("STAT primary:1:address \(fixture.servers[0].address)\r\n"))
        #expect(servers.contains("STAT primary:2:address \(fixture.servers[2].address)\r\n"))
        #expect(!servers.contains(fixture.servers[1].address))
        // The proxy's idle connections to the removed server are closed.
        let baseline = try fixture.servers[3].stat("curr_connections")
        #expect(waitUntil(timeout: 5, interval: 0.1) { (try? fixture.servers[1].stat("curr_connections")) == baseline },
                "\(String(describing: try? fixture.servers[1].stat("curr_connections"))) connections, baseline \(baseline)")
    }

    @Test func reorderingWithModuloFollowsTheNewOrder() throws {
        let fixture = try ReloadFixture(servers: 2, initial: [0, 1])
        defer { fixture.stop() }
        let client = try fixture.magent.client()
        try fixture.reload(fixture.serverLines([1, 0]))
        #expect(try ReloadFixture.primariesListed(client) == [fixture.servers[1].address, fixture.servers[0].address])
        for number in 0..<40 {
            let key = "order\(number)"
            client.expect("set \(key) 0 0 1\r\no\r\n", "STORED\r\n")
            let primary = Placement.predict(key, primaries: placementNames(fixture, [1, 0]), backups: [], mode: .modulo).primary
            #expect(try fixture.servers[[1, 0][primary]].getString(key) == "o", "\(key)")
        }
    }

    @Test func aShorterRequestTimeoutTakesEffect() throws {
        let silent = try Sockets.silentListenerOnFreePort()
        defer { close(silent.fd) }
        let fixture = try ReloadFixture(servers: 0, initial: [], extra: ["server = 127.0.0.1:\(silent.port)", "request-timeout = 600000"],
                                        arguments: ["-t", "1"])
        defer { fixture.stop() }
        try fixture.reload(["server = 127.0.0.1:\(silent.port)", "request-timeout = 300"])
        #expect(fixture.log.contains("changed: request-timeout 600000 -> 300"), "\(fixture.log)")
        // The hung server's reply is late after 300 ms now, not ten minutes.
        let client = try fixture.magent.client(timeout: 20)
        client.expect("get hung\r\n", "END\r\n", timeout: 20)
        client.expect("set hung 0 0 1\r\nx\r\n", "SERVER_ERROR backend timeout\r\n", timeout: 20)
    }

    @Test func aPipelinedLoadAcrossReloadsSeesNoError() throws {
        let fixture = try ReloadFixture(servers: 3, initial: [0, 1])
        defer { fixture.stop() }
        let state = LoadState()
        let failures = FailureLog()
        let port = fixture.magent.port
        // Reloads that keep the primaries' placement (timeouts, a backup added
        // and removed, the failure limit): every get must still hit.
        let primaries = fixture.serverLines([0, 1])
        let variants: [[String]] = [
            primaries + ["request-timeout = 2000", "backup = \(fixture.servers[2].address)"],
            primaries + ["connect-timeout = 500", "failure-limit = 5"],
            primaries + ["backup = \(fixture.servers[2].address)", "refill-rate = 100"],
            primaries,
        ]
        DispatchQueue.concurrentPerform(iterations: 2) { role in
            if role == 0 {
                defer { state.stop() }
                do {
                    let client = try TextClient(port: port, timeout: 10)
                    for round in 0..<100_000 {
                        guard state.isRunning else { break }
                        // 20 sets then 20 gets of the same keys, in one write.
                        var request = ""
                        var expected = ""
                        for index in 0..<20 {
                            let value = "v\(round)-\(index)"
                            request += "set load\(index) 0 0 \(value.utf8.count)\r\n\(value)\r\n"
                            expected += "STORED\r\n"
                        }
                        for index in 0..<20 {
                            let value = "v\(round)-\(index)"
                            request += "get load\(index)\r\n"
                            expected += "VALUE load\(index) 0 \(value.utf8.count)\r\n\(value)\r\nEND\r\n"
                        }
                        try client.send(request)
                        let reply = text(try client.read(count: expected.utf8.count, timeout: 10))
                        if reply != expected {
                            failures.add("round \(round): \(escaped(Array(reply.utf8)))")
                            break
                        }
                        state.finishedRound()
                    }
                } catch {
                    failures.add("load: \(error)")
                }
                return
            }
            defer { state.stop() }
            _ = waitUntil(timeout: 5) { state.rounds > 3 }
            for (round, lines) in (variants + variants).enumerated() {
                do {
                    try fixture.reload(lines)
                } catch {
                    failures.add("reload \(round): \(error)")
                    return
                }
                let reached = state.rounds
                _ = waitUntil(timeout: 5) { state.rounds > reached + 2 || !state.isRunning }
                if !state.isRunning {
                    failures.add("the load stopped after reload \(round)")
                    return
                }
            }
        }
        #expect(failures.entries.isEmpty, "\(failures.entries)")
        #expect(state.rounds > 10)
        #expect(!fixture.log.contains("failed"), "\(fixture.log)")
    }

    @Test func anInvalidFileKeepsTheRunningConfiguration() throws {
        let fixture = try ReloadFixture(servers: 2, initial: [0])
        defer { fixture.stop() }
        let client = try fixture.magent.client()
        client.expect("set kept 0 0 1\r\nk\r\n", "STORED\r\n")
        try fixture.reload(fixture.serverLines([0, 1]) + ["", "refill-rate = fast"])
        #expect(fixture.log.contains("reload of \(fixture.path) failed, the running configuration stays: \(fixture.path):4: invalid value 'fast' for refill-rate"),
                "\(fixture.log)")
        #expect(try ReloadFixture.primariesListed(client) == [fixture.servers[0].address])
        client.expect("get kept\r\n", "VALUE kept 0 1\r\nk\r\nEND\r\n")
        // An unresolvable host is refused the same way.
        try fixture.reload(fixture.serverLines([0]) + ["server = no-such-host.invalid:11211"])
        #expect(fixture.log.contains("no-such-host.invalid"), "\(fixture.log)")
        #expect(try ReloadFixture.primariesListed(client) == [fixture.servers[0].address])
        // A good file afterwards is applied.
        try fixture.reload(fixture.serverLines([0, 1]))
        #expect(try ReloadFixture.primariesListed(client) == [fixture.servers[0].address, fixture.servers[1].address])
        #expect(fixture.magent.isRunning)
    }

    @Test func settingsThatNeedARestartAreReportedAndKept() throws {
        let fixture = try ReloadFixture(servers: 1, initial: [0], arguments: ["-t", "1"])
        defer { fixture.stop() }
        try fixture.reload(fixture.serverLines([0]) + ["threads = 3", "max-connections = 10", "connections-per-server = 3"])
        // threads is also on the command line (-t 1), which wins: no change to report.
        #expect(fixture.log.contains("needs a restart, not applied: max-connections 4096 -> 10; connections-per-server 20 -> 3\n"),
                "\(fixture.log)")
        // Still on its port, still serving; the command line's -p over the file.
        let client = try fixture.magent.client()
        client.expect("set r 0 0 1\r\nr\r\n", "STORED\r\n")
    }

    @Test func withoutAFileSIGHUPReloadsNothing() throws {
        let server = try Memcached()
        defer { server.stop() }
        let magent = try Magent(["-s", server.address, "-t", "1", "--log-level", "notice"])
        defer { magent.stop() }
        let client = try magent.client()
        magent.process.signal(SIGHUP)
        #expect(waitUntil(timeout: 5) { magent.process.standardError.contains("SIGHUP: no configuration file (-c), nothing to reload") })
        #expect(magent.isRunning)
        client.expect("set h 0 0 1\r\nh\r\n", "STORED\r\n")
    }
}

/// A load thread's progress, shared with the thread that reloads.
final class LoadState: Sendable {
    private let running = ThreadLock(true)
    private let completed = ThreadLock(0)
    var isRunning: Bool { running.withLock { $0 } }
    var rounds: Int { completed.withLock { $0 } }
    func stop() { running.withLock { $0 = false } }
    func finishedRound() { completed.withLock { $0 += 1 } }
}
