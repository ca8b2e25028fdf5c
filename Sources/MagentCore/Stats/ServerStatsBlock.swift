// The reply to `stats servers`: every server's state and refill progress in
// memcached's STAT format.

public enum ServerStatsBlock {
    public static func render(context: ProxyContext) -> String {
        var text = ""
        let topology = context.generation.topology
        for (index, server) in Array(topology.primaries.enumerated()) + Array(topology.backups.enumerated()) {
            let name = "\(server.role == .primary ? "primary" : "backup"):\(index + 1)"
            text += "STAT \(name):address \(server.address.displayName)\r\n"
            text += "STAT \(name):state \(server.health.stateName)\r\n"
            text += "STAT \(name):refill_copied \(server.health.refillCopied.current)\r\n"
            text += "STAT \(name):refill_left \(server.health.refillLeft.current)\r\n"
            text += "STAT \(name):pending_deletes \(context.pendingDeletes.count(server: server.id))\r\n"
        }
        text += "STAT pending_deletes_dropped \(context.pendingDeletes.overflows.current)\r\n"
        return text + "END\r\n"
    }
}
