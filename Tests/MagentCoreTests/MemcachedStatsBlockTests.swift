// MemcachedStatsBlock: plain `stats` under `stats-format = memcached`, as
// memcached's STAT lines every client parses, with the proxy's own figures,
// the primaries' sums and the `stats servers` lines after them.

import Testing
@testable import MagentCore

/// A proxy with two primaries and a backup, one primary down.
func sampleSnapshot() -> StatsSnapshot {
    func server(_ role: ServerRole, _ index: Int, _ address: String, _ state: String, requests: Int) -> StatsSnapshot.Server {
        var counters: [ServerCounter: Int] = [:]
        for counter in ServerCounter.allCases { counters[counter] = 0 }
        counters[.requests] = requests
        return StatsSnapshot.Server(role: role, index: index, address: address, state: state, counters: counters,
                                    idleConnections: 1, markedDown: state == "down" ? 1 : 0, recoveries: 0,
                                    refillCopied: 0, refillLeft: 0, pendingDeletes: 0, missedWrites: 0)
    }
    var counters: [ProxyCounter: Int] = [:]
    for counter in ProxyCounter.allCases { counters[counter] = 0 }
    counters[.totalConnections] = 12
    counters[.rejectedConnections] = 1
    counters[.getKeys] = 30
    counters[.getHits] = 21
    counters[.bytesRead] = 4096
    counters[.bytesWritten] = 8192
    var commands = Command.allCases.map { (command: $0, count: 0) }
    for (index, entry) in commands.enumerated() {
        switch entry.command {
        case .set: commands[index].count = 5
        case .add, .cas, .metaSet: commands[index].count = 1
        case .touch: commands[index].count = 2
        case .flushAll: commands[index].count = 1
        case .get: commands[index].count = 25
        default: break
        }
    }
    return StatsSnapshot(pid: 4242, uptimeSeconds: 61, time: 1_800_000_000, threads: 2, currentConnections: 3,
                         maxConnections: 4096, counters: counters, commands: commands,
                         servers: [server(.primary, 1, "127.0.0.1:21201", "up", requests: 40),
                                   server(.primary, 2, "[::1]:21202", "down", requests: 2),
                                   server(.backup, 1, "cache-b:21311", "recovering", requests: 9)],
                         pendingDeletesDropped: 0, userCPUMicroseconds: 1_250_000, systemCPUMicroseconds: 30)
}

private func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

@Suite struct MemcachedStatsBlockTests {
    private func totals(_ replies: [String]) -> BackendStatsTotals {
        var totals = BackendStatsTotals()
        for reply in replies { bytes(reply).withUnsafeBytes { totals.add(reply: $0) } }
        return totals
    }

    @Test("memcached's names first, then the primaries' sums, then stats servers' lines as they are")
    func wholeBlock() {
        let snapshot = sampleSnapshot()
        let backends = totals(["STAT pid 1\r\nSTAT limit_maxbytes 67108864\r\nSTAT bytes 100\r\nSTAT curr_items 3\r\n"
                               + "STAT total_items 7\r\nSTAT evictions 0\r\nEND\r\n"])
        let text = MemcachedStatsBlock.render(snapshot, backends: backends)
        let head = """
            STAT pid 4242\r
            STAT uptime 61\r
            STAT time 1800000000\r
            STAT version \(MagentVersion.number)\r
            STAT pointer_size 64\r
            STAT rusage_user 1.250000\r
            STAT rusage_system 0.000030\r
            STAT max_connections 4096\r
            STAT curr_connections 3\r
            STAT total_connections 12\r
            STAT rejected_connections 1\r
            STAT cmd_get 30\r
            STAT cmd_set 8\r
            STAT cmd_flush 1\r
            STAT cmd_touch 2\r
            STAT get_hits 21\r
            STAT get_misses 9\r
            STAT bytes_read 4096\r
            STAT bytes_written 8192\r
            STAT threads 2\r
            STAT limit_maxbytes 67108864\r
            STAT bytes 100\r
            STAT curr_items 3\r
            STAT total_items 7\r
            STAT evictions 0\r
            STAT primaries_summed 1\r

            """
        #expect(text.hasPrefix(head), "\(text)")
        // The server matrix is stats servers' own rendering, not a copy of it.
        let servers = ServerStatsBlock.render(snapshot)
        #expect(text == head + servers)
        #expect(text.contains("STAT primary:1:address 127.0.0.1:21201\r\nSTAT primary:1:state up\r\n"))
        #expect(text.contains("STAT primary:2:address [::1]:21202\r\nSTAT primary:2:state down\r\n"))
        #expect(text.contains("STAT backup:1:address cache-b:21311\r\nSTAT backup:1:state recovering\r\n"))
    }

