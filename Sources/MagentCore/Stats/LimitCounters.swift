// How often each of the proxy's limits was hit, for `stats limits`: refused
// connections, over-long lines, over-large values, slow readers, stalled requests.

/// One relaxed atomic counter per limit (see Counter); the limit's own value
/// comes from the configuration when the block is rendered.
public final class LimitCounters: Sendable {
    /// -n: clients refused with SERVER_ERROR OUT OF CONNECTION.
    public let connectionsRefused = Counter()
    /// accept() failed for lack of descriptors (EMFILE, ENFILE, ...): listening paused.
    public let acceptPausedNoDescriptors = Counter()
    /// Command lines past the line limit: CLIENT_ERROR line too long, then closed.
    public let linesTooLong = Counter()
    /// Values past --max-value-size: SERVER_ERROR object too large for cache, value skipped.
    public let valuesTooLarge = Counter()
    /// Clients whose unread replies passed the pause threshold: reading paused.
    public let readingPausedForOutput = Counter()
    /// Clients whose unread replies passed the hard limit: disconnected.
    public let outputLimitDisconnects = Counter()
    /// Clients that left a request unfinished past --client-timeout: closed.
    public let clientTimeouts = Counter()

    public init() {}

    /// `STAT name value` lines: each limit's setting, then how often it was hit.
    public func render(configuration: Configuration) -> String {
        var lines = StatLines()
        let settings = [("limit_max_connections", configuration.maxConnections), ("limit_max_line", ProtocolLimits.maxCommandLine),
                        ("limit_max_retrieval_line", ProtocolLimits.maxRetrievalLine), ("limit_max_value_size", configuration.maxValueSize),
                        ("limit_output_pause", ClientLimits.pauseReadingAbove), ("limit_max_output", ClientLimits.maxPendingOutput),
                        ("limit_client_timeout_ms", configuration.clientTimeoutMilliseconds)]
        for (name, value) in settings { lines.add(name, value) }
        let counters = [("connections_refused", connectionsRefused), ("accept_paused_no_descriptors", acceptPausedNoDescriptors),
                        ("lines_too_long", linesTooLong), ("values_too_large", valuesTooLarge),
                        ("reading_paused_for_output", readingPausedForOutput),
                        ("output_limit_disconnects", outputLimitDisconnects), ("client_timeouts", clientTimeouts)]
        for (name, counter) in counters { lines.add(name, counter.current) }
        return lines.ended
    }
}
