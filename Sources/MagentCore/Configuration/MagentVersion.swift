// The version this build reports in `version`, `stats` and `-h`.

public enum MagentVersion {
    public static let number = "1.0.0"
    /// The first line of `stats` and of `-h` (before the build date).
    public static let banner = "memcached agent v\(number)"
    /// The memcached protocol this proxy speaks, as clients read it from `version`.
    public static let protocolVersion = "1.6.0"
    /// The reply to `version`: a memcached version number first, because
    /// clients read "VERSION <major>.<minor>.<micro>" to decide what the server
    /// understands (libmemcached, memccapable), then who is answering.
    public static let versionReply = "VERSION \(protocolVersion) \(banner)\r\n"
}
