// memcached's binary protocol through the proxy: packets answered as memcached
// answers them (compared with a real memcached, cas values aside), quiet
// batches, keys no text line could carry, replication and failover, and
// packets the proxy must refuse.
import Foundation
import Testing
import MagentTestKit

@Suite struct BinaryProtocolTests {
    /// One request each; every request gets exactly one response here.
    static let script: [BinaryMessage] = [
        .store(0x01, Array("a".utf8), "alpha", flags: 7, opaque: 1),
        .get("a", opaque: 2), .get("a", opcode: 0x0c, opaque: 3), .get("missing", opaque: 4), .get("missing", opcode: 0x0c, opaque: 5),
        .store(0x02, Array("a".utf8), "other", opaque: 6), .store(0x02, Array("b".utf8), "beta", opaque: 7),
        .store(0x03, Array("none".utf8), "x", opaque: 8), .store(0x03, Array("b".utf8), "beta2", flags: 3, opaque: 9),
        BinaryMessage(opcode: 0x0e, opaque: 10, key: Array("b".utf8), value: Array(">>".utf8)),
        BinaryMessage(opcode: 0x0f, opaque: 11, key: Array("b".utf8), value: Array("<<".utf8)),
        BinaryMessage(opcode: 0x0e, opaque: 12, key: Array("nothing".utf8), value: Array("x".utf8)),
        .get("b", opaque: 13),
        .counter(0x05, "n", delta: 1, initial: 10, exptime: 0, opaque: 14), .counter(0x05, "n", delta: 5, initial: 10, exptime: 0, opaque: 15),
        .counter(0x06, "n", delta: 100, initial: 0, exptime: 0, opaque: 16),
        .counter(0x05, "nocreate", delta: 1, initial: 0, exptime: 0xffff_ffff, opaque: 17),
        .counter(0x05, "a", delta: 1, initial: 0, exptime: 0, opaque: 18),
        BinaryMessage(opcode: 0x04, opaque: 19, key: Array("b".utf8)), BinaryMessage(opcode: 0x04, opaque: 20, key: Array("b".utf8)),
        BinaryMessage(opcode: 0x1c, opaque: 21, extras: BinaryMessage.be(100, 4), key: Array("a".utf8)),
        BinaryMessage(opcode: 0x1c, opaque: 22, extras: BinaryMessage.be(100, 4), key: Array("gone".utf8)),
        BinaryMessage(opcode: 0x1d, opaque: 23, extras: BinaryMessage.be(100, 4), key: Array("a".utf8)),
        BinaryMessage(opcode: 0x23, opaque: 24, extras: BinaryMessage.be(100, 4), key: Array("a".utf8)),
        BinaryMessage(opcode: 0x0a, opaque: 25),
        BinaryMessage(opcode: 0x5f, opaque: 28),  // unknown: answered, the connection goes on
        .store(0x01, Array("a".utf8), "v", cas: 12345, opaque: 29),
        .store(0x01, Array("fresh".utf8), "v", cas: 12345, opaque: 30),
    ]

    static func responses(to script: [BinaryMessage], port: UInt16) throws -> [BinaryMessage] {
        let client = try TextClient(port: port)
        defer { client.close() }
        try client.send(script.flatMap { $0.encoded() })
        return try script.map { _ in
            var response = try BinaryMessage.read(from: client)
            response.cas = response.cas == 0 ? 0 : 1  // cas values differ between servers; whether there is one does not
            return response
        }
    }

    @Test func responsesAreMemcachedsOwn() throws {
        let reference = try Memcached()
        let expected: [BinaryMessage]
        do {
            defer { reference.stop() }
            expected = try Self.responses(to: Self.script, port: reference.port)
        }
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let proxied = try Self.responses(to: Self.script, port: cluster.port)
        for (index, (got, want)) in zip(proxied, expected).enumerated() {
            #expect(got == want, "request \(index) (\(Self.script[index])):\n  proxy:     \(got)\n  memcached: \(want)")
        }
    }

