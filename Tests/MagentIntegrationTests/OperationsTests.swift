// Issue 8, "operating it": the counters of `stats proxy` and `stats servers`
// move with real traffic and failures, /metrics serves them to curl in
// Prometheus's format, and scripts/magent-check tells keepalived the truth
// about healthy, degraded, absent and hung proxies.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// This suite's helpers.
enum OperationsKit {
    /// A `stats <group>` reply through the proxy, as name → value.
    static func stats(_ group: String, port: UInt16) throws -> [String: String] {
        let client = try TextClient(port: port, timeout: 3)
        defer { client.close() }
        return try stats(group, client: client)
    }

    /// The same over a connection already open (where opening one would count).
    static func stats(_ group: String, client: TextClient) throws -> [String: String] {
        try client.send("stats \(group)\r\n")
        let block = try client.read(until: "END\r\n")
        var result: [String: String] = [:]
        for line in block.components(separatedBy: "\r\n") where !line.isEmpty && line != "END" {
            let parts = fields(line)
            #expect(parts.count == 3 && parts[0] == "STAT", "not a STAT line: \(line)")
            if parts.count == 3 { result[parts[1]] = parts[2] }
        }
        return result
    }

    /// Numeric stats only.
    static func numbers(_ group: String, port: UInt16) throws -> [String: Int] {
        try stats(group, port: port).compactMapValues { Int($0) }
    }

    static let curl = "/usr/bin/curl"

    /// GET http://127.0.0.1:port/path with curl: (status code, body).
    static func fetch(port: UInt16, path: String = "/metrics") throws -> (status: Int, body: String) {
        let result = try runToCompletion(curl, ["-sS", "--max-time", "5", "-o", "-", "-w", "\n%{http_code}",
                                                "http://127.0.0.1:\(port)\(path)"], timeout: 10)
        guard result.exitCode == 0 else { throw HarnessError("curl failed: \(result.standardError)") }
        var lines = result.standardOutput.components(separatedBy: "\n")
        let status = Int(lines.removeLast()) ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    /// Samples of an exposition: "name{labels}" → value.
    static func samples(_ exposition: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            result[String(line[..<space])] = value
        }
        return result
    }

    /// One histogram series of an exposition: name and labels without `le`.
    struct SeriesKey: Hashable, CustomStringConvertible {
        var name: String
        var labels: String
        var description: String { "\(name){\(labels)}" }
    }

    struct Histogram {
        var buckets: [(le: Double, count: Double)] = []
        var sum = -1.0
        var count = -1.0
    }

    /// Every histogram of an exposition, checking each sample line's syntax
    /// by the text format's rules (name, label pairs, value) as it goes.
    static func histograms(_ exposition: String) throws -> [SeriesKey: Histogram] {
        var families = Set<String>()
        var result: [SeriesKey: Histogram] = [:]
        let name = try Regex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")
        let pair = try Regex(#"^[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"$"#)
        for line in exposition.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# TYPE "), line.hasSuffix(" histogram") { families.insert(String(line.split(separator: " ")[2])) }
            if line.hasPrefix("#") { continue }
            guard let space = line.lastIndex(of: " ") else {
                Issue.record("no value: \(line)")
                continue
            }
            let value = String(line[line.index(after: space)...])
            let number = value == "+Inf" ? Double.infinity : Double(value)
            #expect(number != nil, "bad value: \(line)")
            var metric = String(line[..<space])
            var labels: [String] = []
            if let brace = metric.firstIndex(of: "{") {
                #expect(metric.hasSuffix("}"), "bad labels: \(line)")
                labels = metric[metric.index(after: brace)..<metric.index(before: metric.endIndex)]
                    .split(separator: ",").map(String.init)
                metric = String(metric[..<brace])
            }
            #expect(metric.wholeMatch(of: name) != nil, "bad name: \(line)")
            for label in labels { #expect(label.wholeMatch(of: pair) != nil, "bad label \(label): \(line)") }
            for suffix in ["_bucket", "_sum", "_count"] where metric.hasSuffix(suffix) {
                let family = String(metric.dropLast(suffix.count))
                guard families.contains(family), let number else { continue }
                var le: Double? = nil
                let others = labels.filter { label in
                    guard label.hasPrefix("le=\"") else { return true }
                    let text = label.dropFirst(4).dropLast()
                    le = text == "+Inf" ? .infinity : Double(text)
                    return false
                }
                let key = SeriesKey(name: family, labels: others.joined(separator: ","))
                var histogram = result[key] ?? Histogram()
                switch suffix {
                case "_bucket":
                    #expect(le != nil, "bucket without le: \(line)")
                    histogram.buckets.append((le ?? .nan, number))
                case "_sum": histogram.sum = number
                default: histogram.count = number
                }
                result[key] = histogram
            }
        }
        return result
    }

    /// scripts/magent-check in this checkout.
    static var checkScript: String { Environment.packageRoot + "/scripts/magent-check" }

    static func check(_ arguments: [String], timeout: Double = 15) throws -> CommandResult {
        try runToCompletion("/bin/bash", [checkScript] + arguments, timeout: timeout)
    }

    /// A request that does not need an answer to be right, for moving counters.
    static func send(_ request: String, port: UInt16, expect reply: String) throws {
        let client = try TextClient(port: port, timeout: 5)
        defer { client.close() }
        client.expect(request, reply)
    }
}

@Suite(.serialized) struct OperationsTests {
    // MARK: - stats proxy

