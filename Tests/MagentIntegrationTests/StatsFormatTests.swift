// stats-format: plain `stats` answers the original's matrix (the default, byte
// for byte) or memcached's STAT lines, which the clients monitoring uses read:
// php-memcached and pecl memcache getStats(), pymemcache stats(),
// python-memcached get_stats() and libmemcached's memcstat, each run for real.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// A client that reads a server's `stats`, and how the test runs it.
enum StatsClient: String, CaseIterable, CustomTestStringConvertible {
    case phpMemcached = "php-memcached getStats()"
    case phpMemcache = "pecl memcache getStats()"
    case pymemcache = "pymemcache stats()"
    case pythonMemcached = "python-memcached get_stats()"
    case memcstat = "libmemcached memcstat"

    var testDescription: String { rawValue }

    /// What the client made of the proxy's `stats`: name -> value (pecl
    /// memcache's nested arrays for `primary:1:address` joined back with ':'),
    /// nil when it returned nothing, false or raised; and what it said.
    func read(_ cluster: Cluster) throws -> (stats: [String: String]?, detail: String) {
        let output: ClientRunner.Output
        switch self {
        case .phpMemcached, .phpMemcache:
            let php = try ClientRunner.require(ClientRunner.php, package: "php-cli")
            output = try ClientRunner.run(php, ["php_stats.php", self == .phpMemcached ? "memcached" : "memcache"],
                                          cluster: cluster, timeout: 30, separateErrors: true)
        case .pymemcache, .pythonMemcached:
            let python = try ClientRunner.require(ClientRunner.python, package: "python3")
            output = try ClientRunner.run(python, ["py_stats.py", self == .pymemcache ? "pymemcache" : "memcache"],
                                          cluster: cluster, timeout: 30, separateErrors: true)
        case .memcstat:
            let memcstat = try ClientRunner.require("/usr/bin/memcstat", package: "libmemcached-tools")
            output = try ClientRunner.run(memcstat, ["--servers=\(cluster.magent.host):\(cluster.port)"],
                                          cluster: cluster, timeout: 30, separateErrors: true)
            guard output.exitCode == 0 else { throw HarnessError("memcstat exited \(output.exitCode): \(output.text)\(output.errorText)") }
            return (Self.memcstatStats(output.text), "memcstat: \(ClientRunner.tail(output.text + output.errorText, limit: 400))")
        }
        guard output.exitCode == 0,
              let line = output.text.split(separator: "\n").last(where: { $0.hasPrefix("STATS_JSON ") }),
              let object = try JSONSerialization.jsonObject(with: Data(line.dropFirst(11).utf8)) as? [String: Any] else {
            throw HarnessError("\(rawValue): exit \(output.exitCode), no STATS_JSON line:\n\(output.text)\(output.errorText)")
        }
        let detail = object["detail"] as? String ?? ""
        guard let mapping = object["stats"] as? [String: Any] else { return (nil, detail) }
        var flat: [String: String] = [:]
        Self.flatten(mapping, prefix: "", into: &flat)
        return (flat.isEmpty ? nil : flat, detail)
    }

    /// memcstat's "\tname: value" lines under "Server: host (port)".
    static func memcstatStats(_ output: String) -> [String: String]? {
        var stats: [String: String] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("\t") {
            guard let separator = line.range(of: ": ") else { continue }
            stats[String(line[line.index(after: line.startIndex)..<separator.lowerBound])] = String(line[separator.upperBound...])
        }
        return stats.isEmpty ? nil : stats
    }

    private static func flatten(_ value: Any, prefix: String, into result: inout [String: String]) {
        if let mapping = value as? [String: Any] {
            for (name, inner) in mapping { flatten(inner, prefix: prefix.isEmpty ? name : "\(prefix):\(name)", into: &result) }
        } else if let text = value as? String {
            result[prefix] = text
        } else if let number = value as? Int {
            result[prefix] = String(number)
        } else if let number = value as? Double {
            result[prefix] = String(number)
        }
    }
}

@Suite struct StatsFormatTests {
    /// Two primaries and a backup; sets and gets through the proxy, and keys
    /// written to the first primary directly, so the primaries' sums differ
    /// from the backup's (which the sums must leave out).
    private struct Loaded {
        let cluster: Cluster
        /// The primaries' own stats, summed.
        let curr_items: Int
        let bytes: Int
        let limit_maxbytes: Int
        let total_items: Int
    }

