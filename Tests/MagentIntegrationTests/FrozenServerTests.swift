// A memcached that freezes (SIGSTOP: a hung host, a network cut) keeps its
// data. Whatever was written or deleted while the proxy had it marked down
// must not be served from its old copy when it answers again.
import Foundation
import Testing
import MagentTestKit

@Suite(.serialized) struct FrozenServerTests {
    /// Freezes `server` until the proxy has marked it down (requests to it time out).
    private func freezeUntilDown(_ cluster: Cluster, _ server: Memcached, name: String, probeKey: String) throws {
        let client = try cluster.client(timeout: 3)
        defer { client.close() }
        try ServerStates.freezeUntilDown(server, name: name, probeKey: probeKey, through: client, magent: cluster.magent)
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

    @Test func aPrimaryThatMissedMoreKeysThanItsListHoldsIsFlushedAndRefilledBeforeUse() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "200", "--failure-limit", "2",
                                                                        "--kept-keys-limit", "5", "--log-level", "notice"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let changed = (0..<30).map { "overflow:\($0)" }
        let untouched = (0..<10).map { "untouched:\($0)" }
        for key in changed + untouched { client.expect("set \(key) 0 0 3\r\nold\r\n", "STORED\r\n") }
        try waitFor("the backup holding every key", timeout: 5) { try cluster.backups[0].getMany(changed + untouched).count == 40 }

        try freezeUntilDown(cluster, cluster.primaries[0], name: "primary:1", probeKey: untouched[0])
        // Six times what its list holds: most of these are not kept one by one.
        for (index, key) in changed.enumerated() {
            if index % 2 == 0 {
                client.expect("set \(key) 0 0 3\r\nnew\r\n", "STORED\r\n")
            } else {
                client.expect("delete \(key)\r\n", "DELETED\r\n")
            }
        }
        let stats = try ServerStates.read(cluster)
        #expect(ServerStates.number(stats, "pending_deletes_dropped") >= changed.count - 5, "\(ServerStates.describe(stats))")
        cluster.primaries[0].resume()
        // Out of use while it is flushed and refilled: reads meanwhile come from the backup.
        for (index, key) in changed.enumerated() {
            client.expect("get \(key)\r\n", index % 2 == 0 ? Text.hit(key, "new") : "END\r\n")
        }
        try waitUntilInUse(cluster, name: "primary:1")
        for (index, key) in changed.enumerated() {
            client.expect("get \(key)\r\n", index % 2 == 0 ? Text.hit(key, "new") : "END\r\n")
            let held = try cluster.primaries[0].getString(key)
            #expect(held == nil || (index % 2 == 0 && held == "new"), "\(key): the primary still holds \(held ?? "")")
        }
        for key in untouched { client.expect("get \(key)\r\n", Text.hit(key, "old")) }
        // Refilled in full: the keys nobody touched are back on it.
        try waitFor("the untouched keys refilled", timeout: 15, interval: 0.1) {
            try cluster.primaries[0].getMany(untouched).count == untouched.count
        }
        #expect(cluster.magent.process.standardError.contains("flushed (it missed more keys than its list holds)"),
                "\(ServerStates.log(cluster))")
    }

    @Test func aPrimaryThatFailedOnceAndGetsNoMoreRequestsStillSettlesAndIsRepaired() throws {
        // A high failure limit: one timeout does not mark it down.
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "200", "--failure-limit", "100"])
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("set once 0 0 3\r\nold\r\n", "STORED\r\n")
        try waitFor("the backup holding the key", timeout: 5) { try cluster.backups[0].getString("once") == "old" }
        cluster.primaries[0].pause()
        // Times out on the primary, stored on the backup: kept for the primary as a write it missed.
        client.expect("set once 0 0 3\r\nnew\r\n", "STORED\r\n")
        cluster.primaries[0].resume()
        client.close()
        // No request reaches the primary from here on; its health probe's answers must be enough
        // for it to settle and be given the write (the kept entry is then forgotten).
        var stats: [String: String] = [:]
        try waitFor("the write the primary missed applied", timeout: 15, interval: 0.1, detail: { ServerStates.describe(stats) }) {
            stats = try ServerStates.read(cluster)
            return ServerStates.number(stats, "primary:1:missed_writes") == 0
        }
        #expect(try cluster.primaries[0].getString("once") == "new")
    }

    @Test func aPipelinedReadThatFailsOverSeesTheWritesBeforeItAndNoneAfter() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "300", "--failure-limit", "100"])
        defer {
            cluster.primaries[0].resume()
            cluster.stop()
        }
        let client = try cluster.client()
        for round in 0..<3 {
            let key = "order:\(round)"
            client.expect("set \(key) 0 0 3\r\nold\r\n", "STORED\r\n")
            try waitFor("the backup holding \(key)", timeout: 5) { try cluster.backups[0].getString(key) == "old" }
            // Frozen before it is known: every request below goes to it, and each read
            // fails over to the backup once it times out, after the later writes went out.
            cluster.primaries[0].pause()
            client.expect("set \(key) 0 0 2\r\nv1\r\nget \(key)\r\nset \(key) 0 0 2\r\nv2\r\nget \(key)\r\ndelete \(key)\r\nget \(key)\r\n",
                          "STORED\r\n" + Text.hit(key, "v1") + "STORED\r\n" + Text.hit(key, "v2") + "DELETED\r\nEND\r\n")
            cluster.primaries[0].resume()
            var seen: [String: String] = [:]
            try waitFor("primary:1 settled, nothing kept", timeout: 15, interval: 0.1, detail: { ServerStates.describe(seen) }) {
                seen = try ServerStates.read(cluster)
                return ServerStates.number(seen, "primary:1:missed_writes") == 0 && ServerStates.number(seen, "primary:1:pending_deletes") == 0
            }
        }
    }
}
