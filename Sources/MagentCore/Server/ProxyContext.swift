// What every thread of one proxy shares: its start-up configuration, the
// current generation (servers and runtime settings, replaced by a reload),
// counters and logger.

public final class ProxyContext: Sendable {
    /// As started: what needs a restart (listeners, threads, -n, -i) is read here.
    public let configuration: Configuration
    public let stats: ProxyStats
    public let logger: Logger
    /// Deletes servers missed while unreachable (see PendingDeletes).
    public let pendingDeletes: PendingDeletes
    /// Keys the refiller is copying to a recovering server (see KeysBeingCopied).
    public let keysBeingCopied: KeysBeingCopied
    /// flush_all broadcasts begun and running (the refill watches them).
    let flushes = FlushActivity()
    /// "VERSION <version> memcached agent\r\n"
    let versionReply: [UInt8]
    private let current: ThreadLock<ProxyGeneration>

    init(configuration: Configuration, generation: ProxyGeneration) {
        self.configuration = configuration
        stats = ProxyStats(workers: configuration.threads, servers: ServerRegistry.capacity)
        logger = Logger(level: configuration.logLevel, syslog: configuration.syslog)
        pendingDeletes = PendingDeletes(servers: ServerRegistry.capacity, limitPerServer: configuration.keptKeysLimit)
        keysBeingCopied = KeysBeingCopied(servers: ServerRegistry.capacity)
        versionReply = Array(MagentVersion.versionReply.utf8)
        current = ThreadLock(generation)
    }

    /// The generation published last. Workers keep their own copy, adopted
    /// when the main thread tells them; other threads ask here.
    public var generation: ProxyGeneration { current.withLock { $0 } }

    func publish(_ generation: ProxyGeneration) { current.withLock { $0 = generation } }
}
