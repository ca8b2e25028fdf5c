// A process the test starts itself (memcached, magent, a client script),
// watched and stopped by its PID only.
import Foundation
import Glibc
import MagentCore

/// A child process started with posix_spawn: stdin from /dev/null, stdout and
/// stderr to files, default signal dispositions and an empty signal mask (so
/// SIGPIPE and SIGTERM behave as they would from a shell, whatever the test
/// runner has set). Reaped with waitpid by PID.
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    public let arguments: [String]
    public let stdoutPath: String
    public let stderrPath: String
    private let lock = ThreadLock<Int32?>(nil)  // the wait status once reaped

    public init(executable: String, arguments: [String], directory: String) throws {
        _ = Environment.sigpipeIgnored
        self.arguments = arguments
        let tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        stdoutPath = "\(directory)/stdout-\(tag)"
        stderrPath = "\(directory)/stderr-\(tag)"

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signalNumber in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGCHLD, SIGUSR1, SIGUSR2] { sigaddset(&defaults, signalNumber) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, executable, &actions, &attributes, argv, environ)
        guard status == 0 else {
            throw HarnessError("cannot start \(executable): \(String(cString: strerror(status)))")
        }
        pid = child
    }

    /// The raw wait status if the process has exited (reaps it).
    public var waitStatus: Int32? {
        lock.withLock { stored in
            if let stored { return stored }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                stored = status
                return status
            }
            return nil
        }
    }

    public var isRunning: Bool { waitStatus == nil }

    /// The exit code, or nil if it was killed by a signal or still runs.
    public var exitCode: Int32? {
        guard let status = waitStatus, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// The terminating signal, if any.
    public var terminatingSignal: Int32? {
        guard let status = waitStatus, status & 0x7f != 0, status & 0x7f != 0x7f else { return nil }
        return status & 0x7f
    }

    /// Waits (bounded) for exit; true if it exited.
    @discardableResult
    public func waitForExit(timeout: Double) -> Bool {
        waitUntil(timeout: timeout, interval: 0.01) { !isRunning }
    }

    /// Sends `signalNumber` unless the process has already exited (and was reaped:
    /// its PID may belong to someone else by now).
    public func signal(_ signalNumber: Int32) {
        if isRunning { kill(pid, signalNumber) }
    }

    /// SIGCONT (in case it is stopped), SIGTERM (or `signal`), then SIGKILL after `grace` seconds.
    public func stop(grace: Double = 3, signal signalNumber: Int32 = SIGTERM) {
        Self.stopAll([self], grace: grace, signal: signalNumber)
    }

    /// Stops several at once: SIGTERM (or `signal`) to each, one shared grace period, then SIGKILL.
    public static func stopAll(_ processes: [ChildProcess], grace: Double, signal signalNumber: Int32 = SIGTERM) {
        let running = processes.filter(\.isRunning)
        guard !running.isEmpty else { return }
        for process in running {
            kill(process.pid, SIGCONT)
            kill(process.pid, signalNumber)
        }
        if waitUntil(timeout: grace, interval: 0.01, { running.allSatisfy { !$0.isRunning } }) { return }
        for process in running where process.isRunning { kill(process.pid, SIGKILL) }
        waitUntil(timeout: 5, interval: 0.01) { running.allSatisfy { !$0.isRunning } }
    }

    /// What it wrote so far (the files are read anew each time).
    public var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    public var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    public var standardErrorBytes: [UInt8] { (FileManager.default.contents(atPath: stderrPath)).map { Array($0) } ?? [] }
}