    @Test func statsProxyCountsConnectionsCommandsHitsAndBytes() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2"])
        defer { cluster.stop() }
        let before = try OperationsKit.numbers("proxy", port: cluster.port)
        for name in ["pid", "uptime", "time", "threads", "curr_connections", "total_connections", "rejected_connections",
                     "cmd_get", "cmd_set", "cmd_delete", "cmd_stats", "get_keys", "get_hits", "get_misses",
                     "bytes_read", "bytes_written", "backup_reads", "miss_failover_hits", "writes_to_backup",
                     "binary_requests", "client_errors", "line_too_long", "value_too_large",
                     "output_overflow_disconnects", "stalled_values_dropped",
                     "servers_up", "servers_down", "pending_deletes_dropped"] {
            #expect(before[name] != nil, "stats proxy lacks \(name)")
        }
        #expect(before["pid"] == Int(cluster.magent.pid))
        #expect(before["threads"] == 2)
        #expect(before["servers_up"] == 3)

        let client = try cluster.client()
        var sent = 0
        func exchange(_ request: String, _ reply: String) {
            sent += request.utf8.count
            client.expect(request, reply)
        }
        exchange(Text.set("ops:a", "alpha"), "STORED\r\n")
        exchange(Text.set("ops:b", "beta"), "STORED\r\n")
        exchange("get ops:a ops:b ops:none\r\n", Text.value("ops:a", "alpha") + Text.value("ops:b", "beta") + "END\r\n")
        exchange("gets ops:missing\r\n", "END\r\n")
        exchange("delete ops:a\r\n", "DELETED\r\n")
        exchange("incr ops:none 1\r\n", "NOT_FOUND\r\n")
        exchange("bogus\r\n", "ERROR\r\n")
        exchange("get \(String(repeating: "k", count: 251))\r\n", "CLIENT_ERROR bad command line format\r\n")
        client.close()

