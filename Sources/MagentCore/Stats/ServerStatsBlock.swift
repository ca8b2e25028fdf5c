// The reply to `stats servers`: every server's state, traffic, failures,
// replication backlog and refill progress in memcached's STAT format.

public enum ServerStatsBlock {
    public static func render(context: ProxyContext) -> String {
        render(StatsSnapshot(context: context))
    }

    static func render(_ snapshot: StatsSnapshot) -> String {
        var text = ""
        for server in snapshot.servers {
            let name = server.statName
            text += "STAT \(name):address \(server.address)\r\n"
            text += "STAT \(name):state \(server.state)\r\n"
            text += "STAT \(name):refill_copied \(server.refillCopied)\r\n"
            text += "STAT \(name):refill_left \(server.refillLeft)\r\n"
            text += "STAT \(name):pending_deletes \(server.pendingDeletes)\r\n"
            for counter in ServerCounter.allCases {
                text += "STAT \(name):\(counter.name) \(server.counters[counter] ?? 0)\r\n"
            }
            text += "STAT \(name):idle_connections \(server.idleConnections)\r\n"
            text += "STAT \(name):marked_down \(server.markedDown)\r\n"
            text += "STAT \(name):recoveries \(server.recoveries)\r\n"
        }
        text += "STAT pending_deletes_dropped \(snapshot.pendingDeletesDropped)\r\n"
        return text + "END\r\n"
    }
}
