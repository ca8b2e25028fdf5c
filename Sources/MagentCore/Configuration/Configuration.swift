// Everything the proxy is told at start-up, by the command line and the
// configuration file: magent's original options, with their defaults, plus ours.
import Glibc

public struct Configuration: Sendable, Equatable {
    /// -p: TCP port; 0 disables TCP.
    public var port = 11211
    /// -s, in order: the primaries.
    public var primaries: [ServerAddress] = []
    /// -b, in order: the backups.
    public var backups: [ServerAddress] = []
    /// -l: bind address.
    public var bindAddress = "0.0.0.0"
    /// -n: simultaneous client connections, TCP and unix together.
    public var maxConnections = 4096
    /// -D (or -v): stay in the foreground.
    public var foreground = false
    /// -k / --legacy-ketama.
    public var placement: PlacementMode = .modulo
    /// -f: unix socket path.
    public var unixSocketPath: String? = nil
    /// -i: connections kept per backend server by each worker.
    public var connectionsPerServer = 20
    /// -v (info), -vv (debug) or --log-level.
    public var logLevel = LogLevel.error
    /// --syslog: log lines also go to syslog (facility daemon).
    public var syslog = false
    /// -u / -g: names or numbers.
    public var user: String? = nil
    public var group: String? = nil
    /// -t: worker threads.
    public var threads = Configuration.defaultThreads
    /// --connect-timeout, milliseconds.
    public var connectTimeoutMilliseconds = 1000
    /// --request-timeout, milliseconds.
    public var requestTimeoutMilliseconds = 1000
    /// How long a server must answer after a failed request before what it
    /// holds counts as current: a request that timed out may still run there
    /// late (a frozen memcached runs its buffered requests when it thaws).
    public var settleMilliseconds: UInt64 { UInt64(2 * requestTimeoutMilliseconds) }
    /// --failure-limit: consecutive failures before a server is marked down.
    public var failureLimit = 2
    /// --miss-failover: ask the backup on every miss, not only while the primary recovers.
    public var missFailoverAlways = false
    /// --refill-rate: keys per second copied into a recovering server.
    public var refillRate = 5000
    /// --allow-control-keys: pass keys with control bytes (not NUL, CR, LF) as memcached does.
    public var allowControlKeys = false
    /// --metrics-port: the Prometheus /metrics HTTP port; nil when off.
    public var metricsPort: Int? = nil
    /// --metrics-address: where /metrics listens; nil means the -l address.
    public var metricsAddress: String? = nil

    /// -c / --config: the configuration file, as an absolute path (SIGHUP reads it again).
    public var configurationFile: String? = nil
    /// --client-timeout, milliseconds: how long a client may leave a request
    /// unfinished (a line without its end, a value without progress); 0 never.
    /// Idle clients between requests are kept, as memcached keeps them.
    public var clientTimeoutMilliseconds = 10_000
    /// --max-value-size, bytes: larger values are refused by the proxy itself.
    public var maxValueSize = 64 * 1024 * 1024
    /// --stats-format: what a plain `stats` answers; a reload changes it.
    public var statsFormat = StatsFormat.matrix
    /// --drain-timeout, milliseconds: how long SIGTERM (or SIGUSR2) lets open
    /// clients finish before the proxy exits; 0 exits at once.
    public var drainTimeoutMilliseconds = 5000
    /// --flush-all: flush_all empties every server (`all`), or is refused.
    public var flushAll = FlushAllMode.all
    /// --state-dir: where the keys each server missed are journaled, so a
    /// restarted proxy still repairs them (KeptKeysJournal); nil: memory only.
    public var stateDirectory: String? = nil
    /// --kept-keys-limit: keys kept per server (PendingDeletes); past it the
    /// server is flushed and refilled in full before it is used again.
    public var keptKeysLimit = 100_000

    public init() {}

    /// Online CPUs, at most 4.
    public static var defaultThreads: Int {
        let online = Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        return Swift.max(1, Swift.min(online, 4))
    }
}
