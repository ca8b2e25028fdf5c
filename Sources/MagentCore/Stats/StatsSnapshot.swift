// Every counter the operator sees, read once (each summed over threads), so
// `stats proxy`, `stats servers` and /metrics report the same numbers.
import Glibc

public struct StatsSnapshot: Sendable {
    public struct Server: Sendable {
        public var role: ServerRole
        /// 1-based position in its own list (-s or -b).
        public var index: Int
        public var address: String
        /// "up", "down", "overflowed" or "recovering" (ServerHealth.stateName).
        public var state: String
        public var counters: [ServerCounter: Int]
        public var idleConnections: Int
        /// Times marked down after --failure-limit failures in a row.
        public var markedDown: Int
        /// Times found restarted or back after being down (recovering).
        public var recoveries: Int
        public var refillCopied: Int
        public var refillLeft: Int
        /// Deletes kept for it while it was unreachable.
        public var pendingDeletes: Int
        /// Writes it missed (unreachable, or a request to it failed), kept:
        /// its copies of those keys are dropped or copied over when it is back.
        public var missedWrites: Int
        /// Round trips of requests sent to it (magent_server_round_trip_seconds).
        public var roundTrips = LatencyHistogram.Counts()

        /// "primary:1", "backup:2": the STAT prefix.
        public var statName: String { "\(role == .primary ? "primary" : "backup"):\(index)" }
        public var roleName: String { role == .primary ? "primary" : "backup" }
    }

    public var pid: Int
    public var uptimeSeconds: Int
    public var time: Int
    public var threads: Int
    public var currentConnections: Int
    public var maxConnections: Int
    public var counters: [ProxyCounter: Int]
    public var commands: [(command: Command, count: Int)]
    public var servers: [Server]
    public var pendingDeletesDropped: Int
    /// Client request latency by command family (magent_request_duration_seconds).
    public var requestLatency: [(family: RequestFamily, counts: LatencyHistogram.Counts)] = []
    /// CPU time the process used, user and system, in microseconds.
    public var userCPUMicroseconds: Int
    public var systemCPUMicroseconds: Int

    /// Keys asked for that came back empty.
    public var getMisses: Int { Swift.max(0, (counters[.getKeys] ?? 0) - (counters[.getHits] ?? 0)) }
    /// In use: not marked down, and not out of use until flushed.
    public var serversUp: Int { servers.filter { $0.state != "down" && $0.state != "overflowed" }.count }

    /// Requests of `command`.
    public func count(_ command: Command) -> Int { commands.first { $0.command == command }?.count ?? 0 }
}

extension StatsSnapshot {
    /// Reads every counter now (outside the struct: the tests build snapshots
    /// with the memberwise initializer).
    public init(context: ProxyContext) {
        let stats = context.stats
        pid = Int(getpid())
        uptimeSeconds = stats.uptimeSeconds
        time = Glibc.time(nil)
        threads = context.configuration.threads
        currentConnections = stats.clientConnections.current
        maxConnections = context.configuration.maxConnections
        var counters: [ProxyCounter: Int] = [:]
        for counter in ProxyCounter.allCases { counters[counter] = stats.total(counter) }
        self.counters = counters
        commands = Command.allCases.map { ($0, stats.total($0)) }
        let topology = context.generation.topology
        servers = (Array(topology.primaries.enumerated()) + Array(topology.backups.enumerated())).map { index, server in
            var counters: [ServerCounter: Int] = [:]
            for counter in ServerCounter.allCases { counters[counter] = stats.total(server: server.id, counter) }
            return Server(role: server.role, index: index + 1, address: server.address.displayName,
                          state: server.health.stateName, counters: counters,
                          idleConnections: stats.idleConnections(toServer: server.id),
                          markedDown: server.health.markedDown.current, recoveries: server.health.recoveries.current,
                          refillCopied: server.health.refillCopied.current, refillLeft: server.health.refillLeft.current,
                          pendingDeletes: context.pendingDeletes.deleteCount(server: server.id),
                          missedWrites: context.pendingDeletes.missedWriteCount(server: server.id),
                          roundTrips: stats.roundTrips(server: server.id))
        }
        requestLatency = RequestFamily.allCases.map { ($0, stats.requestLatency($0)) }
        pendingDeletesDropped = context.pendingDeletes.overflows.current
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        userCPUMicroseconds = Int(usage.ru_utime.tv_sec) * 1_000_000 + Int(usage.ru_utime.tv_usec)
        systemCPUMicroseconds = Int(usage.ru_stime.tv_sec) * 1_000_000 + Int(usage.ru_stime.tv_usec)
    }
}