    private static let setsThroughProxy = 40
    private static let getsThroughProxy = 10
    private static let hitsThroughProxy = 7

    private func loadedCluster(_ arguments: [String]) throws -> Loaded {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2"] + arguments)
        do {
            let client = try cluster.client()
            for number in 0..<Self.setsThroughProxy {
                client.expect(Text.set("sf\(number)", String(repeating: "v", count: number + 1)), "STORED\r\n")
            }
            for number in 0..<Self.getsThroughProxy {
                let key = number < Self.hitsThroughProxy ? "sf\(number)" : "sf-missing\(number)"
                client.expect("get \(key)\r\n", number < Self.hitsThroughProxy
                              ? Text.hit(key, String(repeating: "v", count: number + 1)) : "END\r\n")
            }
            for number in 0..<5 { try cluster.primaries[0].set("direct\(number)", "only on the first primary") }
            let stats = try cluster.primaries.map { try StatLines.numbers($0.stats()) }
            for (index, server) in stats.enumerated() {
                #expect((server["curr_items"] ?? 0) > 0, "primary \(index + 1) holds nothing: the sum would not show it")
            }
            func sum(_ name: String) -> Int { stats.reduce(0) { $0 + ($1[name] ?? 0) } }
            #expect(sum("curr_items") == Self.setsThroughProxy + 5)
            #expect(try cluster.backups[0].stat("curr_items") == Self.setsThroughProxy)
            return Loaded(cluster: cluster, curr_items: sum("curr_items"), bytes: sum("bytes"),
                          limit_maxbytes: sum("limit_maxbytes"), total_items: sum("total_items"))
        } catch {
            cluster.stop()
            throw error
        }
    }

