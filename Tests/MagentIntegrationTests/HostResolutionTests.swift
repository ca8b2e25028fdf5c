// Host names in -s and -c files are looked up again: magent runs in a mount
// namespace of its own whose /etc/hosts is a scratch file mapping
// cachetest.invalid to 127.0.0.1; two memcached share one port, one on
// 127.0.0.1 and one on 127.0.0.2, holding different values of one key. The
// test points the name at 127.0.0.2 and sees the proxy follow it on SIGHUP,
// and after the first memcached died and its probe failed.
import Foundation
import Glibc
import Testing
import MagentTestKit

/// Two memcached on one port and a proxy that knows them only by name.
final class HostsFixture {
    static let name = "cachetest.invalid"
    static let key = "where"

    let first: Memcached
    let second: Memcached
    let directory: String
    let hostsPath: String
    let magent: Magent
    /// The first memcached's curr_connections before the proxy started (the
    /// test's own connection that asks included).
    let firstConnectionsAlone: Int

    /// Whether this machine lets a child bind-mount over /etc/hosts in a
    /// mount namespace of its own (root, `unshare` present and allowed).
    static let namespaceProblem: String? = {
        guard Environment.isRoot else { return "not root" }
        guard access("/usr/bin/unshare", X_OK) == 0 else { return "no /usr/bin/unshare" }
        guard let directory = try? Environment.temporaryDirectory() else { return "no scratch directory" }
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let scratch = "\(directory)/hosts"
        guard (try? "127.0.0.1 \(name)\n".write(toFile: scratch, atomically: false, encoding: .utf8)) != nil,
              let probe = try? ChildProcess(executable: "/usr/bin/unshare", arguments: [
                "--mount", "--propagation", "private", "/bin/sh", "-c", "mount --bind '\(scratch)' /etc/hosts && getent hosts \(name)",
              ], directory: directory) else { return "cannot start unshare" }
        guard probe.waitForExit(timeout: 10) else {
            probe.stop(grace: 1)
            return "unshare did not finish in 10 s"
        }
        guard probe.exitCode == 0, probe.standardOutput.contains("127.0.0.1") else {
            return "unshare --mount with a bind mount over /etc/hosts failed: \(probe.standardError)"
        }
        return nil
    }()

    static var namespacesWork: Bool {
        if let problem = namespaceProblem { print("HostResolutionTests skipped: \(problem)") }
        return namespaceProblem == nil
    }

    /// `arguments` gets the server's text ("cachetest.invalid:PORT") and the scratch directory.
    init(arguments: (String, String) throws -> [String]) throws {
        first = try Memcached()
        do {
            second = try Memcached(port: first.port, listen: "127.0.0.2")
        } catch {
            first.stop()
            throw error
        }
        do {
            try first.set(Self.key, "first")
            try second.set(Self.key, "second")
            firstConnectionsAlone = try first.stat("curr_connections")
            directory = try Environment.temporaryDirectory()
            hostsPath = "\(directory)/hosts"
            try Self.rewrite(hostsPath, "127.0.0.1 \(Self.name)\n")
            let launcher = ["/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                            "mount --bind '\(hostsPath)' /etc/hosts && exec \"$0\" \"$@\""]
            magent = try Magent(try arguments("\(Self.name):\(first.port)", directory) + ["-t", "1", "--log-level", "notice"],
                                launcher: launcher)
        } catch {
            first.stop()
            second.stop()
            throw error
        }
    }

    /// Points the name at `address`, rewriting the file in place: the bind
    /// mount shows the same inode, so a new file would not be seen.
    func pointName(at address: String) throws {
        try Self.rewrite(hostsPath, "\(address) \(Self.name)\n")
    }

    private static func rewrite(_ path: String, _ content: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw HarnessError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(content.utf8)
        guard write(fd, bytes, bytes.count) == bytes.count else { throw HarnessError("cannot write \(path)") }
    }

    /// The key's value read through the proxy, or what it answered instead.
    func readThroughProxy(_ key: String = HostsFixture.key) -> String {
        do {
            let client = try magent.client(timeout: 2)
            defer { client.close() }
            try client.send("get \(key)\r\n")
            let reply = text(try client.readRetrieval())
            let lines = reply.split(separator: "\r\n", omittingEmptySubsequences: false)
            return lines.first?.hasPrefix("VALUE ") == true && lines.count > 1 ? String(lines[1]) : reply
        } catch {
            return "\(error)"
        }
    }

    /// Waits (bounded) until reads through the proxy give `value`.
    func waitForValue(_ value: String, timeout: Double) throws {
        var seen = ""
        try waitFor("reads through the proxy to give \"\(value)\"", timeout: timeout, interval: 0.05,
                    detail: { "last read \"\(seen)\"; log:\n\(magent.process.standardError)" }) {
            seen = readThroughProxy()
            return seen == value
        }
    }

    var movedLine: String { "now resolves to 127.0.0.2:\(first.port) (was 127.0.0.1:\(first.port))" }

