// HealthProbe's reading of a `stats` reply: the pid and uptime that reveal a
// restart, and the version that decides whether plain gets may go as meta gets.

import Testing
@testable import MagentCore

@Suite struct HealthProbeTests {
    @Test(arguments: [
        ("1.6.18", true), ("1.6.10", true), ("1.7.0", true), ("2.0.1", true), ("1.6.21-rc1", true),
        ("1.6.9", false), ("1.6.0", false), ("1.5.22", false), ("1.4.15", false),
        ("", false), ("1.6", false), ("v1.6.18", false), ("unknown", false),
    ])
    func versionDecidesMetaGets(version: String, speaksMeta: Bool) {
        #expect(HealthProbe.versionSpeaksMeta(version) == speaksMeta)
    }

    @Test func statsReplyGivesPidUptimeAndVersion() throws {
        let reply = Array("STAT pid 4242\r\nSTAT uptime 17\r\nSTAT time 1700000000\r\nSTAT version 1.6.18\r\nEND\r\n".utf8)
        let identity = try #require(HealthProbe.identity(fromStats: reply))
        #expect(identity.pid == 4242)
        #expect(identity.uptimeSeconds == 17)
        #expect(identity.speaksMeta)
    }

    @Test func statsWithoutVersionIsNotMeta() throws {
        let identity = try #require(HealthProbe.identity(fromStats: Array("STAT pid 7\r\nSTAT uptime 100\r\nEND\r\n".utf8)))
        #expect(!identity.speaksMeta)
    }

    @Test func statsWithoutPidIsNoIdentity() {
        #expect(HealthProbe.identity(fromStats: Array("STAT uptime 100\r\nSTAT version 1.6.18\r\nEND\r\n".utf8)) == nil)
    }
}
