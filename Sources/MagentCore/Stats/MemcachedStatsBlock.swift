// The reply to a plain `stats` under `stats-format = memcached`: memcached's
// own STAT lines, which getStats()-style clients and monitoring templates
// parse, then every server's lines as `stats servers` gives them.

public enum MemcachedStatsBlock {
    /// Storage commands, counted together as memcached's `cmd_set` counts them.
    static let storageCommands: [Command] = [.set, .add, .replace, .append, .prepend, .cas, .metaSet]

    /// Every value is one token (no space), so each client's parser reads it
    /// whole. The proxy's own figures (process, connections, requests, hits as
    /// its clients saw them) come from `snapshot`; what only the servers know
    /// (items, bytes, memory) is `backends`, summed over the primaries.
    static func render(_ snapshot: StatsSnapshot, backends: BackendStatsTotals) -> String {
        var lines = StatLines()
        lines.add("pid", snapshot.pid)
        lines.add("uptime", snapshot.uptimeSeconds)
        lines.add("time", snapshot.time)
        lines.add("version", MagentVersion.number)
        lines.add("pointer_size", MemoryLayout<Int>.size * 8)
        lines.add("rusage_user", seconds(microseconds: snapshot.userCPUMicroseconds))
        lines.add("rusage_system", seconds(microseconds: snapshot.systemCPUMicroseconds))
        lines.add("max_connections", snapshot.maxConnections)
        lines.add("curr_connections", snapshot.currentConnections)
        lines.add("total_connections", snapshot.counters[.totalConnections] ?? 0)
        lines.add("rejected_connections", snapshot.counters[.rejectedConnections] ?? 0)
        // memcached counts cmd_get per key asked, so cmd_get = get_hits + get_misses.
        lines.add("cmd_get", snapshot.counters[.getKeys] ?? 0)
        lines.add("cmd_set", storageCommands.reduce(0) { $0 + snapshot.count($1) })
        lines.add("cmd_flush", snapshot.count(.flushAll))
        lines.add("cmd_touch", snapshot.count(.touch))
        lines.add("get_hits", snapshot.counters[.getHits] ?? 0)
        lines.add("get_misses", snapshot.getMisses)
        lines.add("bytes_read", snapshot.counters[.bytesRead] ?? 0)
        lines.add("bytes_written", snapshot.counters[.bytesWritten] ?? 0)
        lines.add("threads", snapshot.threads)
        for (index, name) in BackendStatsTotals.names.enumerated() {
            lines.add(name, backends.values[index])
        }
        // How many primaries the sums cover: one down, or not answering within
        // the request timeout, is left out (its state says why).
        lines.add("primaries_summed", backends.servers)
        ServerStatsBlock.add(snapshot, to: &lines)
        return lines.ended
    }

    /// "12.034567": seconds with six decimals, as memcached writes rusage.
    static func seconds(microseconds: Int) -> String {
        let fraction = String(microseconds % 1_000_000)
        return "\(microseconds / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}
