// The reply to `stats servers`: every server's state, traffic, failures,
// replication backlog and refill progress in memcached's STAT format.

public enum ServerStatsBlock {
    public static func render(context: ProxyContext) -> String {
        render(StatsSnapshot(context: context))
    }

    static func render(_ snapshot: StatsSnapshot) -> String {
        var lines = StatLines()
        add(snapshot, to: &lines)
        return lines.ended
    }

    /// The lines without their END: memcached-format `stats` ends with them.
    static func add(_ snapshot: StatsSnapshot, to lines: inout StatLines) {
        for server in snapshot.servers {
            let name = server.statName
            lines.add(name, "address", server.address)
            lines.add(name, "state", server.state)
            lines.add(name, "refill_copied", server.refillCopied)
            lines.add(name, "refill_left", server.refillLeft)
            lines.add(name, "pending_deletes", server.pendingDeletes)
            lines.add(name, "missed_writes", server.missedWrites)
            for counter in ServerCounter.allCases {
                lines.add(name, counter.name, server.counters[counter] ?? 0)
            }
            lines.add(name, "idle_connections", server.idleConnections)
            lines.add(name, "marked_down", server.markedDown)
            lines.add(name, "recoveries", server.recoveries)
        }
        lines.add("pending_deletes_dropped", snapshot.pendingDeletesDropped)
    }
}