        // The client's close is counted by its worker; wait for it.
        var after: [String: Int] = [:]
        var polls = 0
        #expect(waitUntil(timeout: 5) {
            polls += 1
            after = (try? OperationsKit.numbers("proxy", port: cluster.port)) ?? [:]
            return after["curr_connections"] == 1  // only the stats connection itself
        }, "curr_connections: \(after["curr_connections"] ?? -1)")
        func delta(_ name: String) -> Int { (after[name] ?? 0) - (before[name] ?? 0) }
        #expect(delta("cmd_set") == 2)
        #expect(delta("cmd_get") == 1)
        #expect(delta("cmd_gets") == 1)
        #expect(delta("cmd_delete") == 1)
        #expect(delta("cmd_incr") == 1)
        #expect(delta("cmd_stats") == polls)  // the first `stats proxy`, and every poll but the last
        #expect(delta("get_keys") == 4)
        #expect(delta("get_hits") == 2)
        #expect(delta("get_misses") == 2)
        #expect(delta("client_errors") == 2)
        // The client and one connection per poll (the first stats connection was counted before).
        #expect(delta("total_connections") == 1 + polls)
        // The client's bytes and the stats requests read before the last one answered.
        #expect(delta("bytes_read") == sent + polls * "stats proxy\r\n".utf8.count)
        #expect(delta("bytes_written") > 0)
        #expect(delta("backup_reads") == 0)
        #expect(delta("writes_to_backup") == 0)
    }

    @Test func limitsAndRefusedConnectionsAreCounted() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "-n", "2"])
        defer { cluster.stop() }
        // A command line past the limit: CLIENT_ERROR, then the connection closes.
        let long = try cluster.client()
        try long.send("set " + String(repeating: "x", count: ProtocolLimits.maxCommandLine + 10))
        #expect(try long.readLine() == "CLIENT_ERROR line too long\r\n")
        #expect(long.waitForClose().closed)
        long.close()

        // -n 2: one client and the stats connection fit, the next is refused.
        let holder = try cluster.client()
        holder.expect("version\r\n", MagentVersion.versionReply)
        let observer = try cluster.client()
        observer.expect("version\r\n", MagentVersion.versionReply)
        let refused = try cluster.client()
        #expect(try refused.readLine() == "SERVER_ERROR OUT OF CONNECTION\r\n")
        refused.close()
        // Asked over the observer's own connection: a new one could itself be
        // refused (and counted) while the proxy has not yet seen `refused` go.
        var stats: [String: Int] = [:]
        #expect(waitUntil(timeout: 5) {
            stats = (try? OperationsKit.stats("proxy", client: observer).compactMapValues { Int($0) }) ?? [:]
            return stats["rejected_connections"] ?? 0 >= 1 && stats["curr_connections"] == 2
        }, "\(stats)")
        observer.close()
        #expect(stats["rejected_connections"] == 1)
        #expect(stats["line_too_long"] == 1)
        #expect(stats["client_errors"] == 1)
        #expect(stats["max_connections"] == 2)
        holder.close()
    }

    @Test func binaryAndMetaRequestsAreCounted() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let binary = try cluster.client()
        defer { binary.close() }
        // A binary get of a missing key: header (24 bytes) and the key.
        let key = Array("bin:none".utf8)
        var packet: [UInt8] = [0x80, 0x00, 0x00, UInt8(key.count), 0, 0, 0, 0, 0, 0, 0, UInt8(key.count)]
        packet += [0, 0, 0, 7] + [UInt8](repeating: 0, count: 8) + key
        try binary.send(packet)
        let header = try binary.read(count: 24)
        #expect(header[0] == 0x81 && header[1] == 0x00, "\(header)")
        #expect(header[6] == 0 && header[7] == 1, "status: \(header[6]) \(header[7])")  // key not found
        let bodyLength = Int(header[8]) << 24 | Int(header[9]) << 16 | Int(header[10]) << 8 | Int(header[11])
        _ = try binary.read(count: bodyLength)

        let meta = try cluster.client()
        defer { meta.close() }
        meta.expect("mn\r\n", "MN\r\n")
        let stats = try OperationsKit.numbers("proxy", port: cluster.port)
        #expect(stats["binary_requests"] == 1)
        #expect(stats["cmd_mg"] == 1)  // the binary get, sent on as mg
        #expect(stats["cmd_mn"] == 1)
        #expect(stats["cmd_get"] == 0)
        #expect(stats["value_too_large"] == 0)
    }

    @Test("an unknown stats group is ERROR, as memcached 1.6 answers it")
    func unknownStatsGroupIsError() throws {
        let memcached = try Memcached()
        defer { memcached.stop() }
        let direct = try memcached.client()
        defer { direct.close() }
        try direct.send("stats no_such_group\r\n")
        let memcachedReply = try direct.readLine()
        #expect(memcachedReply == "ERROR\r\n")

        let cluster = try Cluster(primaries: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        defer { client.close() }
        client.expect("stats no_such_group\r\n", memcachedReply)
        client.expect("stats proxyx\r\n", "ERROR\r\n")
        client.expect("stats server\r\n", "ERROR\r\n")
    }

    // MARK: - stats servers

    @Test func statsServersShowTrafficFailuresAndBacklog() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "--failure-limit", "1"])
        defer { cluster.stop() }
        let key = cluster.keys(onPrimary: 0, count: 1, prefix: "srv")[0]
        try OperationsKit.send(Text.set(key, "v1"), port: cluster.port, expect: "STORED\r\n")
        var stats = try OperationsKit.numbers("servers", port: cluster.port)
        for name in ["requests", "failed_requests", "errors", "timeouts", "connects", "connections",
                     "idle_connections", "marked_down", "recoveries", "refill_copied", "refill_left", "pending_deletes"] {
            #expect(stats["primary:1:\(name)"] != nil, "stats servers lacks primary:1:\(name)")
            #expect(stats["backup:1:\(name)"] != nil, "stats servers lacks backup:1:\(name)")
        }
        #expect(stats["primary:1:requests"] == 1)
        #expect(stats["backup:1:requests"] == 1)
        #expect(stats["primary:2:requests"] == 0)
        #expect(stats["primary:1:connects"] == 1)
        #expect(stats["primary:1:connections"] == 1)
        #expect(stats["primary:1:errors"] == 0)

        // The primary dies: the next get fails over, the server is marked down,
        // a delete is kept for it, a write goes to the backup alone.
        cluster.primaries[0].kill()
        try OperationsKit.send("get \(key)\r\n", port: cluster.port, expect: Text.hit(key, "v1"))
        try OperationsKit.send("delete \(key)\r\n", port: cluster.port, expect: "DELETED\r\n")
        try OperationsKit.send(Text.set(key, "v2"), port: cluster.port, expect: "STORED\r\n")
        try OperationsKit.send("delete \(key)\r\n", port: cluster.port, expect: "DELETED\r\n")
        stats = try OperationsKit.numbers("servers", port: cluster.port)
        let text = try OperationsKit.stats("servers", port: cluster.port)
        #expect(text["primary:1:state"] == "down")
        #expect(stats["primary:1:marked_down"] == 1)
        #expect(stats["primary:1:errors"] ?? 0 >= 1)
        #expect(stats["primary:1:failed_requests"] == 1)
        #expect(stats["primary:1:connections"] == 0)
        #expect(stats["primary:1:pending_deletes"] == 1)
        #expect(stats["backup:1:requests"] == 1 + 1 + 3)
        let proxy = try OperationsKit.numbers("proxy", port: cluster.port)
        #expect(proxy["backup_reads"] == 1)
        #expect(proxy["writes_to_backup"] == 3)
        #expect(proxy["servers_down"] == 1)

        // Back, empty: recovering (then up), counted once.
        try cluster.primaries[0].restart()
        var last: [String: String] = [:]
        #expect(waitUntil(timeout: 15, interval: 0.1) {
            last = (try? OperationsKit.stats("servers", port: cluster.port)) ?? [:]
            return last["primary:1:state"] == "up"
        }, "\(last)")
        #expect(last["primary:1:recoveries"] == "1")
        #expect(last["primary:1:pending_deletes"] == "0")
    }

    @Test func requestTimeoutsAreCountedPerServer() throws {
        let (port, listener) = try Sockets.silentListenerOnFreePort()
        defer { close(listener) }
        let magent = try Magent(["-t", "1", "-s", "127.0.0.1:\(port)", "--request-timeout", "200", "--failure-limit", "5"])
        defer { magent.stop() }
        try OperationsKit.send("get hung\r\n", port: magent.port, expect: "END\r\n")
        let stats = try OperationsKit.numbers("servers", port: magent.port)
        #expect(stats["primary:1:timeouts"] == 1)
        #expect(stats["primary:1:failed_requests"] == 1)
        #expect(stats["primary:1:errors"] == 0)
    }

    // MARK: - Prometheus

    @Test func metricsAreServedToCurlAndMove() throws {
        let metricsPort = try Ports.free()
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2", "--metrics-port", String(metricsPort)])
        defer { cluster.stop() }
        let first = try OperationsKit.fetch(port: metricsPort)
        #expect(first.status == 200)
        let lines = first.body.split(separator: "\n").map(String.init)
        // Every sample belongs to a family announced with HELP and TYPE.
        var helped = Set<String>()
        var typed = Set<String>()
        var histograms = Set<String>()
        for line in lines {
            let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
            if line.hasPrefix("# HELP ") { helped.insert(parts[2]) }
            if line.hasPrefix("# TYPE ") {
                typed.insert(parts[2])
                #expect(["counter", "gauge", "histogram"].contains(parts[3]), "\(line)")
                #expect(!parts[2].hasSuffix("_total") || parts[3] == "counter", "\(line)")
                if parts[3] == "histogram" { histograms.insert(parts[2]) }
            }
            if !line.hasPrefix("#") {
                var name = String(line.prefix { $0 != "{" && $0 != " " })
                for suffix in ["_bucket", "_sum", "_count"] where name.hasSuffix(suffix) {
                    let family = String(name.dropLast(suffix.count))
                    if histograms.contains(family) { name = family }
                }
                #expect(name.hasPrefix("magent_"), "\(line)")
                #expect(helped.contains(name) && typed.contains(name), "no HELP/TYPE before \(line)")
            }
        }
        #expect(histograms == ["magent_request_duration_seconds", "magent_server_round_trip_seconds"])
        let primary = "server=\"\(cluster.primaries[0].address)\",role=\"primary\",index=\"1\""
        let backup = "server=\"\(cluster.backups[0].address)\",role=\"backup\",index=\"1\""
        let before = OperationsKit.samples(first.body)
        #expect(before["magent_server_up{\(primary)}"] == 1)
        #expect(before["magent_server_up{\(backup)}"] == 1)
        #expect(before["magent_threads"] == 2)

        let key = cluster.keys(onPrimary: 0, count: 1, prefix: "metric")[0]
        try OperationsKit.send(Text.set(key, "value"), port: cluster.port, expect: "STORED\r\n")
        try OperationsKit.send("get \(key) metric:none\r\n", port: cluster.port, expect: Text.value(key, "value") + "END\r\n")
        let after = OperationsKit.samples(try OperationsKit.fetch(port: metricsPort).body)
        func delta(_ name: String) -> Double { (after[name] ?? 0) - (before[name] ?? 0) }
        #expect(delta("magent_commands_total{command=\"set\"}") == 1)
        #expect(delta("magent_commands_total{command=\"get\"}") == 1)
        #expect(delta("magent_get_keys_total") == 2)
        #expect(delta("magent_get_hits_total") == 1)
        #expect(delta("magent_get_misses_total") == 1)
        #expect(delta("magent_connections_accepted_total") == 2)
        #expect(delta("magent_bytes_read_total") > 0)
        #expect(delta("magent_server_requests_total{\(primary)}") >= 2)
        #expect(delta("magent_server_requests_total{\(backup)}") == 1)

        // The primary is marked down: server_up drops to 0. Stopped, not killed:
        // a killed server's port can be taken by a memcached another test starts,
        // which the proxy would rightly see as the server back.
        cluster.primaries[0].pause()
        defer { cluster.primaries[0].resume() }
        for _ in 0..<2 { try OperationsKit.send("get \(key)\r\n", port: cluster.port, expect: Text.hit(key, "value")) }
        var down: [String: Double] = [:]
        #expect(waitUntil(timeout: 5, interval: 0.1) {
            down = OperationsKit.samples((try? OperationsKit.fetch(port: metricsPort).body) ?? "")
            return down["magent_server_up{\(primary)}"] == 0
        }, "\(down.filter { $0.key.hasPrefix("magent_server_") && $0.key.contains(primary) })")
        #expect(down["magent_server_marked_down_total{\(primary)}"] == 1)
        #expect((down["magent_backup_reads_total"] ?? 0) >= 1)

        #expect(try OperationsKit.fetch(port: metricsPort, path: "/").status == 404)
        #expect(try OperationsKit.fetch(port: metricsPort, path: "/metricsx").status == 404)
    }

    /// Issue 16: after gets, sets and deletes the latency histograms count
    /// them, and every histogram is well-formed by the exposition format's rules.
    @Test func latencyHistogramsAreWellFormedAndCountRequests() throws {
        let metricsPort = try Ports.free()
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2", "--metrics-port", String(metricsPort)])
        defer { cluster.stop() }
        let client = try TextClient(port: cluster.port, timeout: 5)
        defer { client.close() }
        let requests = 20
        for index in 0..<requests {
            client.expect(Text.set("latency:\(index)", "v\(index)"), "STORED\r\n")
            client.expect("get latency:\(index)\r\n", Text.hit("latency:\(index)", "v\(index)"))
        }
        for index in 0..<5 { client.expect("delete latency:\(index)\r\n", "DELETED\r\n") }
        client.expect("verbosity 1\r\n", "OK\r\n")
        let body = try OperationsKit.fetch(port: metricsPort).body

        let series = try OperationsKit.histograms(body)
        // Per command family and per server, every family present.
        #expect(series.keys.filter { $0.name == "magent_request_duration_seconds" }.count == RequestFamily.allCases.count)
        #expect(series.keys.filter { $0.name == "magent_server_round_trip_seconds" }.count == 3)
        for (key, histogram) in series {
            let les = histogram.buckets.map(\.le)
            #expect(les.last == .infinity, "\(key): last bucket is not +Inf")
            #expect(les == les.sorted() && Set(les).count == les.count, "\(key): bounds not ascending")
            let counts = histogram.buckets.map(\.count)
            #expect(counts == counts.sorted(), "\(key): buckets not cumulative: \(counts)")
            #expect(counts.last == histogram.count, "\(key): +Inf \(counts.last ?? -1) != _count \(histogram.count)")
            #expect(histogram.sum >= 0 && (histogram.count > 0 || histogram.sum == 0), "\(key): _sum \(histogram.sum)")
        }
        func count(_ name: String, _ labels: String) -> Double { series[.init(name: name, labels: labels)]?.count ?? -1 }
        let request = "magent_request_duration_seconds"
        #expect(count(request, "command=\"get\"") >= Double(requests))
        #expect(count(request, "command=\"set\"") >= Double(requests))
        #expect(count(request, "command=\"delete\"") >= 5)
        #expect(count(request, "command=\"other\"") >= 1)
        // Each set and get went to a primary, each set and delete also to the backup.
        let roundTrip = "magent_server_round_trip_seconds"
        let primaries = cluster.primaries.map { count(roundTrip, "server=\"\($0.address)\",role=\"primary\"") }
        #expect(primaries.allSatisfy { $0 >= 0 } && primaries.reduce(0, +) >= Double(2 * requests + 5), "\(primaries)")
        #expect(count(roundTrip, "server=\"\(cluster.backups[0].address)\",role=\"backup\"") >= Double(requests + 5))
    }

    @Test func metricsPortInUseIsAStartupError() throws {
        let (busy, listener) = try Sockets.silentListenerOnFreePort()
        defer { close(listener) }
        let result = try runToCompletion(try Environment.magentBinary(),
                                         ["-D", "-l", "127.0.0.1", "-p", String(try Ports.free()), "-s", "127.0.0.1:11211",
                                          "--metrics-port", String(busy)], timeout: 10)
        #expect(result.exitCode == 1)
        #expect(result.standardError.contains("cannot listen on 127.0.0.1:\(busy) for metrics"), "\(result.standardError)")
    }

    // MARK: - Health check for keepalived

    @Test func healthCheckPassesOnAHealthyProxy() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let result = try OperationsKit.check(["-t", "3", "127.0.0.1", String(cluster.port)])
        #expect(result.exitCode == 0, "\(result.standardError)")
        #expect(result.standardError.isEmpty)
        // Both primaries are needed and both are up.
        #expect(try OperationsKit.check(["-m", "2", "127.0.0.1", String(cluster.port)]).exitCode == 0)
        #expect(try OperationsKit.check(["-m", "3", "127.0.0.1", String(cluster.port)]).exitCode == 1)
    }

    @Test func healthCheckFailsWhenEveryPrimaryIsDown() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "1", "--failure-limit", "1"])
        defer { cluster.stop() }
        cluster.primaries.forEach { $0.kill() }
        // A request to each primary finds it gone and marks it down.
        for index in 0..<2 {
            let key = cluster.keys(onPrimary: index, count: 1, prefix: "hc")[0]
            try OperationsKit.send("get \(key)\r\n", port: cluster.port, expect: "END\r\n")
        }
        let result = try OperationsKit.check(["-t", "3", "127.0.0.1", String(cluster.port)])
        #expect(result.exitCode == 1, "\(result.standardError)")
        #expect(result.standardError.contains("0 of 2 primaries in use"), "\(result.standardError)")
        #expect(try OperationsKit.check(["-q", "127.0.0.1", String(cluster.port)]).standardError.isEmpty)
    }

    @Test func healthCheckFailsWhenNothingListens() throws {
        let port = try Ports.free()
        let result = try OperationsKit.check(["-t", "2", "127.0.0.1", String(port)])
        #expect(result.exitCode == 2)
        #expect(result.standardError.contains("cannot connect"), "\(result.standardError)")
    }

    @Test func healthCheckGivesUpOnAHungListenerInTime() throws {
        let (port, listener) = try Sockets.silentListenerOnFreePort()
        defer { close(listener) }
        let result = try OperationsKit.check(["-t", "1", "127.0.0.1", String(port)])
        #expect(result.exitCode == 2)
        #expect(result.standardError.contains("no answer within 1 s"), "\(result.standardError)")
        #expect(result.seconds < 5, "took \(result.seconds) s")
    }

    @Test func healthCheckRefusesBadUsage() throws {
        for arguments in [["-t", "x"], ["-m", "-1"], ["127.0.0.1", "70000"], ["a", "1", "extra"]] {
            #expect(try OperationsKit.check(arguments).exitCode == 64, "\(arguments)")
        }
    }
}