    /// The `STAT name value` lines of a reply as name -> value; every line
    /// must be one (name and value one token each) until END.
    private func statLines(_ reply: String, sourceLocation: SourceLocation = #_sourceLocation) -> [String: String] {
        #expect(reply.hasSuffix("\r\nEND\r\n"), "\(reply)", sourceLocation: sourceLocation)
        var result: [String: String] = [:]
        for line in reply.components(separatedBy: "\r\n").dropLast(2) {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            #expect(fields.count == 3 && fields[0] == "STAT" && !fields[1].isEmpty && !fields[2].isEmpty,
                    "not a STAT line every client parses: \"\(line)\"", sourceLocation: sourceLocation)
            if fields.count == 3 { result[String(fields[1])] = String(fields[2]) }
        }
        return result
    }

    // MARK: - memcached

    @Test func memcachedFormatOverTelnet() throws {
        let loaded = try loadedCluster(["--stats-format", "memcached"])
        let cluster = loaded.cluster
        defer { cluster.stop() }
        let client = try cluster.client()
        try client.send("stats\r\n")
        let stats = statLines(try client.read(until: "END\r\n", timeout: 5))
        #expect(stats["pid"] == String(cluster.magent.pid))
        #expect(stats["version"] == MagentVersion.number)
        #expect(stats["pointer_size"] == "64")
        #expect(stats["threads"] == "2")
        #expect(Int(stats["curr_connections"] ?? "") ?? 0 >= 1)
        #expect(Int(stats["uptime"] ?? "") != nil && Int(stats["time"] ?? "") != nil)
        #expect(Int(stats["total_connections"] ?? "") ?? 0 >= 1)
        // The proxy's own requests, as its clients made them.
        #expect(stats["cmd_set"] == String(Self.setsThroughProxy))
        #expect(stats["cmd_get"] == String(Self.getsThroughProxy))
        #expect(stats["get_hits"] == String(Self.hitsThroughProxy))
        #expect(stats["get_misses"] == String(Self.getsThroughProxy - Self.hitsThroughProxy))
        // What the primaries hold, summed (the backup left out).
        #expect(stats["curr_items"] == String(loaded.curr_items))
        #expect(stats["bytes"] == String(loaded.bytes))
        #expect(stats["limit_maxbytes"] == String(loaded.limit_maxbytes))
        #expect(stats["total_items"] == String(loaded.total_items))
        #expect(stats["primaries_summed"] == "2")
        // The server matrix as stats servers names it.
        for (index, server) in cluster.primaries.enumerated() {
            #expect(stats["primary:\(index + 1):address"] == server.address)
            #expect(stats["primary:\(index + 1):state"] == "up")
        }
        #expect(stats["backup:1:address"] == cluster.backups[0].address)
        #expect(stats["backup:1:state"] == "up")
        // Every stats servers line is there, under the same name.
        let servers = try client.stats("stats servers", timeout: 5)
        #expect(Set(servers.keys).isSubset(of: Set(stats.keys)), "\(Set(servers.keys).subtracting(stats.keys))")
    }

    @Test("every client reads the memcached format", arguments: StatsClient.allCases)
    func memcachedFormatIsReadByEveryClient(_ reader: StatsClient) throws {
        let loaded = try loadedCluster(["--stats-format", "memcached"])
        let cluster = loaded.cluster
        defer { cluster.stop() }
        let (read, detail) = try reader.read(cluster)
        guard let stats = read else {
            Issue.record("\(reader.rawValue) returned no mapping: \(detail)")
            return
        }
        #expect(stats["pid"] == String(cluster.magent.pid), "\(detail)")
        #expect(stats["version"] == MagentVersion.number, "\(detail)")
        #expect(stats["threads"] == "2", "\(detail)")
        #expect(stats["curr_items"] == String(loaded.curr_items), "\(detail)")
        #expect(stats["bytes"] == String(loaded.bytes), "\(detail)")
        #expect(stats["limit_maxbytes"] == String(loaded.limit_maxbytes), "\(detail)")
        #expect(stats["cmd_set"] == String(Self.setsThroughProxy), "\(detail)")
        #expect(stats["get_hits"] == String(Self.hitsThroughProxy), "\(detail)")
        for name in ["uptime", "time", "pointer_size", "curr_connections", "total_connections", "cmd_get", "get_misses"] {
            #expect(stats[name] != nil, "\(name) missing: \(detail)")
        }
        #expect(stats["primary:1:address"] == cluster.primaries[0].address, "\(detail)")
        #expect(stats["primary:2:state"] == "up", "\(detail)")
        #expect(cluster.magent.isRunning)
        try cluster.client().expect("version\r\n", Text.version)
    }

    // MARK: - matrix

    /// The default and `--stats-format matrix` keep the original's block byte
    /// for byte; none of the clients can read it (why the setting exists).
    @Test("matrix: the original's block, which no client reads", arguments: [[], ["--stats-format", "matrix"]])
    func matrixIsUnchanged(_ arguments: [String]) throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2"] + arguments)
        defer { cluster.stop() }
        try cluster.client().expect("stats\r\n", Text.agentStats(cluster.primaries.map { ($0.address, 0) }))
        let client = try cluster.client()
        for number in 0..<10 { client.expect(Text.set("mx\(number)", "m"), "STORED\r\n") }
        for reader in StatsClient.allCases {
            let (stats, detail) = try reader.read(cluster)
            #expect(stats?["pid"] == nil, "\(reader.rawValue) read a pid from the matrix: \(stats ?? [:]) \(detail)")
        }
        try client.send("stats\r\n")
        let reply = try client.read(until: "END\r\n", timeout: 5)
        #expect(reply.hasPrefix("memcached agent v1.0.0\r\nmatrix 1 -> \(cluster.primaries[0].address), pool size "))
        #expect(reply.contains("\r\nmatrix 2 -> \(cluster.primaries[1].address), pool size "))
        #expect(!reply.contains("STAT "))
        client.expect("version\r\n", Text.version)
    }

    // MARK: - Failures, order, other stats, reload

    /// A killed primary answers nothing: the sums cover the other one, at once
    /// (a refused connection fails the share immediately).
    @Test func aDeadPrimaryIsLeftOutOfTheSums() throws {
        let loaded = try loadedCluster(["--stats-format", "memcached"])
        let cluster = loaded.cluster
        defer { cluster.stop() }
        let first = try StatLines.numbers(cluster.primaries[0].stats())
        cluster.primaries[1].kill()
        let client = try cluster.client()
        for _ in 0..<2 {
            try client.send("stats\r\n")
            let stats = statLines(try client.read(until: "END\r\n", timeout: 5))
            #expect(stats["primaries_summed"] == "1")
            #expect(stats["curr_items"] == String(first["curr_items"] ?? -1))
            #expect(stats["limit_maxbytes"] == String(first["limit_maxbytes"] ?? -1))
            #expect(stats["primary:2:address"] == cluster.primaries[1].address)
        }
        // Two failures in a row mark it down; then it is not even asked.
        try waitFor("the dead primary marked down", timeout: 10, detail: { "\((try? client.stats("stats servers")) ?? [:])" }) {
            try client.stats("stats servers", timeout: 5)["primary:2:state"] == "down"
        }
        try client.send("stats\r\n")
        let stats = statLines(try client.read(until: "END\r\n", timeout: 5))
        #expect(stats["primary:2:state"] == "down")
        #expect(stats["primaries_summed"] == "1")
    }

    /// A primary that accepts but never answers holds the reply only until
    /// the request timeout (2 s here, so the check below has room on a loaded
    /// machine); the worker's loop keeps serving meanwhile.
    @Test func aFrozenPrimaryIsLeftOutAfterTheTimeout() throws {
        let loaded = try loadedCluster(["--stats-format", "memcached", "--request-timeout", "2000", "-t", "1"])
        let cluster = loaded.cluster
        defer {
            cluster.primaries[1].resume()
            cluster.stop()
        }
        let first = try StatLines.numbers(cluster.primaries[0].stats())
        cluster.primaries[1].pause()
        let client = try cluster.client()
        try client.send("stats\r\n")
        // Another client on the same (only) worker is answered while the stats wait.
        let other = try cluster.client()
        let key = cluster.keys(onPrimary: 0, count: 1, prefix: "sf")[0]
        let value = String(repeating: "v", count: Int(key.dropFirst(2))! + 1)
        other.expect("get \(key)\r\n", Text.hit(key, value), timeout: 5)
        let early = text(client.readAvailable(waiting: 0))
        #expect(!early.contains("END\r\n"), "the stats were answered before the frozen primary's timeout: \(early)")
        let stats = statLines(early + (try client.read(until: "END\r\n", timeout: 10)))
        #expect(stats["primaries_summed"] == "1")
        #expect(stats["curr_items"] == String(first["curr_items"] ?? -1))
    }

    @Test("pipelined after other requests, the reply keeps its place")
    func pipelinedOrder() throws {
        let cluster = try Cluster(primaries: 2, arguments: ["-t", "1", "--stats-format", "memcached"])
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect(Text.set("order", "1"), "STORED\r\n")
        try client.send("get order\r\nstats\r\nget order\r\nversion\r\n")
        let first = try client.read(until: "END\r\n", timeout: 5)
        #expect(first == Text.hit("order", "1"))
        let stats = statLines(try client.read(until: "\r\nEND\r\n", timeout: 5))
        #expect(stats["curr_items"] == "1")
        #expect(try client.read(until: "END\r\n", timeout: 5) == Text.hit("order", "1"))
        #expect(try client.readLine(timeout: 5) == Text.version)
    }

    @Test("the other stats commands answer as before")
    func otherStatsCommandsUnchanged() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "--stats-format", "memcached"])
        defer { cluster.stop() }
        let client = try cluster.client()
        #expect(try client.stats("stats servers", timeout: 5)["primary:1:address"] == cluster.primaries[0].address)
        let proxy = try client.stats("stats proxy", timeout: 5)
        #expect(proxy["cmd_stats"] != nil && proxy["servers_up"] == "1")
        #expect(try client.stats("stats limits", timeout: 5)["limit_max_connections"] == "4096")
        client.expect("stats bogus\r\n", "ERROR\r\n")
    }

    @Test("a reload switches the format")
    func reloadSwitchesTheFormat() throws {
        let fixture = try ReloadFixture(servers: 1, initial: [0], extra: ["stats-format = matrix"], arguments: ["-t", "1"])
        defer { fixture.stop() }
        let client = try fixture.magent.client()
        client.expect("stats\r\n", Text.agentStats([(fixture.servers[0].address, 0)]))
        try fixture.reload(fixture.serverLines([0]) + ["stats-format = memcached"])
        #expect(fixture.log.contains("changed: stats-format matrix -> memcached"), "\(fixture.log)")
        try client.send("stats\r\n")
        let stats = statLines(try client.read(until: "\r\nEND\r\n", timeout: 5))
        #expect(stats["pid"] == String(fixture.magent.pid))
        #expect(stats["primary:1:address"] == fixture.servers[0].address)
        try fixture.reload(fixture.serverLines([0]))
        try client.send("stats\r\n")
        #expect(try client.read(until: "END\r\n", timeout: 5).hasPrefix("memcached agent v1.0.0\r\nmatrix 1 -> \(fixture.servers[0].address), pool size "))
    }
}
