// ServerAddress tests: -s/-b text as magent 0.6 read it (port 11211 when missing, zero
// or not a number), IPv6 in brackets, and the names used by stats and the ketama ring.

import Testing
@testable import MagentCore

/// One -s/-b text and the address it must give (nil: refused).
struct AddressCase: Sendable, CustomTestStringConvertible {
    let text: String
    let expected: ServerAddress?

    init(_ text: String, _ host: String, _ port: Int) {
        self.text = text
        expected = ServerAddress(host: host, port: port)
    }

    init(refused text: String) {
        self.text = text
        expected = nil
    }

    var testDescription: String { "\"\(text)\"" }
}

let addressCases: [AddressCase] = [
    AddressCase("127.0.0.1:21201", "127.0.0.1", 21201),
    AddressCase("host", "host", 11211),
    AddressCase("host:abc", "host", 11211),
    AddressCase("host:0", "host", 11211),
    AddressCase("host:", "host", 11211),
    AddressCase("host:12ab", "host", 12),
    AddressCase("host:0012", "host", 12),
    AddressCase("host:1", "host", 1),
    AddressCase("host:65535", "host", 65535),
    AddressCase("memcache-1.example.com:11212", "memcache-1.example.com", 11212),
    AddressCase("[::1]:11212", "[::1]", 11212),
    AddressCase("[::1]", "[::1]", 11211),
    AddressCase("[fe80::1%eth0]:5", "[fe80::1%eth0]", 5),
    AddressCase("::1", "::1", 11211),
    AddressCase("2001:db8::7", "2001:db8::7", 11211),
    AddressCase(refused: ""),
    AddressCase(refused: "host:70000"),
    AddressCase(refused: "host:65536"),
    AddressCase(refused: "host:99999999999"),
    AddressCase(refused: ":11211"),
    AddressCase(refused: "[]"),
    AddressCase(refused: "[]:11211"),
    AddressCase(refused: "[::1"),
    AddressCase(refused: "[::1]x"),
    AddressCase(refused: "[::1]11211"),
]

@Suite struct ServerAddressTests {
    @Test("parse reads -s/-b text as the original did", arguments: addressCases)
    func parse(_ testCase: AddressCase) {
        #expect(ServerAddress.parse(testCase.text) == testCase.expected)
    }

    @Test("names for stats, the ketama ring and the resolver")
    func names() {
        let ipv4 = ServerAddress(host: "127.0.0.1", port: 21201)
        #expect(ipv4.displayName == "127.0.0.1:21201")
        #expect(ipv4.ketamaName == "127.0.0.1-21201")
        #expect(ipv4.resolvableHost == "127.0.0.1")

        let defaulted = ServerAddress.parse("cache:abc")
        #expect(defaulted?.displayName == "cache:11211")
        #expect(defaulted?.ketamaName == "cache-11211")

        let ipv6 = ServerAddress.parse("[::1]:11212")
        #expect(ipv6?.displayName == "[::1]:11212")
        #expect(ipv6?.ketamaName == "[::1]-11212")
        #expect(ipv6?.resolvableHost == "::1")

        let bare = ServerAddress.parse("::1")
        #expect(bare?.displayName == "::1:11211")
        #expect(bare?.resolvableHost == "::1")
    }

    @Test("the default port is memcached's")
    func defaultPort() {
        #expect(ServerAddress.defaultPort == 11211)
    }
}
