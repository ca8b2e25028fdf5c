// Polls the proxy's own counters over one connection of its own, to wait
// (bounded) for a state: bytes read from clients, connections open, limits
// hit, a server's state, instead of sleeping and hoping.

/// One connection to the proxy that reads `stats proxy`, `stats limits` and
/// `stats servers`, leaving its own traffic out of what it reports. Made before
/// the step it waits on (the byte count starts at the moment it is made); stop
/// it with `close()` (it is one client connection more while open).
public final class ProxyWatch {
    private let client: TextClient
    private static let proxyRequest = "stats proxy"
    /// `bytes_read` when the watch was made.
    private let baselineBytesRead: Int
    /// Bytes this watch sent since its baseline request (that one excluded).
    private var sentSinceBaseline = 0

    public init(_ magent: Magent) throws {
        client = try magent.client(timeout: 5)
        // Its first answer proves the proxy has accepted this connection: it is
        // counted in curr_connections from now on.
        baselineBytesRead = try Self.number("bytes_read", in: client.stats(Self.proxyRequest))
    }

    public func close() { client.close() }

    private func stats(_ command: String) throws -> [String: String] {
        sentSinceBaseline += command.utf8.count + 2
        return try client.stats(command)
    }

    private static func number(_ name: String, in stats: [String: String]) throws -> Int {
        guard let value = stats[name].flatMap({ Int($0) }) else { throw HarnessError("the proxy's stats have no number \(name)") }
        return value
    }

    /// `stats proxy` as name → number.
    public func proxyStats() throws -> [String: Int] { StatLines.numbers(try stats(Self.proxyRequest)) }
    /// `stats limits` as name → number.
    public func limits() throws -> [String: Int] { StatLines.numbers(try stats("stats limits")) }
    /// `stats servers` as name → value ("primary:1:state" → "up").
    public func servers() throws -> [String: String] { try stats("stats servers") }

    /// Bytes the proxy has read from every client but this watch since the watch was made.
    /// (magent counts a read after handling it, so a `stats proxy` reply may leave out
    /// its own request: only `stats proxy` replies are read for this, and whichever way
    /// it counts, own bytes between two such replies are all requests sent between
    /// them plus one of the two, both the same length.)
    public func bytesReadFromOthers() throws -> Int {
        let reading = try Self.number("bytes_read", in: stats(Self.proxyRequest))
        return reading - baselineBytesRead - sentSinceBaseline
    }

    /// Client connections open now, this watch's left out.
    public func otherConnections() throws -> Int {
        try Self.number("curr_connections", in: stats(Self.proxyRequest)) - 1
    }

    /// Waits (bounded) until the proxy has read at least `count` bytes from clients
    /// since the watch was made: what the test sent has been taken in.
    public func waitForBytesRead(_ count: Int, timeout: Double = 10) throws {
        var seen = 0
        try waitFor("the proxy to read \(count) bytes from its clients", timeout: timeout, interval: 0.005,
                    detail: { "it read \(seen)" }) {
            seen = try bytesReadFromOthers()
            return seen >= count
        }
    }

    /// Waits (bounded) until exactly `count` client connections besides this watch
    /// are open: the ones that left have been closed on the proxy's side too.
    public func waitForConnections(_ count: Int, timeout: Double = 10) throws {
        var seen = -1
        try waitFor("the proxy to have \(count) client connections open besides its watch", timeout: timeout,
                    detail: { "it has \(seen)" }) {
            seen = try otherConnections()
            return seen == count
        }
    }

    /// Waits (bounded) until the `stats limits` counter `name` is at least `count`.
    public func waitForLimit(_ name: String, atLeast count: Int, timeout: Double = 10) throws {
        var seen: Int? = nil
        try waitFor("stats limits \(name) to reach \(count)", timeout: timeout,
                    detail: { "it is \(seen.map(String.init) ?? "absent")" }) {
            seen = try limits()[name]
            return (seen ?? Int.min) >= count
        }
    }

    /// Waits (bounded) until `stats servers` satisfies `condition`.
    public func waitForServers(_ what: String, timeout: Double = 10,
                               _ condition: ([String: String]) -> Bool) throws {
        var last: [String: String] = [:]
        try waitFor(what, timeout: timeout, interval: 0.05,
                    detail: { last.keys.sorted().map { "\($0)=\(last[$0]!)" }.joined(separator: " ") }) {
            last = try servers()
            return condition(last)
        }
    }
}

extension Magent {
    /// A watch on this proxy's counters (see ProxyWatch), its baseline taken now.
    public func watch() throws -> ProxyWatch { try ProxyWatch(self) }
}

extension Cluster {
    public func watch() throws -> ProxyWatch { try ProxyWatch(magent) }
}
