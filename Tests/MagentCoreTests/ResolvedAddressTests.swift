// Which -s/-b hosts are looked up again (names, never numeric addresses), and
// ResolvedAddress: the generation moves only when the address really changes,
// and log lines name addresses by their numbers.

import Testing
@testable import MagentCore

@Suite struct ResolvedAddressTests {
    @Test("host names are looked up again, numeric addresses never", arguments: [
        ("cache1.local:11211", true),
        ("localhost", true),
        ("memcache-1.example.com:11212", true),
        ("10.0.0.5:11211", false),
        ("127.0.0.1", false),
        ("[::1]:11212", false),
        ("::1", false),
        ("2001:db8::7", false),
        ("[fe80::1%eth0]:5", false),
    ])
    func hostNames(_ text: String, _ isName: Bool) throws {
        let address = try #require(ServerAddress.parse(text))
        #expect(address.isHostName == isName)
    }

    private func resolve(_ host: String, _ port: Int) throws -> SocketAddress {
        try SocketAddress.resolve(host: host, port: port).get()
    }

    @Test func generationMovesOnlyOnAChange() throws {
        let first = try resolve("127.0.0.1", 11211)
        let resolved = ResolvedAddress(first)
        #expect(resolved.generation == 0)
        #expect(resolved.update(toOneOf: [try resolve("127.0.0.1", 11211)]) == nil, "the same address again")
        #expect(resolved.update(toOneOf: []) == nil, "nothing found: kept")
        #expect(resolved.generation == 0)

        let previous = resolved.update(toOneOf: [try resolve("127.0.0.2", 11211)])
        #expect(previous?.numericText == "127.0.0.1:11211")
        #expect(resolved.generation == 1)
        #expect(resolved.address.numericText == "127.0.0.2:11211")

        // Another port is another address too.
        #expect(resolved.update(toOneOf: [try resolve("127.0.0.2", 11212)]) != nil)
        #expect(resolved.generation == 2)
        let (address, generation) = resolved.snapshot()
        #expect(address.numericText == "127.0.0.2:11212")
        #expect(generation == 2)
    }

    @Test func aNameWithSeveralAddressesStaysWhileItsAddressIsAmongThem() throws {
        let resolved = ResolvedAddress(try resolve("127.0.0.2", 1))
        // Round-robin order: the current address second this time.
        #expect(resolved.update(toOneOf: [try resolve("127.0.0.3", 1), try resolve("127.0.0.2", 1)]) == nil)
        #expect(resolved.generation == 0)
        // Gone from the list: the first one found is taken.
        #expect(resolved.update(toOneOf: [try resolve("127.0.0.4", 1), try resolve("127.0.0.3", 1)])?.numericText == "127.0.0.2:1")
        #expect(resolved.address.numericText == "127.0.0.4:1")
        #expect(resolved.generation == 1)
    }

    @Test func resolveAllKeepsTheResolversOrder() throws {
        let all = try SocketAddress.resolveAll(host: "127.0.0.1", port: 5).get()
        #expect(all.map(\.numericText) == ["127.0.0.1:5"])
        #expect(try resolve("127.0.0.1", 5).sameAddress(as: all[0]))
    }

    @Test func numericText() throws {
        #expect(try resolve("127.0.0.1", 21201).numericText == "127.0.0.1:21201")
        #expect(try resolve("::1", 11211).numericText == "[::1]:11211")
        #expect(SocketAddress.unix(path: "/tmp/x.sock")?.numericText == "?")
    }

    @Test func sameAddress() throws {
        let a = try resolve("127.0.0.1", 1)
        #expect(a.sameAddress(as: try resolve("127.0.0.1", 1)))
        #expect(!a.sameAddress(as: try resolve("127.0.0.1", 2)))
        #expect(!a.sameAddress(as: try resolve("::1", 1)))
    }
}
