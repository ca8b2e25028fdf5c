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
        var text = ""
        text += "STAT limit_max_connections \(configuration.maxConnections)\r\n"
        text += "STAT limit_max_line \(ProtocolLimits.maxCommandLine)\r\n"
        text += "STAT limit_max_retrieval_line \(ProtocolLimits.maxRetrievalLine)\r\n"
        text += "STAT limit_max_value_size \(configuration.maxValueSize)\r\n"
        text += "STAT limit_output_pause \(ClientLimits.pauseReadingAbove)\r\n"
        text += "STAT limit_max_output \(ClientLimits.maxPendingOutput)\r\n"
        text += "STAT limit_client_timeout_ms \(configuration.clientTimeoutMilliseconds)\r\n"
        text += "STAT connections_refused \(connectionsRefused.current)\r\n"
        text += "STAT accept_paused_no_descriptors \(acceptPausedNoDescriptors.current)\r\n"
        text += "STAT lines_too_long \(linesTooLong.current)\r\n"
        text += "STAT values_too_large \(valuesTooLarge.current)\r\n"
        text += "STAT reading_paused_for_output \(readingPausedForOutput.current)\r\n"
        text += "STAT output_limit_disconnects \(outputLimitDisconnects.current)\r\n"
        text += "STAT client_timeouts \(clientTimeouts.current)\r\n"
        return text + "END\r\n"
    }
}
