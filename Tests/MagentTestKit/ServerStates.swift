// The proxy's view of its memcached servers (`stats servers`): read once,
// or polled until a condition holds, remembering every state each server
// went through.
import Testing

public enum ServerStates {
    /// `stats servers` through the proxy on a fresh connection, as name → value
    /// ("primary:1:state" → "up").
    public static func read(_ cluster: Cluster) throws -> [String: String] { try read(cluster.magent) }

    public static func read(_ magent: Magent) throws -> [String: String] {
        let client = try magent.client(timeout: 3)
        defer { client.close() }
        return try client.stats("stats servers")
    }

    /// Freezes `server` (SIGSTOP) and reads `probeKey` through `client` until
    /// `magent` has marked it down as `name` ("primary:1"), bounded (15 s):
    /// each request to the frozen server times out, a failure toward the limit.
    public static func freezeUntilDown(_ server: Memcached, name: String, probeKey: String,
                                       through client: TextClient, magent: Magent) throws {
        server.pause()
        var seen: [String: String] = [:]
        try waitFor("\(name) marked down", timeout: 15, interval: 0.05, detail: { describe(seen) }) {
            try client.send("get \(probeKey)\r\n")
            _ = try client.read(until: "END\r\n")
            seen = try read(magent)
            return seen["\(name):state"] == "down"
        }
    }

    /// "primary:1" for cluster.primaries[0], as `stats servers` names it.
    public static func primaryName(_ index: Int) -> String { "primary:\(index + 1)" }

    /// The lines of a stats snapshot for a failure message.
    public static func describe(_ stats: [String: String]) -> String {
        stats.keys.sorted().map { "\($0)=\(stats[$0]!)" }.joined(separator: " ")
    }

    /// A stat as a number, -1 when absent or not a number.
    public static func number(_ stats: [String: String], _ name: String) -> Int { Int(stats[name] ?? "") ?? -1 }

    /// The last lines of magent's stderr (run it with -vv to have them).
    public static func log(_ cluster: Cluster, lines: Int = 40) -> String {
        // The test's own stats connections are left out.
        let all = cluster.magent.process.standardError.split(separator: "\n").filter {
            !($0.contains("] client ") && ($0.hasSuffix(" closed") || $0.contains(" connected (worker")))
        }
        return all.suffix(lines).joined(separator: "\n")
    }

    /// What `watch` saw.
    public struct Watch: Sendable {
        public var done: Bool
        public var last: [String: String]
        /// Every state each server was seen in, in order of first sighting.
        public var states: [String: [String]]
        public var seconds: Double
    }

    /// Polls `stats servers` every `interval` until `condition` holds (bounded by
    /// `timeout`), remembering the states each server went through.
    public static func watch(_ cluster: Cluster, timeout: Double, interval: Double = 0.02,
                             until condition: ([String: String]) -> Bool) -> Watch {
        let started = now()
        var result = Watch(done: false, last: [:], states: [:], seconds: 0)
        result.done = waitUntil(timeout: timeout, interval: interval) {
            guard let stats = try? read(cluster) else { return false }
            result.last = stats
            for (name, value) in stats where name.hasSuffix(":state") {
                let server = String(name.dropLast(":state".count))
                if result.states[server]?.last != value { result.states[server, default: []].append(value) }
            }
            return condition(stats)
        }
        result.seconds = now() - started
        return result
    }
}
