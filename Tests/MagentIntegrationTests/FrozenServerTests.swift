// A memcached that freezes (SIGSTOP: a hung host, a network cut) keeps its
// data. Whatever was written or deleted while the proxy had it marked down
// must not be served from its old copy when it answers again.
import Foundation
import Testing
import MagentTestKit

@Suite(.serialized) struct FrozenServerTests {
    /// Freezes `server` until the proxy has marked it down (requests to it time out).
    private func freezeUntilDown(_ cluster: Cluster, _ server: Memcached, name: String, probeKey: String) throws {
        server.pause()
        let client = try cluster.client(timeout: 3)
        defer { client.close() }
        var seen: [String: String] = [:]
        try waitFor("\(name) marked down", timeout: 15, interval: 0.05, detail: { ServerStates.describe(seen) }) {
            // Requests to the frozen server time out; each failure counts toward marking it down.
            try client.send("get \(probeKey)\r\n")
            _ = try client.read(until: "END\r\n")
            seen = try ServerStates.read(cluster)
            return seen["\(name):state"] == "down"
        }
    }

    private func waitUntilInUse(_ cluster: Cluster, name: String) throws {
        var seen: [String: String] = [:]
        try waitFor("\(name) back in use", timeout: 15, interval: 0.05, detail: { ServerStates.describe(seen) }) {
            seen = try ServerStates.read(cluster)
            return seen["\(name):state"] == "up"
        }
    }

    @Test func aPrimaryBackFromAFreezeServesNothingItMissed() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "200", "--failure-limit", "2"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<20).map { "frozen:\($0)" }
        for key in keys { client.expect("set \(key) 0 0 3\r\nold\r\n", "STORED\r\n") }
        try waitFor("the backup holding every key", timeout: 5) { try cluster.backups[0].getMany(keys).count == keys.count }

        try freezeUntilDown(cluster, cluster.primaries[0], name: "primary:1", probeKey: keys[0])
        // While it is away: new values, deletes, and a write that depends on the item.
        for (index, key) in keys.enumerated() {
            switch index % 3 {
            case 0: client.expect("set \(key) 0 0 3\r\nnew\r\n", "STORED\r\n")
            case 1: client.expect("delete \(key)\r\n", "DELETED\r\n")
            default: client.expect("append \(key) 0 0 1\r\n!\r\n", "STORED\r\n")
            }
        }
        cluster.primaries[0].resume()
        try waitUntilInUse(cluster, name: "primary:1")
        for (index, key) in keys.enumerated() {
            let expected: String
            switch index % 3 {
            case 0: expected = Text.hit(key, "new")
            case 1: expected = "END\r\n"
            default: expected = Text.hit(key, "old!")
            }
            client.expect("get \(key)\r\n", expected)
        }
        // And the primary itself holds no old copy.
        for (index, key) in keys.enumerated() where index % 3 != 2 {
            let held = try cluster.primaries[0].getString(key)
            #expect(held == nil || held == "new", "\(key): the primary still holds \(held ?? "")")
        }
    }

    @Test func aBackupBackFromAFreezeKeepsNothingItMissed() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "200", "--failure-limit", "2"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<12).map { "frozen-backup:\($0)" }
        for key in keys { client.expect("set \(key) 0 0 3\r\nold\r\n", "STORED\r\n") }
        try waitFor("the backup holding every key", timeout: 5) { try cluster.backups[0].getMany(keys).count == keys.count }

        // The backup is only written to, so a write marks it down.
        cluster.backups[0].pause()
        var seen: [String: String] = [:]
        try waitFor("backup:1 marked down", timeout: 15, interval: 0.05, detail: { ServerStates.describe(seen) }) {
            client.expect("set probe 0 0 1\r\np\r\n", "STORED\r\n")
            seen = try ServerStates.read(cluster)
            return seen["backup:1:state"] == "down"
        }
        for (index, key) in keys.enumerated() {
            if index % 2 == 0 {
                client.expect("set \(key) 0 0 3\r\nnew\r\n", "STORED\r\n")
            } else {
                client.expect("delete \(key)\r\n", "DELETED\r\n")
            }
        }
        cluster.backups[0].resume()
        try waitUntilInUse(cluster, name: "backup:1")
        // The backup answers alone when the primary is gone: it must not bring back old values.
        cluster.primaries[0].kill()
        for (index, key) in keys.enumerated() {
            let held = try cluster.backups[0].getString(key)
            if index % 2 == 0 {
                #expect(held == nil || held == "new", "\(key): the backup still holds \(held ?? "")")
            } else {
                #expect(held == nil, "\(key): the backup still holds the deleted key (\(held ?? ""))")
            }
        }
    }
}
