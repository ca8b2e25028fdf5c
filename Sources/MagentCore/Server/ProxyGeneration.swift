// What a reload may change, published as one immutable value: the servers and
// their placement, and the settings read at runtime (timeouts, refill rate...).
// Workers adopt a new generation between requests; requests already forwarded
// finish on the servers they were sent to.

public final class ProxyGeneration: Sendable {
    /// 0 at start-up, then one more per successful reload.
    public let number: Int
    /// The configuration as read, with the settings that need a restart kept
    /// from start-up (see ConfigurationSetting.needsRestart).
    public let configuration: Configuration
    public let topology: ServerTopology

    init(number: Int, configuration: Configuration, topology: ServerTopology) {
        self.number = number
        self.configuration = configuration
        self.topology = topology
    }
}
