// The usual fixture: memcached primaries and backups with one magent in front,
// and where magent should place each key among them.
import MagentCore

/// memcached primaries and backups plus one magent in front of them. Stop it with
/// `stop()` (every test does, in a defer).
public final class Cluster {
    public let primaries: [Memcached]
    public let backups: [Memcached]
    /// The proxy in front; `restartProxy` replaces it.
    public private(set) var magent: Magent
    /// What each proxy `restartProxy` replaced wrote to stderr, oldest first.
    public private(set) var earlierProxyLogs: [String] = []
    private let magentArguments: [String]
    private let unixPath: String?
    public let mode: PlacementMode
    /// Built once: a ketama ring is costly to build in a debug build.
    private let primaryPlacement: KeyPlacement
    private let backupPlacement: KeyPlacement?

    /// Starts `primaryCount` + `backupCount` memcached servers and magent with
    /// `-s`/`-b` for each (in order) plus `arguments`; each memcached gets
    /// `memcachedArguments` after the harness's own.
    public init(primaries primaryCount: Int, backups backupCount: Int = 0, arguments: [String] = ["-t", "1"],
                mode: PlacementMode = .modulo, unixPath: String? = nil, memcachedArguments: [String] = []) throws {
        var started: [Memcached] = []
        do {
            for _ in 0..<(primaryCount + backupCount) { started.append(try Memcached(extraArguments: memcachedArguments)) }
            primaries = Array(started[0..<primaryCount])
            backups = Array(started[primaryCount...])
            var full: [String] = []
            for server in primaries { full += ["-s", server.address] }
            for server in backups { full += ["-b", server.address] }
            switch mode {
            case .modulo: break
            case .ketama: full.append("-k")
            case .legacyKetama: full.append("--legacy-ketama")
            }
            self.mode = mode
            primaryPlacement = KeyPlacement(mode: mode, serverNames: primaries.map(\.placementName))
            backupPlacement = backups.isEmpty ? nil : KeyPlacement(mode: mode, serverNames: backups.map(\.placementName))
            magentArguments = full + arguments
            self.unixPath = unixPath
            magent = try Magent(full + arguments, unixPath: unixPath)
        } catch {
            started.forEach { $0.stop() }
            throw error
        }
    }

    public var port: UInt16 { magent.port }

    public func client(timeout: Double = 5) throws -> TextClient { try magent.client(timeout: timeout) }

    /// Index of the key's primary and backup, as magent should place them.
    public func placement(of key: String) -> (primary: Int, backup: Int?) {
        let keyBytes = Array(key.utf8)
        let primary = keyBytes.withUnsafeBytes { primaryPlacement.serverIndex(for: $0) }
        let backup = backupPlacement.map { placement in keyBytes.withUnsafeBytes { placement.serverIndex(for: $0) } }
        return (primary, backup)
    }

    public func primary(for key: String) -> Memcached { primaries[placement(of: key).primary] }
    public func backup(for key: String) -> Memcached? { placement(of: key).backup.map { backups[$0] } }

    /// `count` keys named `prefix<n>` whose primary is `index`.
    public func keys(onPrimary index: Int, count: Int, prefix: String = "k") -> [String] {
        var result: [String] = []
        for number in 0..<100_000 {
            if result.count == count { break }
            let key = "\(prefix)\(number)"
            if placement(of: key).primary == index { result.append(key) }
        }
        return result
    }

    /// Kills the proxy (SIGKILL: nothing is flushed or drained) and starts it
    /// again with the same arguments on the same port; returns once it listens.
    public func restartProxy() throws {
        earlierProxyLogs.append(magent.process.standardError)
        magent.kill()
        magent = try Magent(magentArguments, port: magent.port, unixPath: unixPath)
    }

    public func stop() {
        magent.stop()
        let servers = primaries + backups
        ChildProcess.stopAll(servers.map(\.process), grace: Memcached.stopGrace)
        servers.forEach { $0.stop() }
    }
}
