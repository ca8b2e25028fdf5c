// Protocol text the tests expect: the proxy's version line, VALUE blocks,
// storage commands and the agent's `stats` block.

public enum Text {
    public static let version = "VERSION 1.6.0 memcached agent v1.0.0\r\n"
    public static let badFormat = "CLIENT_ERROR bad command line format\r\n"

    /// The `VALUE` block memcached sends for one item (without END).
    public static func value(_ key: String, _ data: String, flags: Int = 0) -> String {
        "VALUE \(key) \(flags) \(data.utf8.count)\r\n\(data)\r\n"
    }

    public static func hit(_ key: String, _ data: String, flags: Int = 0) -> String { value(key, data, flags: flags) + "END\r\n" }

    public static func set(_ key: String, _ data: String, flags: Int = 0, verb: String = "set", noreply: Bool = false) -> String {
        "\(verb) \(key) \(flags) 0 \(data.utf8.count)\(noreply ? " noreply" : "")\r\n\(data)\r\n"
    }

    /// The agent's `stats` block for these primaries and pool sizes.
    public static func agentStats(_ servers: [(String, Int)]) -> String {
        var result = "memcached agent v1.0.0\r\n"
        for (index, (address, pool)) in servers.enumerated() {
            result += "matrix \(index + 1) -> \(address), pool size \(pool)\r\n"
        }
        return result + "END\r\n"
    }
}
