// What each log level shows: server state changes (down, up, recovering,
// refilled) with timestamps at notice and above (-v, -vv), nothing of them at
// the default level.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct LogLevelTests {
    /// Kills the primary, makes requests fail until it is marked down, restarts it
    /// and waits until `stats servers` shows it up again.
    private func downAndBackUp(_ cluster: Cluster) throws {
        let client = try cluster.client()
        client.expect("set before 0 0 1\r\nb\r\n", "STORED\r\n")
        cluster.primaries[0].kill()
        // Failures in a row (--failure-limit 2) mark it down.
        let down = waitUntil(timeout: 10, interval: 0.05) {
            client.expect("get never-set\r\n", "END\r\n")
            return (try? ServerStates.read(cluster))?["primary:1:state"] == "down"
        }
        #expect(down, "never marked down")
        try cluster.primaries[0].restart()
        let up = waitUntil(timeout: 15, interval: 0.1) {
            (try? ServerStates.read(cluster))?["primary:1:state"] == "up"
        }
        #expect(up, "never up again")
    }

    /// "[YYYY-MM-DD HH:MM:SS] " before the text.
    private func timestamped(_ line: Substring) -> Bool {
        let pattern = #/\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\] /#
        return line.prefixMatch(of: pattern) != nil
    }

    @Test(arguments: [["--log-level", "notice"], ["-vv"]])
    func stateChangesAreLoggedWithTimestamps(_ level: [String]) throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"] + level)
        defer { cluster.stop() }
        try downAndBackUp(cluster)
        let address = cluster.primaries[0].address
        let lines = cluster.magent.process.standardError.split(separator: "\n")
        let down = lines.first { $0.hasSuffix("memcached \(address) (primary 1) is down") }
        let back = lines.first { $0.hasSuffix("memcached \(address) (primary 1) is up, recovering") }
        let refilled = lines.first { $0.contains("memcached \(address) (primary 1) is up: refilled, ") }
        #expect(down.map(timestamped) == true, "\(lines)")
        #expect(back.map(timestamped) == true, "\(lines)")
        #expect(refilled.map(timestamped) == true, "\(lines)")
        if level == ["--log-level", "notice"] {
            // Only state changes: no per-connection messages at this level.
            #expect(!lines.contains { $0.contains("] client ") || $0.contains("connect failed") }, "\(lines)")
        }
    }

    @Test func theDefaultLevelLogsNoStateChange() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        try downAndBackUp(cluster)
        let log = cluster.magent.process.standardError
        #expect(!log.contains("is down"), "\(log)")
        #expect(!log.contains("recovering"), "\(log)")
        #expect(!log.contains("refilled"), "\(log)")
    }
}
