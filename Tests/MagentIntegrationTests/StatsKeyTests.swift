// Issue 16, operators: `stats key <key>` shows where a key lives: its primary
// and backup, each one's state, whether it holds the key (asked of the
// servers) and what the proxy keeps for the key there.
import Testing
import MagentTestKit

@Suite(.serialized) struct StatsKeyTests {
    /// The exact reply for a key whose servers are both up.
    static func reply(_ key: String, primary: Memcached, has primaryHas: String, backup: Memcached?, has backupHas: String = "no",
                      backupState: String = "up", backupKept: String = "none") -> String {
        var text = "STAT key \(key)\r\nSTAT primary \(primary.address)\r\nSTAT primary_state up\r\n"
            + "STAT primary_has \(primaryHas)\r\nSTAT primary_kept none\r\n"
        if let backup {
            text += "STAT backup \(backup.address)\r\nSTAT backup_state \(backupState)\r\nSTAT backup_has \(backupHas)\r\n"
                + "STAT backup_kept \(backupKept)\r\n"
        } else {
            text += "STAT backup none\r\n"
        }
        return text + "END\r\n"
    }

    @Test func aKeyOnPrimaryAndBackup() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let key = "user:1"
        let primary = cluster.primary(for: key)
        let backup = try #require(cluster.backup(for: key))
        client.expect("stats key \(key)\r\n", Self.reply(key, primary: primary, has: "no", backup: backup, has: "no"))
        client.expect(Text.set(key, "v"), "STORED\r\n")
        try waitFor("the backup's copy", timeout: 5) { try backup.getString(key) == "v" }
        client.expect("stats key \(key)\r\n", Self.reply(key, primary: primary, has: "yes", backup: backup, has: "yes"))
        // Deleted on the backup directly: the proxy does not know, the backup says so.
        let direct = try backup.client()
        defer { direct.close() }
        direct.expect("delete \(key)\r\n", "DELETED\r\n")
        client.expect("stats key \(key)\r\n", Self.reply(key, primary: primary, has: "yes", backup: backup, has: "no"))
        // Asking did not touch the item.
        client.expect("get \(key)\r\n", Text.hit(key, "v"))
    }

    @Test func aKilledPrimaryIsDownAndUnknown() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "300", "--failure-limit", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let key = "k1"
        client.expect(Text.set(key, "v"), "STORED\r\n")
        try waitFor("the backup's copy", timeout: 5) { try cluster.backups[0].getString(key) == "v" }
        cluster.primaries[0].kill()
        // Asking is traffic: its failed meta get marks the primary down.
        var stats: [String: String] = [:]
        try waitFor("primary_state down", timeout: 10, interval: 0.05, detail: { ServerStates.describe(stats) }) {
            stats = try client.stats("stats key \(key)", timeout: 5)
            return stats["primary_state"] == "down"
        }
        #expect(stats["primary_state"] == "down")
        #expect(stats["primary_has"] == "unknown")
        #expect(stats["backup_state"] == "up")
        #expect(stats["backup_has"] == "yes")
    }

    /// A delete the frozen backup missed is kept for it, and shown.
    @Test func aDeleteKeptForAFrozenBackup() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "300"])
        defer { cluster.stop() }
        let backup = cluster.backups[0]
        let client = try cluster.client()
        let key = "kept"
        client.expect(Text.set(key, "v"), "STORED\r\n")
        try waitFor("the backup's copy", timeout: 5) { try backup.getString(key) == "v" }
        backup.pause()
        defer { backup.resume() }
        client.expect("delete \(key)\r\n", "DELETED\r\n")
        var last: [String: String] = [:]
        try waitFor("backup_kept delete", timeout: 10, detail: { ServerStates.describe(last) }) {
            last = try client.stats("stats key \(key)", timeout: 5)
            return last["backup_kept"] == "delete"
        }
        #expect(last["primary_has"] == "no")
        #expect(last["primary_kept"] == "none")
        #expect(last["backup_has"] == "unknown")
    }

    @Test func badInput() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let bad = "CLIENT_ERROR bad command line format\r\n"
        client.expect("stats key\r\n", bad)
        client.expect("stats key  \r\n", bad)
        client.expect("stats key a b\r\n", bad)
        client.expect("stats key \(String(repeating: "k", count: 251))\r\n", bad)
        client.expect("stats key a\u{1}b\r\n", bad)
        client.expect("stats keys a\r\n", "ERROR\r\n")
        // The connection still works.
        client.expect("stats key \(String(repeating: "k", count: 250))\r\n",
                      Self.reply(String(repeating: "k", count: 250), primary: cluster.primaries[0], has: "no", backup: cluster.backups[0]))
    }

    @Test func pipelinedRepliesKeepTheirPlace() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let key = "pipelined"
        let primary = cluster.primary(for: key)
        let backup = try #require(cluster.backup(for: key))
        let request = Text.set(key, "v") + "stats key \(key)\r\nget \(key)\r\nstats key\r\ndelete \(key)\r\nstats key \(key)\r\nversion\r\n"
        let expected = "STORED\r\n" + Self.reply(key, primary: primary, has: "yes", backup: backup, has: "yes")
            + Text.hit(key, "v") + "CLIENT_ERROR bad command line format\r\n" + "DELETED\r\n"
            + Self.reply(key, primary: primary, has: "no", backup: backup, has: "no")
        try client.send(request)
        let reply = try client.read(until: "VERSION ")
        #expect(reply == expected + "VERSION ")
    }

    @Test func noBackupConfigured() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        let key = "solo"
        client.expect(Text.set(key, "v"), "STORED\r\n")
        client.expect("stats key \(key)\r\n", Self.reply(key, primary: cluster.primary(for: key), has: "yes", backup: nil))
    }
}
