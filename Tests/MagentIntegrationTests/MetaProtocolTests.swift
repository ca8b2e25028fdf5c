// The meta protocol through the proxy: the same bytes as memcached answers
// (quiet mode, opaque and key flags, base64 keys, errors), writes replicated
// to the backup, reads failing over to it, and misses restored from it.
import Foundation
import Testing
import MagentTestKit

@Suite struct MetaProtocolTests {
    /// Requests whose replies carry nothing that differs between servers (no
    /// cas, no access times), one reply each or a known silence under q.
    static let script: [String] = [
        "ms a 2 T0 F5\r\nhi\r\n", "mg a v f t k O9\r\n", "mg a q\r\n", "mg a q v\r\n", "mg missing q v\r\n", "mn\r\n",
        "mg missing v k O3\r\n", "md missing q\r\n", "md a q\r\n", "mg a v\r\n", "mn\r\n",
        "ma n N0 J5 v\r\n", "ma n q\r\n", "ma n q v\r\n", "mg n v\r\n", "ma n MD D3 v\r\n", "ma missing\r\n", "ma missing q\r\n",
        "ms n 1 q MR\r\n7\r\n", "ms nx 1 q MR\r\n7\r\n", "ms n 1 q C1\r\n7\r\n", "mn\r\n",
        "ms YWJj 3 b\r\nxyz\r\n", "mg abc v\r\n", "mg YWJj b v\r\n", "md YWJj b\r\n", "mg abc v\r\n",
        "ms s 3\r\nmid\r\n", "ms s 2 MA\r\n>>\r\n", "ms s 2 MP\r\n<<\r\n", "mg s v s\r\n", "ms s 1 ME\r\nx\r\n",
        "mg\r\n", "ms nolength\r\n", "ms bad abc\r\n", "ms x 2 b\r\nhi\r\n", "ms x 2 MX\r\nhi\r\n", "ma s\r\n", "mn extra\r\n",
        "ms \(String(repeating: "k", count: 251)) 2\r\nhi\r\n", "mg a v\r\n", "mn\r\n",
    ]

    /// The whole script against one memcached and through the proxy (two
    /// primaries and a backup) gives the same bytes.
    @Test func repliesAreMemcachedsOwn() throws {
        let reference = try Memcached()
        let expected: [UInt8]
        do {
            defer { reference.stop() }
            expected = try Self.replies(to: Self.script, port: reference.port)
        }
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let proxied = try Self.replies(to: Self.script, port: cluster.port)
        #expect(escaped(proxied, limit: 8000) == escaped(expected, limit: 8000))
        #expect(expected.count > 200, "the reference run answered too little: \(escaped(expected))")
    }

    /// Sends the script pipelined in one write, ends with `mn` and reads up to its MN
    /// (the last line of the script's replies cannot be MN before it).
    static func replies(to script: [String], port: UInt16) throws -> [UInt8] {
        let client = try TextClient(port: port)
        defer { client.close() }
        try client.send(script.joined() + "version\r\n")
        return try client.read(until: Array("VERSION ".utf8)).dropLast(8).map { $0 }
    }

    @Test func writesReachTheBackupAsThePrimaryHoldsThem() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("ms set 5 F3 T0\r\nhello\r\n", "HD\r\n")
        client.expect("ms set 2 MA\r\n!!\r\n", "HD\r\n")
        client.expect("ms counter 2\r\n10\r\n", "HD\r\n")
        client.expect("ma counter D5 v\r\n", "VA 2\r\n15\r\n")
        client.expect("ms added 1 ME q\r\nx\r\nmn\r\n", "MN\r\n")
        client.expect("ms gone 1\r\ny\r\nmd gone q\r\nmn\r\n", "HD\r\nMN\r\n")
        let backup = cluster.backups[0]
        #expect(waitUntil(timeout: 3) {
            (try? backup.getString("set")) == "hello!!" && (try? backup.getString("counter")) == "15"
                && (try? backup.getString("added")) == "x" && (try? backup.get("gone")) == .some(nil)
        }, "backup holds set=\(String(describing: try? backup.getString("set"))) counter=\(String(describing: try? backup.getString("counter")))")
        // The flags travelled too.
        let backupClient = try backup.client()
        backupClient.expect("mg set f v\r\n", "VA 7 f3\r\nhello!!\r\n")
    }

    @Test func readsFailOverToTheBackupWhenThePrimaryIsDown() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "500"])
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("ms k 5 F7\r\nvalue\r\n", "HD\r\n")
        cluster.primaries[0].kill()
        // The first request may meet the dead connection; every answer is the backup's.
        for _ in 0..<3 { client.expect("mg k v f O1\r\n", "VA 5 f7 O1\r\nvalue\r\n") }
        client.expect("mg missing v O2 k\r\n", "EN O2 kmissing\r\n")
        // Writes go to the backup alone meanwhile.
        client.expect("ms k 3\r\nnew\r\nmg k v\r\n", "HD\r\nVA 3\r\nnew\r\n")
    }

    /// With --miss-failover every miss is asked of the backup; the key is
    /// restored on the primary and the client's own mg answered from there.
    @Test func aMissThePrimaryShouldNotHaveIsRestoredFromTheBackup() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--miss-failover"])
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("ms lost 4 F9 T0\r\ndata\r\n", "HD\r\n")
        // The primary loses the key behind the proxy's back (as a restart would).
        try cluster.primaries[0].client().expect("delete lost\r\n", "DELETED\r\n")
        client.expect("mg lost v f k O5\r\n", "VA 4 f9 klost O5\r\ndata\r\n")
        #expect(try cluster.primaries[0].getString("lost") == "data")
        // A true miss stays one, quiet or not.
        client.expect("mg nowhere v q\r\nmg nowhere v\r\nmn\r\n", "EN\r\nMN\r\n")
    }

    /// A pipelined batch of quiet gets over both primaries, closed by mn: only
    /// the hits, in request order, then MN.
    @Test func quietBatchesKeepMemcachedsOrder() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        var setup = ""
        for number in stride(from: 0, to: 40, by: 2) { setup += "ms key\(number) \(String(number).count) q\r\n\(number)\r\n" }
        client.expect(setup + "mn\r\n", "MN\r\n")
        var batch = ""
        var expected = ""
        for number in 0..<40 {
            batch += "mg key\(number) v q O\(number)\r\n"
            if number % 2 == 0 { expected += "VA \(String(number).count) O\(number)\r\n\(number)\r\n" }
        }
        client.expect(batch + "mn\r\n", expected + "MN\r\n")
        client.expectSilence()
    }

    @Test func debugAndNoopAreAnswered() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("ms dbg 3\r\nabc\r\n", "HD\r\n")
        try client.send("me dbg\r\n")
        let line = try client.readLine()
        #expect(line.hasPrefix("ME dbg exp=-1 ") && line.contains("size="), "got \(line)")
        client.expect("me nothing\r\nmn\r\n", "EN\r\nMN\r\n")
    }
}
