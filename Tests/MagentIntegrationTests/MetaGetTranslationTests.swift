// Single-key get/gets travel to memcached 1.6.10+ as `mg` (which memcached
// answers in one write per batch, where every classic get costs it a write);
// the client still hears VALUE/END byte for byte. Older servers get classic gets.

import Foundation
import Testing
import MagentTestKit
@testable import MagentCore

@Suite struct MetaGetTranslationTests {
    /// A memcached look-alike of `version`: answers the health probe, and
    /// `mg`/`get` for the keys in `values` (value, flags, cas); others miss.
    private func mock(version: String, answersMeta: Bool = true,
                      values: [String: (value: String, flags: Int, cas: Int)]) throws -> MockBackend {
        let started = now()
        return try MockBackend { line in
            if line == "stats" {
                return .reply(bytes("STAT pid 9\r\nSTAT uptime \(Int(now() - started) + 100)\r\nSTAT version \(version)\r\nEND\r\n"), delay: 0)
            }
            let words = line.split(separator: " ").map(String.init)
            if words.first == "mg" && words.count >= 2 {
                guard answersMeta else { return .reply(bytes("ERROR\r\n"), delay: 0) }
                guard let item = values[words[1]] else { return .reply(bytes("EN\r\n"), delay: 0) }
                var header = "VA \(item.value.utf8.count)"
                for flag in words.dropFirst(2) {
                    if flag == "f" { header += " f\(item.flags)" }
                    if flag == "c" { header += " c\(item.cas)" }
                }
                return .reply(bytes(header + "\r\n" + item.value + "\r\n"), delay: 0)
            }
            if words.first == "get" || words.first == "gets" {
                var reply = ""
                for key in words.dropFirst() {
                    guard let item = values[key] else { continue }
                    reply += "VALUE \(key) \(item.flags) \(item.value.utf8.count)" + (words[0] == "gets" ? " \(item.cas)" : "") + "\r\n"
                    reply += item.value + "\r\n"
                }
                return .reply(bytes(reply + "END\r\n"), delay: 0)
            }
            return .ignore
        }
    }

    /// A proxy in front of `mock`, returned once it has taken in the answer to its
    /// first identity probe (which tells it the version).
    private func proxy(for mock: MockBackend) throws -> Magent {
        let magent = try Magent(["-s", mock.address, "-t", "1"])
        let probed = waitUntil(timeout: 5) { mock.requestLines.contains("stats") }
        #expect(probed, "the proxy never probed the server")
        do {
            try mock.waitUntilIdentified()
        } catch {
            magent.stop()
            throw error
        }
        return magent
    }

    @Test func singleKeyGetsBecomeMetaGetsOnMemcached16() throws {
        let server = try mock(version: "1.6.18", values: ["k": ("hi", 3, 77), "empty": ("", 0, 5), "a": ("A", 1, 8)])
        defer { server.stop() }
        let magent = try proxy(for: server)
        defer { magent.stop() }
        let client = try magent.client()
        client.expect("get k\r\n", "VALUE k 3 2\r\nhi\r\nEND\r\n")
        client.expect("gets k\r\n", "VALUE k 3 2 77\r\nhi\r\nEND\r\n")
        client.expect("get empty\r\n", "VALUE empty 0 0\r\n\r\nEND\r\n")
        client.expect("get gone\r\n", "END\r\n")
        client.expect("gets gone\r\n", "END\r\n")
        // Pipelined: each answer goes to its own request.
        client.expect("get k\r\nget gone\r\ngets a\r\n", "VALUE k 3 2\r\nhi\r\nEND\r\nEND\r\nVALUE a 1 1 8\r\nA\r\nEND\r\n")
        // Several keys on one server stay one classic get.
        client.expect("get k a gone\r\n", "VALUE k 3 2\r\nhi\r\nVALUE a 1 1\r\nA\r\nEND\r\n")
        let lines = server.requestLines.filter { $0 != "stats" }
        #expect(lines.contains("mg k v f"))
        #expect(lines.contains("mg k v f c"))
        #expect(lines.contains("get k a gone"))
        #expect(!lines.contains("get k") && !lines.contains("gets k"), "single-key gets reached the server classic: \(lines)")
    }

    @Test(arguments: ["1.4.15", "1.6.9"])
    func olderMemcachedGetsClassicGets(version: String) throws {
        let server = try mock(version: version, values: ["k": ("hi", 3, 77)])
        defer { server.stop() }
        let magent = try proxy(for: server)
        defer { magent.stop() }
        let client = try magent.client()
        client.expect("get k\r\n", "VALUE k 3 2\r\nhi\r\nEND\r\n")
        client.expect("gets k\r\n", "VALUE k 3 2 77\r\nhi\r\nEND\r\n")
        let lines = server.requestLines
        #expect(lines.contains("get k") && lines.contains("gets k"))
        #expect(!lines.contains { $0.hasPrefix("mg ") }, "a \(version) server was sent meta gets: \(lines)")
    }

    @Test func aServerRefusingMetaGetsIsAskedClassicallyFromThenOn() throws {
        let server = try mock(version: "1.6.18", answersMeta: false, values: ["k": ("hi", 3, 77)])
        defer { server.stop() }
        let magent = try proxy(for: server)
        defer { magent.stop() }
        let client = try magent.client()
        // The refused mg reads as a miss, never as an error or a hang...
        client.expect("get k\r\n", "END\r\n")
        // ...and the next get is a classic one (until the next probe says 1.6 again).
        client.expect("get k\r\n", "VALUE k 3 2\r\nhi\r\nEND\r\n")
        #expect(server.requestLines.contains("get k"))
    }

    @Test func metaGetsMatchMemcachedByteForByte() throws {
        let memcached = try Memcached(extraArguments: ["-vv"])  // -vv: its log shows the proxy's probes
        defer { memcached.stop() }
        let magent = try Magent(["-s", memcached.address, "-t", "1"])
        defer { magent.stop() }
        let direct = try memcached.client()
        let proxied = try magent.client()
        let setup = Text.set("m", "value", flags: 42) + Text.set("e", "") + "set big 7 0 3000\r\n" + String(repeating: "x", count: 3000) + "\r\n"
        direct.expect(setup, "STORED\r\nSTORED\r\nSTORED\r\n")
        try memcached.waitUntilIdentified()  // the first identity probe has answered: gets go as mg
        func retrievals(_ client: TextClient, _ request: String, count: Int) throws -> String {
            try client.send(request)
            return try (0..<count).map { _ in text(try client.readRetrieval(timeout: 3)) }.joined()
        }
        for (request, count) in [("get m\r\n", 1), ("get e\r\n", 1), ("get big\r\n", 1), ("get none\r\n", 1),
                                 ("get m\r\nget none\r\nget e\r\n", 3), ("gets m\r\n", 1), ("gets none\r\ngets e\r\n", 2)] {
            let expected = try retrievals(direct, request, count: count)
            #expect(try retrievals(proxied, request, count: count) == expected, "\(escaped(bytes(request)))")
        }
    }
}
