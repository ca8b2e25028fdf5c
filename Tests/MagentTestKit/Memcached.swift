// A real memcached on a free loopback port, started and stopped by PID, with
// direct access that bypasses the proxy (what a server really holds).
import Foundation
import Glibc

/// One memcached process on a loopback port.
public final class Memcached {
    public private(set) var port: UInt16
    public private(set) var process: ChildProcess
    public let directory: String
    public let listenAddresses: String
    /// Arguments after the harness's own, kept across `restart()`.
    public let extraArguments: [String]

    /// Starts memcached and waits (bounded, 10 s) until it accepts (retrying on a new port if the
    /// chosen one was taken meanwhile).
    public init(port requestedPort: UInt16? = nil, listen: String = "127.0.0.1", extraArguments: [String] = []) throws {
        directory = try Environment.temporaryDirectory()
        listenAddresses = listen
        self.extraArguments = extraArguments
        var lastError = ""
        for attempt in 0..<3 {
            let port = try (attempt == 0 ? requestedPort : nil) ?? Ports.free()
            let child = try Self.spawn(port: port, listen: listen, directory: directory, extra: extraArguments)
            if waitUntil(timeout: 10, { !child.isRunning || Sockets.accepts(host: Self.reachedAt(listen), port: port) }) && child.isRunning {
                self.port = port
                self.process = child
                return
            }
            lastError = child.standardError
            child.stop(grace: 1)
            if requestedPort != nil { break }
        }
        try? FileManager.default.removeItem(atPath: directory)
        throw HarnessError("memcached did not start: \(lastError)")
    }

    private static func spawn(port: UInt16, listen: String, directory: String, extra: [String]) throws -> ChildProcess {
        var arguments = ["-l", listen, "-p", String(port), "-U", "0", "-m", "64", "-t", "1"] + extra
        if Environment.isRoot { arguments += ["-u", "root"] }
        return try ChildProcess(executable: Environment.memcachedBinary, arguments: arguments, directory: directory)
    }

    /// Starts memcached again on the same port (after kill), empty; waits until it accepts.
    public func restart() throws {
        process.stop(grace: Self.stopGrace)
        let child = try Self.spawn(port: port, listen: listenAddresses, directory: directory, extra: extraArguments)
        guard waitUntil(timeout: 10, { !child.isRunning || Sockets.accepts(host: host, port: port) }), child.isRunning else {
            child.stop(grace: 1)
            throw HarnessError("memcached did not restart on \(port): \(child.standardError)")
        }
        process = child
    }

    /// How many times the running process was sent `command` (its first word),
    /// from its -vv log ("<fd command ..." per command); 0 without -vv.
    public func commandsReceived(_ command: String) -> Int {
        process.standardError.split(separator: "\n").filter { line in
            guard line.hasPrefix("<"), let space = line.firstIndex(of: " ") else { return false }
            let words = line[line.index(after: space)...].split(separator: " ", maxSplits: 1)
            return words.first.map(String.init) == command
        }.count
    }

    /// Waits (bounded) until the proxy knows who this server is: started with -vv
    /// (`extraArguments`), it has been asked `stats` twice. magent's health monitor
    /// asks every server for its pid and version about once a second and starts a
    /// probe only once it has taken in the last one's answer, so a second `stats`
    /// proves the first answer was taken in. (The test's own `stats()` count too.)
    public func waitUntilIdentified(timeout: Double = 10) throws {
        guard extraArguments.contains("-vv") else { throw HarnessError("waitUntilIdentified needs memcached started with -vv") }
        try waitFor("the proxy's second identity probe of memcached \(port)", timeout: timeout, interval: 0.05,
                    detail: { "\(commandsReceived("stats")) seen" }) { commandsReceived("stats") >= 2 }
    }

    /// The loopback address it is reached at: the one -l names (127.0.0.2 for
    /// a second server on the same port), 127.0.0.1 when -l lists several.
    public var host: String { Self.reachedAt(listenAddresses) }

