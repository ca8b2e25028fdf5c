// --state-dir: the keys a server missed survive a proxy restart. A primary
// frozen while the proxy kept its missed writes and deletes, the proxy killed
// (SIGKILL) and started again, the primary thawed with its old data: the new
// proxy must not serve that data, and must repair the primary.
import Foundation
import Glibc
import Testing
import MagentTestKit

@Suite(.serialized) struct StateDirectoryTests {
    private func scratchDirectory() throws -> String { try Environment.temporaryDirectory() }

    private func proxy(_ primary: Memcached, _ backup: Memcached, stateDirectory: String?) throws -> Magent {
        var arguments = ["-s", primary.address, "-b", backup.address, "-t", "1",
                         "--request-timeout", "200", "--failure-limit", "2", "--log-level", "notice"]
        if let stateDirectory { arguments += ["--state-dir", stateDirectory] }
        return try Magent(arguments)
    }

    @Test func aProxyRestartedDuringAnOutageStillRepairsTheServerWhenItComesBack() throws {
        let primary = try Memcached()
        let backup = try Memcached()
        let stateDirectory = try scratchDirectory()
        defer {
            primary.resume()
            primary.stop()
            backup.stop()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let first = try proxy(primary, backup, stateDirectory: stateDirectory)
        var second: Magent? = nil
        defer {
            first.process.stop(grace: 1, signal: SIGKILL)
            second?.stop()
        }
        let keys = (0..<20).map { "restart:\($0)" }
        let client = try first.client()
        for key in keys { client.expect("set \(key) 0 0 3\r\nold\r\n", "STORED\r\n") }
        try waitFor("the backup holding every key", timeout: 5) { try backup.getMany(keys).count == keys.count }

        // Frozen until the proxy marks it down, then written and deleted around it.
        try ServerStates.freezeUntilDown(primary, name: "primary:1", probeKey: keys[0], through: client, magent: first)
        for (index, key) in keys.enumerated() {
            if index % 2 == 0 {
                client.expect("set \(key) 0 0 3\r\nnew\r\n", "STORED\r\n")
            } else {
                client.expect("delete \(key)\r\n", "DELETED\r\n")
            }
        }
        let seen = try ServerStates.read(first)
        #expect(ServerStates.number(seen, "primary:1:pending_deletes") + ServerStates.number(seen, "primary:1:missed_writes") >= keys.count,
                "\(ServerStates.describe(seen))")
        client.close()

        // The proxy dies mid-outage; the primary thaws with every old copy; a new proxy starts.
        first.process.stop(grace: 1, signal: SIGKILL)
        primary.resume()
        #expect(try primary.getString(keys[1]) == "old")
        let restarted = try proxy(primary, backup, stateDirectory: stateDirectory)
        second = restarted
        let reader = try restarted.client()
        defer { reader.close() }
        for (index, key) in keys.enumerated() {
            reader.expect("get \(key)\r\n", index % 2 == 0 ? Text.hit(key, "new") : "END\r\n")
        }
        // And the primary is repaired: no old copy left on it, and the journal back to its header.
        try waitFor("the primary repaired", timeout: 20, interval: 0.1, detail: { String(restarted.process.standardError.suffix(2000)) }) {
            try keys.enumerated().allSatisfy { index, key in
                let held = try primary.getString(key)
                return index % 2 == 0 ? held == nil || held == "new" : held == nil
            }
        }
        let journal = stateDirectory + "/kept-keys.journal"
        try waitFor("the journal emptied", timeout: 20, interval: 0.1) {
            (try? String(contentsOfFile: journal, encoding: .utf8)) == "magent-kept-keys 1\n"
        }
        #expect(restarted.process.standardError.contains("20 keys kept for their servers restored"), "\(restarted.process.standardError)")
    }

    @Test func aFileThatIsNotAJournalIsMovedAsideAndAMissingDirectoryStopsTheStart() throws {
        let primary = try Memcached()
        let backup = try Memcached()
        let stateDirectory = try scratchDirectory()
        defer {
            primary.stop()
            backup.stop()
            try? FileManager.default.removeItem(atPath: stateDirectory)
        }
        let journal = stateDirectory + "/kept-keys.journal"
        try Data("PK\u{3}\u{4} some archive\n".utf8).write(to: URL(fileURLWithPath: journal))
        let magent = try proxy(primary, backup, stateDirectory: stateDirectory)
        defer { magent.stop() }
        let client = try magent.client()
        client.expect("set k 0 0 1\r\nv\r\n", "STORED\r\n")
        #expect(magent.process.standardError.contains("was not a kept-keys journal: moved aside"), "\(magent.process.standardError)")
        #expect(try String(contentsOfFile: journal + ".unreadable", encoding: .utf8) == "PK\u{3}\u{4} some archive\n")
        #expect(try String(contentsOfFile: journal, encoding: .utf8) == "magent-kept-keys 1\n")

        do {
            let started = try proxy(primary, backup, stateDirectory: stateDirectory + "/missing")
            started.stop()
            Issue.record("magent started with a --state-dir that does not exist")
        } catch {
            #expect("\(error)".contains("--state-dir \(stateDirectory)/missing: not a directory"), "\(error)")
        }
    }
}
