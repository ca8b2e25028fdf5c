// What a plain `stats` answers (--stats-format): the original's server matrix,
// which people read in telnet, or memcached's STAT lines, which clients parse.

public enum StatsFormat: String, Sendable, CaseIterable {
    /// magent 0.6's block, byte for byte (the default: a drop-in changes nothing).
    case matrix
    /// memcached's `STAT <name> <value>` lines and END, so getStats()-style
    /// clients and monitoring templates can read the proxy (MemcachedStatsBlock).
    case memcached

    /// The name `--stats-format` and the configuration file use.
    public var name: String { rawValue }

    public init?(name: String) { self.init(rawValue: name) }
}