    private static func reachedAt(_ listen: String) -> String { listen.contains(",") ? "127.0.0.1" : listen }

    public var address: String { "\(host):\(port)" }
    /// The server's name on magent's placement list.
    public var placementName: String { "\(host)-\(port)" }

    /// SIGKILL, and wait (bounded) until it is gone.
    public func kill() { process.signal(SIGKILL); process.waitForExit(timeout: 5) }
    /// SIGTERM, and wait (bounded) until it is gone.
    public func terminate() { process.signal(SIGTERM); process.waitForExit(timeout: 5) }
    /// SIGSTOP, and wait (bounded) until the kernel shows the process stopped,
    /// so nothing sent afterwards can still be served.
    public func pause() {
        process.signal(SIGSTOP)
        _ = waitUntil(timeout: 2) { ProcessTable.state(process.pid) == "T" }
    }
    public func resume() { process.signal(SIGCONT) }

    /// memcached acts on SIGTERM only at its next clock tick (up to a second), so
    /// it gets a short grace before SIGKILL: it holds nothing worth a clean exit.
    public static let stopGrace = 0.2

    public func stop() {
        process.stop(grace: Self.stopGrace)
        try? FileManager.default.removeItem(atPath: directory)
    }

    // MARK: Direct access, bypassing the proxy

    public func client() throws -> TextClient { try TextClient(host: host, port: port) }

    /// The value of `key` read directly, or nil on a miss.
    public func get(_ key: String) throws -> [UInt8]? {
        try getMany([key])[key]
    }

    public func getString(_ key: String) throws -> String? { try get(key).map(text) }

    /// Values of the keys present, read directly with one multi-get per 100 keys.
    public func getMany(_ keys: [String]) throws -> [String: [UInt8]] {
        let connection = try client()
        defer { connection.close() }
        var result: [String: [UInt8]] = [:]
        for chunk in stride(from: 0, to: keys.count, by: 100) {
            let slice = keys[chunk..<min(chunk + 100, keys.count)]
            try connection.send("get " + slice.joined(separator: " ") + "\r\n")
            for _ in 0...slice.count {
                let line = try connection.readLine()
                if line == "END\r\n" { break }
                let parts = fields(line)
                guard parts.count >= 4, parts[0] == "VALUE", let length = Int(parts[3]) else {
                    throw HarnessError("memcached \(port) answered \"\(escaped(Array(line.utf8)))\" to a get")
                }
                let data = try connection.read(count: length + 2)
                result[parts[1]] = Array(data.dropLast(2))
            }
        }
        return result
    }

    /// Stores directly (bypassing the proxy).
    public func set(_ key: String, _ value: String, flags: Int = 0) throws {
        let connection = try client()
        defer { connection.close() }
        try connection.send("set \(key) \(flags) 0 \(value.utf8.count)\r\n\(value)\r\n")
        let reply = try connection.readLine()
        guard reply == "STORED\r\n" else { throw HarnessError("direct set on \(port) answered \(reply)") }
    }

    /// `stats` of memcached itself.
    public func stats() throws -> [String: String] {
        let connection = try client()
        defer { connection.close() }
        return try connection.stats()
    }

    public func stat(_ name: String) throws -> Int {
        guard let value = try stats()[name], let number = Int(value) else { throw HarnessError("no stat \(name)") }
        return number
    }

    /// cmd_get + cmd_set + cmd_touch + incr/decr/delete hits and misses + cas: every request that reached it.
    public func commandCount() throws -> Int {
        let stats = try stats()
        let names = ["cmd_get", "cmd_set", "cmd_touch", "incr_hits", "incr_misses", "decr_hits", "decr_misses",
                     "delete_hits", "delete_misses", "cas_misses", "cas_hits", "cas_badval", "cmd_flush"]
        return names.reduce(0) { $0 + (Int(stats[$1] ?? "0") ?? 0) }
    }
}
