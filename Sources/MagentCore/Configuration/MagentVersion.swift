// The version this build reports in `version`, `stats` and `-h`.

public enum MagentVersion {
    public static let number = "1.0.0"
    /// The first line of `stats` and of `-h` (before the build date).
    public static let banner = "memcached agent v\(number)"
}