    /// getq/getkq over both primaries, ended by noop: only the hits, in order.
    @Test func quietGetsEndAtNoop() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        var setup: [UInt8] = []
        for number in stride(from: 0, to: 30, by: 3) { setup += BinaryMessage.store(0x11, Array("q\(number)".utf8), "v\(number)").encoded() }
        try client.send(setup + BinaryMessage(opcode: 0x0a, opaque: 99).encoded())
        #expect(try BinaryMessage.read(from: client).opaque == 99, "quiet sets answered before the noop")
        var batch: [UInt8] = []
        for number in 0..<30 { batch += BinaryMessage.get("q\(number)", opcode: number % 2 == 0 ? 0x09 : 0x0d, opaque: UInt32(number)).encoded() }
        try client.send(batch + BinaryMessage(opcode: 0x0a, opaque: 1000).encoded())
        for number in stride(from: 0, to: 30, by: 3) {
            let hit = try BinaryMessage.read(from: client)
            #expect(hit.opaque == UInt32(number) && hit.value == Array("v\(number)".utf8) && hit.status == 0, "\(hit)")
            #expect(hit.key == (number % 2 == 0 ? [] : Array("q\(number)".utf8)), "getkq carries the key, getq not: \(hit)")
        }
        let end = try BinaryMessage.read(from: client)
        #expect(end.opcode == 0x0a && end.opaque == 1000, "\(end)")
        client.expectSilence()
    }

    /// Binary keys may hold spaces and control bytes: they reach memcached
    /// base64-encoded, are placed by their raw bytes and replicated.
    @Test func keysNoTextLineCouldCarry() throws {
        let cluster = try Cluster(primaries: 2, backups: 1)
        defer { cluster.stop() }
        let client = try cluster.client()
        let key: [UInt8] = Array("odd key".utf8) + [1, 0, 0xff, 10, 13]
        try client.send(BinaryMessage.store(0x01, key, "binary-safe", flags: 4).encoded())
        #expect(try BinaryMessage.read(from: client).status == 0)
        try client.send(BinaryMessage(opcode: 0x0c, key: key).encoded())
        let hit = try BinaryMessage.read(from: client)
        #expect(hit.status == 0 && hit.key == key && hit.value == Array("binary-safe".utf8) && hit.extras == [0, 0, 0, 4], "\(hit)")
        let encoded = Data(key).base64EncodedString()
        let keyText = String(decoding: key, as: UTF8.self)
        let placement = cluster.placement(of: keyText)
        try cluster.primaries[placement.primary].client().expect("mg \(encoded) b v\r\n", "VA 11\r\nbinary-safe\r\n")
        let stored = "VA 11\r\nbinary-safe\r\n"
        #expect(waitUntil(timeout: 3) {
            (try? cluster.backups[0].client().call("mg \(encoded) b v\r\n", expectedLength: stored.utf8.count)) == stored
        }, "the backup never got the value")
        try client.send(BinaryMessage(opcode: 0x04, key: key).encoded())
        #expect(try BinaryMessage.read(from: client).status == 0)
        try client.send(BinaryMessage(opcode: 0x00, key: key).encoded())
        #expect(try BinaryMessage.read(from: client).status == 1)
    }

    @Test func readsAndWritesFailOverToTheBackup() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "--request-timeout", "500"])
        defer { cluster.stop() }
        let client = try cluster.client()
        try client.send(BinaryMessage.store(0x01, Array("k".utf8), "kept", flags: 2).encoded())
        #expect(try BinaryMessage.read(from: client).status == 0)
        cluster.primaries[0].kill()
        for attempt in 0..<3 {
            try client.send(BinaryMessage.get("k", opaque: UInt32(attempt)).encoded())
            let response = try BinaryMessage.read(from: client)
            #expect(response.status == 0 && response.value == Array("kept".utf8) && response.opaque == UInt32(attempt), "\(response)")
        }
        try client.send(BinaryMessage.counter(0x05, "c", delta: 1, initial: 41, exptime: 0).encoded())
        #expect(try BinaryMessage.read(from: client).value == BinaryMessage.be(41, 8))
    }

    /// stat: key/value packets ended by an empty one; the proxy's counters, or the servers'.
    @Test func statListsTheProxysCounters() throws {
        let cluster = try Cluster(primaries: 2)
        defer { cluster.stop() }
        let client = try cluster.client()
        for (group, wanted) in [("", "pid"), ("proxy", "curr_connections"), ("servers", "primary:2:address")] {
            try client.send(BinaryMessage(opcode: 0x10, opaque: 9, key: Array(group.utf8)).encoded())
            var names: [String] = []
            for _ in 0..<500 {
                let pair = try BinaryMessage.read(from: client)
                #expect(pair.opcode == 0x10 && pair.status == 0 && pair.opaque == 9, "\(pair)")
                if pair.key.isEmpty { break }
                names.append(String(decoding: pair.key, as: UTF8.self))
            }
            #expect(names.contains(wanted), "stat \(group): \(names)")
        }
        try client.send(BinaryMessage(opcode: 0x10, opaque: 3, key: Array("slabs".utf8)).encoded())
        #expect(try BinaryMessage.read(from: client).status == 1)
    }

    @Test func refusedPackets() throws {
        let cluster = try Cluster(primaries: 1)
        defer { cluster.stop() }
        // A body over the limit is answered "Too large." and skipped; the connection goes on.
        let client = try cluster.client(timeout: 30)
        var header = BinaryMessage(opcode: 0x01, opaque: 5).encoded()
        let size = 16 * 1024 * 1024 + 1
        header[8..<12] = ArraySlice(BinaryMessage.be(UInt64(size), 4))
        try client.send(header)
        try client.send([UInt8](repeating: 0x80, count: size))
        let refused = try BinaryMessage.read(from: client, timeout: 30)
        #expect(refused.status == 3 && refused.value == Array("Too large.".utf8) && refused.opaque == 5, "\(refused)")
        try client.send(BinaryMessage(opcode: 0x0a, opaque: 6).encoded())
        #expect(try BinaryMessage.read(from: client).opaque == 6)
        // Packets of the wrong shape (a get with extras, a set without them) are
        // answered "Invalid arguments" and the connection closed, as memcached does.
        for malformed in [BinaryMessage(opcode: 0x00, opaque: 26, extras: [0, 0, 0, 0], key: Array("a".utf8)),
                          BinaryMessage(opcode: 0x01, opaque: 27, key: Array("a".utf8), value: Array("v".utf8))] {
            let shaped = try cluster.client()
            try shaped.send(malformed.encoded() + BinaryMessage(opcode: 0x0a).encoded())
            #expect(try BinaryMessage.read(from: shaped) == BinaryMessage(opcode: malformed.opcode, status: 4, opaque: malformed.opaque,
                                                                          value: Array("Invalid arguments".utf8)))
            #expect(shaped.waitForClose(timeout: 3).closed)
        }
        // Lengths that do not add up: answered, then closed.
        var broken = BinaryMessage.get("abc").encoded()
        broken[4] = 9  // extras longer than the body
        try client.send(broken)
        #expect(try BinaryMessage.read(from: client).status == 4)
        #expect(client.waitForClose(timeout: 3).closed)
        // The protocol is the first byte's: a text line on a binary connection is garbage.
        let mixed = try cluster.client()
        try mixed.send(BinaryMessage(opcode: 0x0a).encoded() + Array("version\r\n".utf8) + [UInt8](repeating: 0, count: 15))
        #expect(try BinaryMessage.read(from: mixed).opcode == 0x0a)
        #expect(try BinaryMessage.read(from: mixed).status == 4)
        #expect(mixed.waitForClose(timeout: 3).closed)
    }
}
