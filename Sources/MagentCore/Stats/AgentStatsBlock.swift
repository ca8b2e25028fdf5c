// The reply to a plain `stats`: the original's server matrix, byte for byte.

public enum AgentStatsBlock {
    /// "memcached agent v<version>", then "matrix N -> host:port, pool size P"
    /// per primary in -s order, then END; every line ends in \r\n.
    public static func render(topology: ServerTopology, stats: ProxyStats) -> String {
        var text = MagentVersion.banner + "\r\n"
        for (index, server) in topology.primaries.enumerated() {
            text += "matrix \(index + 1) -> \(server.address.displayName), pool size \(stats.idleConnections(toServer: server.id))\r\n"
        }
        return text + "END\r\n"
    }
}
