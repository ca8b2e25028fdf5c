// Backups and placement: every write reaches the key's primary and its backup,
// the client hears the primary, and every key sits exactly where the placement
// algorithm says, read back directly from each memcached.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite struct ReplicationTests {
    @Test func everyWriteIsCopiedToTheKeysBackup() throws {
        let cluster = try Cluster(primaries: 2, backups: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        let key = cluster.keys(onPrimary: 1, count: 1, prefix: "repl")[0]
        let primary = cluster.primary(for: key)
        let backup = try #require(cluster.backup(for: key))

        client.expect(Text.set(key, "10", flags: 3), "STORED\r\n")
        #expect(try primary.getString(key) == "10")
        eventually(backup, key, is: "10")
        client.expect(Text.set(key, "11", verb: "replace"), "STORED\r\n")
        eventually(backup, key, is: "11")
        client.expect(Text.set(key, "0", verb: "append"), "STORED\r\n")
        eventually(backup, key, is: "110")
        client.expect(Text.set(key, "2", verb: "prepend"), "STORED\r\n")
        eventually(backup, key, is: "2110")
        client.expect("incr \(key) 5\r\n", "2115\r\n")
        eventually(backup, key, is: "2115")
        client.expect("decr \(key) 15\r\n", "2100\r\n")
        eventually(backup, key, is: "2100")
        client.expect("touch \(key) 1000\r\n", "TOUCHED\r\n")
        client.expect("delete \(key)\r\n", "DELETED\r\n")
        eventually(backup, key, is: nil)
        #expect(try primary.get(key) == nil)
        client.expect(Text.set(key, "added", verb: "add"), "STORED\r\n")
        eventually(backup, key, is: "added")
        // The other servers never saw the key.
        for server in cluster.primaries + cluster.backups where server !== primary && server !== backup {
            #expect(try server.get(key) == nil)
        }
        // Flags travel with the copy.
        try backup.client().expect("get \(key)\r\n", Text.hit(key, "added"))
        client.expectSilence()
    }

    @Test func clientHearsThePrimarysReply() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let primary = cluster.primaries[0]
        let backup = cluster.backups[0]
        // Only the backup has it: the primary stores it, the backup refuses.
        try backup.set("onbackup", "old")
        client.expect(Text.set("onbackup", "new", verb: "add"), "STORED\r\n")
        #expect(try primary.getString("onbackup") == "new")
        // Only the primary has it: the primary refuses.
        try primary.set("onprimary", "old")
        client.expect(Text.set("onprimary", "new", verb: "add"), "NOT_STORED\r\n")
        client.expect("get onprimary\r\n", Text.hit("onprimary", "old"))
        // Numbers differ: the primary's answer is the one heard, and the
        // backup is brought to the primary's value, not incremented blindly.
        try primary.set("count", "100")
        try backup.set("count", "7")
        client.expect("incr count 1\r\n", "101\r\n")
        eventually(backup, "count", is: "101")
        client.expect("delete onbackup\r\n", "DELETED\r\n")
        try backup.set("onlybackup", "x")
        client.expect("delete onlybackup\r\n", "NOT_FOUND\r\n")
        eventually(backup, "onlybackup", is: nil)
        client.expectSilence()
    }

    @Test func largeValuesAreCopiedWhole() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        var value = pseudoRandomBytes(count: 1_000_000, seed: 7)
        value.replaceSubrange(100..<107, with: bytes("\r\nEND\r\n"))
        try client.send(bytes("set huge 0 0 \(value.count)\r\n") + value + bytes("\r\n"))
        #expect(try client.readLine(timeout: 10) == "STORED\r\n")
        #expect(try cluster.primary(for: "huge").get("huge") == value)
        #expect(waitUntil(timeout: 3) { (try? cluster.backups[0].get("huge")) == value })
        try client.send("get huge\r\n")
        let expected = bytes("VALUE huge 0 1000000\r\n") + value + bytes("\r\nEND\r\n")
        #expect(try client.read(count: expected.count, timeout: 10) == expected)
        client.expectSilence()
    }

    @Test func defaultPlacementPutsEveryKeyOnItsPrimaryAndBackup() throws {
        let cluster = try Cluster(primaries: 3, backups: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<200).map { "place:\($0):\(String(repeating: "x", count: $0 % 7))" } + ["a", "foo", "hello", "café", "ÿ€"]
        try client.send(keys.map { Text.set($0, "v") }.joined())
        #expect(text(try client.read(count: keys.count * 8)) == String(repeating: "STORED\r\n", count: keys.count))
        // The compat examples: with three servers "foo" is on index 0 and "a" on index 1.
        #expect(cluster.placement(of: "foo").primary == 0)
        #expect(cluster.placement(of: "a").primary == 1)
        try expectPlacement(keys, in: cluster)
    }

    @Test func ketamaPlacementMatchesTheContinuum() throws {
        let cluster = try Cluster(primaries: 3, backups: 2, mode: .ketama)
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<300).map { "ketama-key-\($0)" }
        try client.send(keys.map { Text.set($0, "v") }.joined())
        #expect(text(try client.read(count: keys.count * 8)) == String(repeating: "STORED\r\n", count: keys.count))
        try expectPlacement(keys, in: cluster)
    }

    @Test func legacyKetamaPlacementMatchesTheOriginal() throws {
        let cluster = try Cluster(primaries: 3, mode: .legacyKetama)
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<100).map { "legacy-\($0)" }
        try client.send(keys.map { Text.set($0, "v") }.joined())
        #expect(text(try client.read(count: keys.count * 8)) == String(repeating: "STORED\r\n", count: keys.count))
        try expectPlacement(keys, in: cluster)
    }

    /// Reads every key from every memcached: present exactly on the predicted
    /// primary and the predicted backup.
    private func expectPlacement(_ keys: [String], in cluster: Cluster, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let primaryContents = try cluster.primaries.map { try Set($0.getMany(keys).keys) }
        for (index, contents) in primaryContents.enumerated() {
            let expected = Set(keys.filter { cluster.placement(of: $0).primary == index })
            #expect(contents == expected, "primary \(index): \(contents.symmetricDifference(expected).sorted().prefix(10))",
                    sourceLocation: sourceLocation)
        }
        guard !cluster.backups.isEmpty else { return }
        var backupContents: [Set<String>] = []
        waitUntil(timeout: 3) {
            backupContents = cluster.backups.map { (try? Set($0.getMany(keys).keys)) ?? [] }
            return backupContents.reduce(0) { $0 + $1.count } >= keys.count
        }
        for (index, contents) in backupContents.enumerated() {
            let expected = Set(keys.filter { cluster.placement(of: $0).backup == index })
            #expect(contents == expected, "backup \(index): \(contents.symmetricDifference(expected).sorted().prefix(10))",
                    sourceLocation: sourceLocation)
        }
    }
}
