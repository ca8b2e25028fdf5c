// The `STAT name value` lines memcached and the proxy answer `stats` with,
// read into a dictionary.

public enum StatLines {
    /// name → value for every `STAT name value` line of `block`; other lines are skipped.
    public static func parse(_ block: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in block.components(separatedBy: "\r\n") {
            let parts = fields(line)
            if parts.count == 3 && parts[0] == "STAT" { result[parts[1]] = parts[2] }
        }
        return result
    }

    /// The numeric values only.
    public static func numbers(_ stats: [String: String]) -> [String: Int] { stats.compactMapValues { Int($0) } }
}

extension TextClient {
    /// Sends `command` ("stats", "stats proxy", "stats servers"...) and reads the
    /// reply through END, as name → value.
    public func stats(_ command: String = "stats", timeout: Double? = nil) throws -> [String: String] {
        try send(command + "\r\n")
        return StatLines.parse(try read(until: "END\r\n", timeout: timeout))
    }
}
