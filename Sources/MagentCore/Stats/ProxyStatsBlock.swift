// The reply to `stats proxy`: the proxy's own counters (connections, commands,
// hits, bytes, failovers, limits) in memcached's STAT format.

public enum ProxyStatsBlock {
    public static func render(context: ProxyContext) -> String {
        render(StatsSnapshot(context: context))
    }

    static func render(_ snapshot: StatsSnapshot) -> String {
        var text = "STAT pid \(snapshot.pid)\r\n"
        text += "STAT uptime \(snapshot.uptimeSeconds)\r\n"
        text += "STAT time \(snapshot.time)\r\n"
        text += "STAT version \(MagentVersion.number)\r\n"
        text += "STAT threads \(snapshot.threads)\r\n"
        text += "STAT curr_connections \(snapshot.currentConnections)\r\n"
        text += "STAT max_connections \(snapshot.maxConnections)\r\n"
        for counter in [ProxyCounter.totalConnections, .rejectedConnections] {
            text += "STAT \(counter.name) \(snapshot.counters[counter] ?? 0)\r\n"
        }
        for (command, count) in snapshot.commands {
            text += "STAT cmd_\(command.verb) \(count)\r\n"
        }
        text += "STAT get_keys \(snapshot.counters[.getKeys] ?? 0)\r\n"
        text += "STAT get_hits \(snapshot.counters[.getHits] ?? 0)\r\n"
        text += "STAT get_misses \(snapshot.getMisses)\r\n"
        for counter in ProxyCounter.allCases where ![.totalConnections, .rejectedConnections, .getKeys, .getHits].contains(counter) {
            text += "STAT \(counter.name) \(snapshot.counters[counter] ?? 0)\r\n"
        }
        text += "STAT servers_up \(snapshot.serversUp)\r\n"
        text += "STAT servers_down \(snapshot.servers.count - snapshot.serversUp)\r\n"
        text += "STAT pending_deletes_dropped \(snapshot.pendingDeletesDropped)\r\n"
        return text + "END\r\n"
    }
}
