// The reply to `stats proxy`: the proxy's own counters (connections, commands,
// hits, bytes, failovers, limits) in memcached's STAT format.

public enum ProxyStatsBlock {
    public static func render(context: ProxyContext) -> String {
        render(StatsSnapshot(context: context))
    }

    static func render(_ snapshot: StatsSnapshot) -> String {
        var lines = StatLines()
        lines.add("pid", snapshot.pid)
        lines.add("uptime", snapshot.uptimeSeconds)
        lines.add("time", snapshot.time)
        lines.add("version", MagentVersion.number)
        lines.add("threads", snapshot.threads)
        lines.add("curr_connections", snapshot.currentConnections)
        lines.add("max_connections", snapshot.maxConnections)
        for counter in [ProxyCounter.totalConnections, .rejectedConnections] {
            lines.add(counter.name, snapshot.counters[counter] ?? 0)
        }
        for (command, count) in snapshot.commands {
            lines.add("cmd_\(command.verb)", count)
        }
        lines.add("get_keys", snapshot.counters[.getKeys] ?? 0)
        lines.add("get_hits", snapshot.counters[.getHits] ?? 0)
        lines.add("get_misses", snapshot.getMisses)
        for counter in ProxyCounter.allCases where ![.totalConnections, .rejectedConnections, .getKeys, .getHits].contains(counter) {
            lines.add(counter.name, snapshot.counters[counter] ?? 0)
        }
        lines.add("servers_up", snapshot.serversUp)
        lines.add("servers_down", snapshot.servers.count - snapshot.serversUp)
        lines.add("pending_deletes_dropped", snapshot.pendingDeletesDropped)
        return lines.ended
    }
}
