// What every thread of one proxy shares: its configuration, servers, counters
// and logger. Immutable apart from the atomic counters.

public final class ProxyContext: Sendable {
    public let configuration: Configuration
    public let topology: ServerTopology
    public let stats: ProxyStats
    public let logger: Logger
    /// Deletes servers missed while unreachable (see PendingDeletes).
    public let pendingDeletes: PendingDeletes
    /// "VERSION <version> memcached agent\r\n"
    let versionReply: [UInt8]

    public init(configuration: Configuration, topology: ServerTopology) {
        self.configuration = configuration
        self.topology = topology
        stats = ProxyStats(workers: configuration.threads, servers: topology.servers.count)
        logger = Logger(level: configuration.logLevel, syslog: configuration.syslog)
        pendingDeletes = PendingDeletes(servers: topology.servers.count)
        versionReply = Array(MagentVersion.versionReply.utf8)
    }
}