    /// What every client needs: `STAT <name> <value>`, name and value one token
    /// each (no space, no control byte), every line ending in \r\n, then END.
    @Test("every line is one name and one value token")
    func everyLineParses() {
        let text = MemcachedStatsBlock.render(sampleSnapshot(), backends: BackendStatsTotals())
        #expect(text.hasSuffix("\r\nEND\r\n"))
        let lines = text.split(separator: "\r\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.last == "END")
        var names = Set<String>()
        for line in lines.dropLast() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: false)
            #expect(fields.count == 3 && fields[0] == "STAT", "\(line)")
            #expect(!line.utf8.contains { $0 < 32 || $0 == 127 }, "\(line)")
            if fields.count == 3 {
                #expect(!fields[1].isEmpty && !fields[2].isEmpty, "\(line)")
                #expect(names.insert(String(fields[1])).inserted, "\(fields[1]) twice")
            }
        }
        for name in ["pid", "uptime", "time", "version", "pointer_size", "threads", "curr_connections", "total_connections",
                     "cmd_get", "cmd_set", "get_hits", "get_misses", "curr_items", "bytes", "limit_maxbytes"] {
            #expect(names.contains(name), "\(name) is missing")
        }
    }

    @Test("no primary answered: the sums are 0 over 0 primaries")
    func nothingSummed() {
        let text = MemcachedStatsBlock.render(sampleSnapshot(), backends: BackendStatsTotals())
        #expect(text.contains("STAT limit_maxbytes 0\r\nSTAT bytes 0\r\nSTAT curr_items 0\r\nSTAT total_items 0\r\nSTAT evictions 0\r\nSTAT primaries_summed 0\r\n"))
    }

    @Test("rusage is seconds with six decimals", arguments: [(0, "0.000000"), (7, "0.000007"), (999_999, "0.999999"),
                                                            (1_000_000, "1.000000"), (123_456_789, "123.456789")])
    func rusageSeconds(_ microseconds: Int, _ expected: String) {
        #expect(MemcachedStatsBlock.seconds(microseconds: microseconds) == expected)
    }
}

@Suite struct BackendStatsTotalsTests {
    private func add(_ replies: [String]) -> BackendStatsTotals {
        var totals = BackendStatsTotals()
        for reply in replies { bytes(reply).withUnsafeBytes { totals.add(reply: $0) } }
        return totals
    }

    @Test("the summed names over two replies; every other name is left out")
    func twoServers() {
        let totals = add([
            "STAT pid 100\r\nSTAT curr_items 3\r\nSTAT bytes 210\r\nSTAT limit_maxbytes 67108864\r\nSTAT evictions 1\r\nSTAT total_items 9\r\nEND\r\n",
            "STAT pid 200\r\nSTAT curr_items 4\r\nSTAT bytes 90\r\nSTAT limit_maxbytes 134217728\r\nSTAT evictions 0\r\nSTAT total_items 4\r\n",
        ])
        #expect(totals.servers == 2)
        #expect(totals.value("curr_items") == 7)
        #expect(totals.value("bytes") == 300)
        #expect(totals.value("limit_maxbytes") == 201_326_592)
        #expect(totals.value("evictions") == 1)
        #expect(totals.value("total_items") == 13)
        #expect(totals.value("pid") == 0)
        #expect(totals.values.count == BackendStatsTotals.names.count)
    }

    @Test("lines that are not a summed STAT with a decimal value are skipped", arguments: [
        "STAT curr_items x\r\n", "STAT curr_items -1\r\n", "STAT curr_items\r\n", "STAT curr_items_more 5\r\n",
        "STATS curr_items 5\r\n", "curr_items 5\r\n", " \r\n", "STAT  \r\n", "STAT curr_items 99999999999999999999999\r\n",
        "STAT curr_itemsX 5\r\n", "STAT curr_items 5x\r\n", "STAT Curr_items 5\r\n",
    ])
    func skipped(_ line: String) {
        let totals = add(["STAT bytes 1\r\n" + line + "STAT curr_items 2\r\n"])
        #expect(totals.value("curr_items") == 2, "\(line)")
        #expect(totals.value("bytes") == 1)
        #expect(totals.servers == 1)
    }

    @Test("a reply without STAT lines (a failed server) counts for nothing", arguments: ["", "END\r\n", "ERROR\r\n"])
    func notCounted(_ reply: String) {
        let totals = add([reply])
        #expect(totals.servers == 0)
        #expect(totals == BackendStatsTotals())
    }

    @Test("a line end without \\r, and a last line without its end, are read")
    func lineEnds() {
        let totals = add(["STAT curr_items 2\nSTAT bytes 5"])
        #expect(totals.value("curr_items") == 2)
        #expect(totals.value("bytes") == 5)
    }

    @Test("a sum past Int.max stays at Int.max")
    func saturates() {
        let totals = add(["STAT bytes \(UInt64.max)\r\n", "STAT bytes 1\r\n"])
        #expect(totals.value("bytes") == Int.max)
    }
}