    func stop() {
        magent.stop()
        ChildProcess.stopAll([first.process, second.process], grace: Memcached.stopGrace)
        first.stop()
        second.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.serialized, .enabled(if: HostsFixture.namespacesWork, "needs root and unshare --mount to give magent its own /etc/hosts"))
struct HostResolutionTests {
    @Test func sighupFollowsTheNameEvenWhenTheFileDidNotChange() throws {
        let fixture = try HostsFixture { server, directory in
            ["-c", try Environment.writeConfiguration(["server = \(server)"], in: directory)]
        }
        defer { fixture.stop() }
        try fixture.waitForValue("first", timeout: 5)

        // Without a SIGHUP or a failure, the name is not looked up again.
        try fixture.pointName(at: "127.0.0.2")
        #expect(fixture.readThroughProxy() == "first")

        // The file is the same, so the reload keeps the topology; the name is still looked up.
        fixture.magent.process.signal(SIGHUP)
        try fixture.waitForValue("second", timeout: 10)
        #expect(fixture.magent.process.standardError.contains(fixture.movedLine))

        // The connections to the old address, idle at the move, close.
        try waitFor("the proxy's connections to 127.0.0.1 to close", timeout: 10,
                    detail: { "curr_connections \((try? fixture.first.stat("curr_connections")) ?? -1), \(fixture.firstConnectionsAlone) alone" }) {
            try fixture.first.stat("curr_connections") <= fixture.firstConnectionsAlone
        }

        // New requests go to the new address only.
        let client = try fixture.magent.client()
        defer { client.close() }
        client.expect("set after 0 0 1\r\nx\r\n", "STORED\r\n")
        #expect(try fixture.second.getString("after") == "x")
        #expect(try fixture.first.getString("after") == nil)

        // Back to the first, with requests pipelined across the SIGHUP: every
        // one is answered, from one address or the other.
        try fixture.pointName(at: "127.0.0.1")
        let gets = String(repeating: "get \(HostsFixture.key)\r\n", count: 100)
        try client.send(gets)
        fixture.magent.process.signal(SIGHUP)
        try client.send(gets)
        for index in 0..<200 {
            let reply = text(try client.readRetrieval())
            guard reply == "VALUE where 0 5\r\nfirst\r\nEND\r\n" || reply == "VALUE where 0 6\r\nsecond\r\nEND\r\n" else {
                Issue.record("reply \(index) across the SIGHUP: \(reply)")
                break
            }
        }
        try fixture.waitForValue("first", timeout: 10)
        #expect(fixture.magent.process.standardError.contains("now resolves to 127.0.0.1:\(fixture.first.port) (was 127.0.0.2:\(fixture.first.port))"))
    }

    @Test func aServerAddedBackByAReloadIsLookedUpAgain() throws {
        let other = try Memcached()
        defer { other.stop() }
        let fixture = try HostsFixture { server, directory in
            ["-c", try Environment.writeConfiguration(["server = \(server)"], in: directory)]
        }
        defer { fixture.stop() }
        try fixture.waitForValue("first", timeout: 5)
        let named = "server = \(HostsFixture.name):\(fixture.first.port)"

        // Removed, the name moves, added back: the proxy reuses the server it knew, at the new address.
        _ = try Environment.writeConfiguration(["server = \(other.address)"], in: fixture.directory)
        fixture.magent.process.signal(SIGHUP)
        try waitFor("the named server's removal", timeout: 10, detail: { fixture.magent.process.standardError }) {
            fixture.magent.process.standardError.components(separatedBy: "] reloaded ").count >= 2
        }
        try fixture.pointName(at: "127.0.0.2")
        _ = try Environment.writeConfiguration([named], in: fixture.directory)
        fixture.magent.process.signal(SIGHUP)
        try fixture.waitForValue("second", timeout: 10)
        #expect(fixture.magent.process.standardError.contains(fixture.movedLine))
    }

    @Test func aServerThatMovedRecoversFromItsBackup() throws {
        let backup = try Memcached()
        defer { backup.stop() }
        let fixture = try HostsFixture { server, _ in ["-s", server, "-b", backup.address] }
        defer { fixture.stop() }
        let client = try fixture.magent.client()
        defer { client.close() }
        client.expect("set kept 0 0 4\r\nkept\r\n", "STORED\r\n")
        try waitFor("the backup's copy", timeout: 5) { try backup.getString("kept") == "kept" }
        #expect(try fixture.second.getString("kept") == nil)

        try fixture.pointName(at: "127.0.0.2")
        fixture.magent.process.signal(SIGHUP)
        try waitFor("the move to be logged", timeout: 10, detail: { fixture.magent.process.standardError }) {
            fixture.magent.process.standardError.contains(fixture.movedLine + ", recovering")
        }
        // The new address has never seen the key: its miss is asked of the backup,
        // and the refill copies the key there.
        #expect(fixture.readThroughProxy("kept") == "kept")
        try waitFor("the key at the new address", timeout: 10, detail: { fixture.magent.process.standardError }) {
            try fixture.second.getString("kept") == "kept"
        }
        try waitFor("the refill to end", timeout: 10, detail: { fixture.magent.process.standardError }) {
            fixture.magent.process.standardError.contains("is up: refilled")
        }
    }

    @Test func aFailedProbeLooksTheNameUpAgain() throws {
        let fixture = try HostsFixture { server, _ in ["-s", server] }
        defer { fixture.stop() }
        try fixture.waitForValue("first", timeout: 5)

        fixture.first.kill()
        try fixture.pointName(at: "127.0.0.2")
        // Reads fail until the server is marked down, its probe fails, and the
        // lookup that failure starts finds the new address.
        try fixture.waitForValue("second", timeout: 15)
        #expect(fixture.magent.process.standardError.contains(fixture.movedLine))
    }
}
