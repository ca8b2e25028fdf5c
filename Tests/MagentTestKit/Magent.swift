// The proxy under test: one magent process in the foreground on a free port,
// used only once every listener it was given accepts connections.
import Foundation
import Glibc

/// One magent process, started in the foreground (-D) on a fresh port.
public final class Magent {
    public let port: UInt16
    public let host: String
    public let process: ChildProcess
    public let directory: String
    public let unixPath: String?

    public var pid: pid_t { process.pid }

    /// The mode magent gives its unix socket file (-f).
    public static let unixSocketMode: mode_t = 0o644

    /// `-D -l host -p port` plus `arguments` (and `-f unixPath`). Returns once every
    /// listener is ready (bounded, 10 s): the TCP port accepts; the unix socket file
    /// exists with mode 0644 and accepts (magent chmods it after it listens); the
    /// `--metrics-port` in `arguments`, if any, accepts. Listeners named only in a
    /// `-c` file are not known here. When the port was chosen here and someone took
    /// it meanwhile, tries another. `launcher` runs magent through another program
    /// that execs it (same PID), e.g. `["/usr/bin/prlimit", "--nofile=40:40"]`.
    public init(_ arguments: [String], host: String = "127.0.0.1", port requestedPort: UInt16? = nil,
                unixPath: String? = nil, directory: String? = nil, launcher: [String] = []) throws {
        let binary = try Environment.magentBinary()
        self.directory = try directory ?? Environment.temporaryDirectory()
        self.host = host
        self.unixPath = unixPath
        let metrics = Self.metricsListener(arguments, host: host)
        var failure = ""
        for attempt in 0..<3 {
            let port = try requestedPort ?? Ports.free()
            var full = ["-D", "-l", host, "-p", String(port)] + arguments
            if let unixPath { full += ["-f", unixPath] }
            let child = launcher.isEmpty
                ? try ChildProcess(executable: binary, arguments: full, directory: self.directory)
                : try ChildProcess(executable: launcher[0], arguments: Array(launcher.dropFirst()) + [binary] + full,
                                   directory: self.directory)
            var waitingFor: String? = nil
            let settled = waitUntil(timeout: 10) {
                guard child.isRunning else { return true }
                waitingFor = Self.unreadyListener(host: host, port: port, unixPath: unixPath, metrics: metrics)
                return waitingFor == nil
            }
            if settled && child.isRunning {
                self.port = port
                self.process = child
                return
            }
            let stderr = child.standardError
            child.stop(grace: 1)
            let why = child.exitCode.map { "exit \($0)" } ?? waitingFor.map { "after 10 s still waiting for \($0)" } ?? "killed"
            failure = "magent \(full.joined(separator: " ")) did not start (\(why)): \(stderr)"
            guard requestedPort == nil, stderr.contains("cannot listen on \(host)"), attempt < 2 else { break }
        }
        if directory == nil { try? FileManager.default.removeItem(atPath: self.directory) }
        throw HarnessError(failure)
    }

    /// Where `--metrics-port` (and `--metrics-address`, else the -l address) in
    /// `arguments` make magent serve /metrics; a wildcard address is reached on loopback.
    private static func metricsListener(_ arguments: [String], host: String) -> (host: String, port: UInt16)? {
        func value(_ option: String) -> String? {
            guard let index = arguments.lastIndex(of: option), index + 1 < arguments.count else { return nil }
            return arguments[index + 1]
        }
        guard let port = value("--metrics-port").flatMap(UInt16.init), port != 0 else { return nil }
        let address = value("--metrics-address") ?? host
        switch address {
        case "0.0.0.0": return ("127.0.0.1", port)
        case "::": return ("::1", port)
        default: return (address, port)
        }
    }

    /// The first listener not ready yet, described for a failure message; nil when all are.
    private static func unreadyListener(host: String, port: UInt16, unixPath: String?,
                                        metrics: (host: String, port: UInt16)?) -> String? {
        if port != 0 && !Sockets.accepts(host: host, port: port) { return "\(host):\(port) to accept" }
        if let unixPath, !Sockets.unixListenerReady(path: unixPath, mode: unixSocketMode) {
            let mode = Sockets.socketFileMode(path: unixPath).map { "mode 0" + String($0, radix: 8) } ?? "no socket file"
            return "the unix socket \(unixPath) to have mode 0\(String(unixSocketMode, radix: 8)) and accept (\(mode) now)"
        }
        if let metrics, !Sockets.accepts(host: metrics.host, port: metrics.port) {
            return "the metrics listener \(metrics.host):\(metrics.port) to accept"
        }
        return nil
    }

    public func client(timeout: Double = 5) throws -> TextClient { try TextClient(host: host, port: port, timeout: timeout) }

    public var isRunning: Bool { process.isRunning }

    /// Stops it at once: SIGINT, not SIGTERM, whose drain would wait for a
    /// client a test left with a request unfinished (DrainTests drain on purpose).
    public func stop() {
        process.stop(signal: SIGINT)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Kills it at once (SIGKILL), as a crash would, and waits for it to exit.
    public func kill() {
        process.signal(SIGKILL)
        _ = process.waitForExit(timeout: 10)
        try? FileManager.default.removeItem(atPath: directory)
    }
}
