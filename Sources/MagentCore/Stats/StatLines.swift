// The one way a `stats` reply is written: `STAT <name> <value>` lines, then
// END, as memcached writes them.

struct StatLines {
    private(set) var text = ""

    /// `STAT <name> <value>`.
    mutating func add(_ name: String, _ value: some CustomStringConvertible) {
        text += "STAT \(name) \(value)\r\n"
    }

    /// `STAT <owner>:<name> <value>` (one server's line in `stats servers`).
    mutating func add(_ owner: String, _ name: String, _ value: some CustomStringConvertible) {
        text += "STAT \(owner):\(name) \(value)\r\n"
    }

    /// The lines and the END that closes them.
    var ended: String { text + "END\r\n" }
}
