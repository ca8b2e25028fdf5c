// One client's requests on one key keep their order everywhere: a later
// request of the same connection never overtakes a write the proxy is still
// completing (a restore before it, its copy to the backup), so the client
// reads its own writes and the backup applies them in the primary's order.
import Foundation
import Testing
import MagentTestKit

@Suite(.serialized) struct OrderingTests {
    /// `replace` copies its value to the backup once the primary stored it; a
    /// pipelined `delete` of the same key must reach the backup after that copy,
    /// or the backup keeps the deleted key (and serves it when the primary is down).
    @Test(arguments: ["replace", "append", "incr"])
    func aPipelinedDeleteIsNotOvertakenOnTheBackup(_ verb: String) throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let backup = cluster.backups[0]
        for round in 0..<10 {
            let key = "ordered:\(verb):\(round)"
            client.expect("set \(key) 0 0 1\r\n5\r\n", "STORED\r\n")
            let write = verb == "incr" ? "incr \(key) 1\r\n" : "\(verb) \(key) 0 0 1\r\n7\r\n"
            try client.send(write + "delete \(key)\r\n")
            let reply = try client.readLine()
            #expect(reply == "STORED\r\n" || reply == "6\r\n", "\(verb): \(reply)")
            #expect(try client.readLine() == "DELETED\r\n")
            // A barrier: the same connection's later write reaches the backup after
            // everything the proxy sent there for this client before it.
            let barrier = "barrier:\(verb):\(round)"
            client.expect("set \(barrier) 0 0 1\r\nb\r\n", "STORED\r\n")
            try waitFor("the barrier on the backup", timeout: 5) { try backup.get(barrier) != nil }
            #expect(try backup.getString(key) == nil, "\(verb) round \(round): the backup still holds the deleted key")
            #expect(try cluster.primaries[0].getString(key) == nil)
        }
    }

    /// On a recovering primary a write that depends on the stored item waits
    /// for its key's restore; a pipelined read of the same connection must not
    /// overtake it and read the state before the client's own write.
    @Test func aPipelinedReadSeesItsOwnHeldWrite() throws {
        // A slow refill keeps the restarted primary recovering for the whole test.
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--refill-rate", "1"], memcachedArguments: ["-vv"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<40).map { "own:\($0)" }
        for key in keys { client.expect("set \(key) 0 0 1\r\na\r\n", "STORED\r\n") }
        // Filler the refill copies slowly, so the primary stays recovering.
        for number in 0..<50 { client.expect("set filler:\(number) 0 0 1\r\nf\r\n", "STORED\r\n") }
        try waitFor("the backup holding every key", timeout: 5) { try cluster.backups[0].getMany(keys).count == keys.count }
        // The proxy knows the primary's pid before it is killed: the restart is seen by the new pid.
        try cluster.primaries[0].waitUntilIdentified()
        cluster.primaries[0].kill()
        try cluster.primaries[0].restart()
        var seen: [String: String] = [:]
        try waitFor("the primary recovering", timeout: 10, detail: { ServerStates.describe(seen) }) {
            seen = try ServerStates.read(cluster)
            return seen["primary:1:state"] == "recovering"
        }
        for key in keys {
            try client.send("append \(key) 0 0 1\r\nb\r\nget \(key)\r\n")
            #expect(try client.readLine() == "STORED\r\n")
            let reply = try client.read(until: "END\r\n")
            #expect(reply == "VALUE \(key) 0 2\r\nab\r\nEND\r\n", "\(key): read before its own append: \(reply.debugDescription)")
        }
        let states = try ServerStates.read(cluster)
        #expect(states["primary:1:state"] == "recovering", "the test ran after the recovery: \(ServerStates.describe(states))")
    }

    /// A write the backup gets by a read-back is acknowledged only once that
    /// copy is on its way: the primary killed right after the replies must
    /// not take acknowledged appends with it (the backup serves them).
    @Test func anAcknowledgedAppendSurvivesItsPrimaryDyingAtOnce() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "500"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let keys = (0..<50).map { "acked:\($0)" }
        for key in keys { client.expect("set \(key) 0 0 1\r\na\r\n", "STORED\r\n") }
        try waitFor("the backup holding every key", timeout: 5) { try cluster.backups[0].getMany(keys).count == keys.count }
        try client.send(keys.map { "append \($0) 0 0 1\r\nb\r\n" }.joined())
        for key in keys { #expect(try client.readLine() == "STORED\r\n", "\(key)") }
        cluster.primaries[0].kill()
        try waitFor("the backup holding every acknowledged append", timeout: 5) {
            try cluster.backups[0].getMany(keys).values.allSatisfy { $0 == Array("ab".utf8) }
        }
    }

    /// A base64-keyed meta request read while another request holds a key
    /// waits (its key is compared decoded) and goes on once the hold ends.
    @Test func aHeldBase64KeyedRequestGoesOn() throws {
        let cluster = try Cluster(primaries: 1, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        try client.send("ms n 1\r\n5\r\nms n 1 MA\r\n7\r\nms YWJj 3 b\r\nxyz\r\nmn\r\n")
        #expect(try client.read(until: "MN\r\n") == "HD\r\nHD\r\nHD\r\nMN\r\n")
        client.expect("mg abc v\r\n", "VA 3\r\nxyz\r\n")
    }

    /// A primary that applies an `incr` and then cannot be read back (it hangs,
    /// as a dying or frozen server does): the client hears one reply, an
    /// error rather than a number the backup never got, and the connection
    /// stays in step.
    @Test func aReadBackThatFailsAnswersOneError() throws {
        let mock = try MockBackend { line in line.hasPrefix("incr") ? .reply(bytes("6\r\n"), delay: 0) : .ignore }
        defer { mock.stop() }
        let backup = try Memcached()
        defer { backup.stop() }
        let magent = try Magent(["-s", mock.address, "-b", backup.address, "-t", "1", "--request-timeout", "300",
                                 "--failure-limit", "100"])
        defer { magent.stop() }
        let client = try magent.client()
        for round in 0..<3 {
            try client.send("incr counter 1\r\nversion\r\n")
            #expect(try client.readLine(timeout: 3) == "SERVER_ERROR backend timeout\r\n", "round \(round)")
            #expect(try client.readLine(timeout: 3) == Text.version, "round \(round)")
        }
    }
}
