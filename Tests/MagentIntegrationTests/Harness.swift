// The integration harness: free loopback ports, memcached and magent processes
// started and stopped by PID, blocking text clients with deadlines, mock backends.
import Foundation
import Glibc
import Synchronization
import Testing
@testable import MagentCore

// MARK: - Errors and small helpers

/// A harness failure with enough context to see what went wrong.
struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Bytes as readable text: printable ASCII kept, the rest escaped.
func escaped(_ bytes: some Sequence<UInt8>, limit: Int = 600) -> String {
    var text = ""
    var count = 0
    for byte in bytes {
        count += 1
        if count > limit {
            text += "…"
            break
        }
        switch byte {
        case 13: text += "\\r"
        case 10: text += "\\n"
        case 9: text += "\\t"
        case 0: text += "\\0"
        case 32..<127: text.append(Character(UnicodeScalar(byte)))
        default: text += String(format: "\\x%02x", byte)
        }
    }
    return text
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// Space-separated fields of a protocol line, its "\r\n" removed. (Swift treats
/// "\r\n" as one Character, so never `dropLast(2)` a String.)
func fields(_ line: String) -> [String] {
    var utf8 = Array(line.utf8)
    if utf8.last == 10 { utf8.removeLast() }
    if utf8.last == 13 { utf8.removeLast() }
    return utf8.split(separator: 32).map { String(decoding: $0, as: UTF8.self) }
}

/// Seconds on a monotonic clock.
func now() -> Double {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
}

func sleep(seconds: Double) {
    usleep(UInt32(max(0, seconds) * 1_000_000))
}

/// Polls `condition` every `interval` until it holds or `timeout` passes; bounded in count too.
@discardableResult
func waitUntil(timeout: Double, interval: Double = 0.02, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = now() + timeout
    let maxRounds = Int(timeout / interval) + 2
    for _ in 0..<maxRounds {
        if try condition() { return true }
        if now() >= deadline { break }
        sleep(seconds: interval)
    }
    return try condition()
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
func pseudoRandomBytes(count: Int, seed: UInt64) -> [UInt8] {
    var state = seed | 1
    var result = [UInt8](repeating: 0, count: count)
    for index in 0..<count {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        result[index] = UInt8(truncatingIfNeeded: state >> 24)
    }
    return result
}

enum Environment {
    static let isRoot = geteuid() == 0
    static let sigpipeIgnored: Void = { signal(SIGPIPE, SIG_IGN); return () }()

    /// The package root, from this file's path (Tests/MagentIntegrationTests/Harness.swift).
    static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    /// MAGENT_BINARY, else <package root>/.build/debug/magent.
    static func magentBinary() throws -> String {
        let path: String
        if let fromEnvironment = ProcessInfo.processInfo.environment["MAGENT_BINARY"], !fromEnvironment.isEmpty {
            path = fromEnvironment
        } else {
            path = packageRoot + "/.build/debug/magent"
        }
        guard access(path, X_OK) == 0 else {
            throw HarnessError("magent binary not found or not executable at \(path); build it first "
                               + "(swift build) or set MAGENT_BINARY to its path")
        }
        return path
    }

    static let memcachedBinary = "/usr/bin/memcached"

    /// False when the proxy is a sanitizer build (MAGENT_SANITIZER set, as by
    /// scripts/sanitize.sh): its allocator keeps freed memory in quarantine, so
    /// resident-memory bounds say nothing there and are not checked.
    static let measuresMemory = ProcessInfo.processInfo.environment["MAGENT_SANITIZER"] == nil

    /// Whether this machine can bind ::1.
    static let hasIPv6Loopback: Bool = {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        address.sin6_port = 0
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
    }()

    /// A fresh directory under /tmp with a short path (unix socket paths are limited to 107 bytes).
    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/mgit-XXXXXX".utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        return String(cString: result)
    }
}

// MARK: - Ports

enum Ports {
    /// Ports already handed out in this test run, never handed out twice.
    private static let used = ThreadLock<Set<UInt16>>([])

    /// A free port below 1024 (only root can bind it), or nil.
    static func freePrivileged() -> UInt16? {
        for candidate in UInt16(900)..<UInt16(1000) {
            guard used.withLock({ !$0.contains(candidate) }),
                  let fd = try? Sockets.silentListener(port: candidate) else { continue }
            close(fd)
            if used.withLock({ $0.insert(candidate).inserted }) { return candidate }
        }
        return nil
    }

    /// A loopback port that was free a moment ago: bind port 0, read it, close.
    static func free() throws -> UInt16 {
        for _ in 0..<50 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw HarnessError("socket failed") }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = 0
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
                    bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            close(fd)
            guard bound else { continue }
            let port = UInt16(bigEndian: address.sin_port)
            let fresh = used.withLock { $0.insert(port).inserted }
            if fresh { return port }
        }
        throw HarnessError("no free loopback port found")
    }
}

// MARK: - Processes

/// A child process started with posix_spawn: stdin from /dev/null, stdout and
/// stderr to files, default signal dispositions and an empty signal mask (so
/// SIGPIPE and SIGTERM behave as they would from a shell, whatever the test
/// runner has set). Reaped with waitpid by PID.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    let arguments: [String]
    let stdoutPath: String
    let stderrPath: String
    private let lock = ThreadLock<Int32?>(nil)  // the wait status once reaped

    init(executable: String, arguments: [String], directory: String) throws {
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
    var waitStatus: Int32? {
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

    var isRunning: Bool { waitStatus == nil }

    /// The exit code, or nil if it was killed by a signal or still runs.
    var exitCode: Int32? {
        guard let status = waitStatus, status & 0x7f == 0 else { return nil }
        return (status >> 8) & 0xff
    }

    /// The terminating signal, if any.
    var terminatingSignal: Int32? {
        guard let status = waitStatus, status & 0x7f != 0, status & 0x7f != 0x7f else { return nil }
        return status & 0x7f
    }

    /// Waits (bounded) for exit; true if it exited.
    @discardableResult
    func waitForExit(timeout: Double) -> Bool {
        waitUntil(timeout: timeout, interval: 0.01) { !isRunning }
    }

    func signal(_ signalNumber: Int32) {
        if isRunning { kill(pid, signalNumber) }
    }

    /// SIGCONT (in case it is stopped), SIGTERM, then SIGKILL after `grace` seconds.
    func stop(grace: Double = 3) {
        Self.stopAll([self], grace: grace)
    }

    /// Stops several at once: SIGTERM to each, one shared grace period, then SIGKILL.
    static func stopAll(_ processes: [ChildProcess], grace: Double) {
        let running = processes.filter(\.isRunning)
        guard !running.isEmpty else { return }
        for process in running {
            kill(process.pid, SIGCONT)
            kill(process.pid, SIGTERM)
        }
        if waitUntil(timeout: grace, interval: 0.01, { running.allSatisfy { !$0.isRunning } }) { return }
        for process in running where process.isRunning { kill(process.pid, SIGKILL) }
        waitUntil(timeout: 5, interval: 0.01) { running.allSatisfy { !$0.isRunning } }
    }

    var standardError: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
    var standardOutput: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }
    var standardErrorBytes: [UInt8] { (FileManager.default.contents(atPath: stderrPath)).map { Array($0) } ?? [] }
}

/// Runs a command to completion (bounded) and returns its exit code and output.
struct CommandResult {
    var exitCode: Int32?
    var signal: Int32?
    var standardOutput: String
    var standardError: String
    var seconds: Double
}

func runToCompletion(_ executable: String, _ arguments: [String], timeout: Double = 10) throws -> CommandResult {
    let directory = try Environment.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let started = now()
    let child = try ChildProcess(executable: executable, arguments: arguments, directory: directory)
    if !child.waitForExit(timeout: timeout) {
        child.stop(grace: 1)
        throw HarnessError("\(executable) \(arguments.joined(separator: " ")) did not exit within \(timeout) s; "
                           + "stderr: \(child.standardError)")
    }
    return CommandResult(exitCode: child.exitCode, signal: child.terminatingSignal, standardOutput: child.standardOutput,
                         standardError: child.standardError, seconds: now() - started)
}

// MARK: - Processes found by command line (daemons we do not parent)

enum ProcessTable {
    /// PIDs whose argv contains every one of `arguments` in order as consecutive entries.
    static func pids(withArguments arguments: [String], executable: String) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var result: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid() else { continue }
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { continue }
            let argv = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard argv.first == executable, argv.count >= arguments.count else { continue }
            let matches = (0...(argv.count - arguments.count)).contains { start in
                Array(argv[start..<(start + arguments.count)]) == arguments
            }
            if matches && isAlive(pid) { result.append(pid) }
        }
        return result
    }

    /// Alive and not a zombie.
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        guard let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].first
        return state != "Z" && state != "X"
    }

    /// SIGTERM, then SIGKILL after a bound, for a process we did not start as a child.
    static func stop(_ pid: pid_t, grace: Double = 3) {
        guard isAlive(pid) else { return }
        kill(pid, SIGTERM)
        if waitUntil(timeout: grace, { !isAlive(pid) }) { return }
        kill(pid, SIGKILL)
        waitUntil(timeout: 3) { !isAlive(pid) }
    }

    /// Resident memory in KiB.
    static func residentKiB(_ pid: pid_t) -> Int? {
        statusField(pid, "VmRSS")?.first.flatMap { Int($0) }
    }

    /// The `Key:` line of /proc/PID/status, fields split on whitespace.
    static func statusField(_ pid: pid_t, _ key: String) -> [String]? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        return nil
    }
}

// MARK: - Sockets

enum Sockets {
    /// Whether something accepts TCP connections at host:port now.
    static func accepts(host: String = "127.0.0.1", port: UInt16) -> Bool {
        guard let client = try? TextClient(host: host, port: port, timeout: 1) else { return false }
        client.close()
        return true
    }

    static func acceptsUnix(path: String) -> Bool {
        guard let client = try? TextClient(unixPath: path, timeout: 1) else { return false }
        client.close()
        return true
    }

    /// A listening TCP socket on 127.0.0.1 that never accepts: connections complete
    /// in the kernel's backlog and requests are never answered (a hung server).
    static func silentListener(port: UInt16) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
        guard bound, listen(fd, 64) == 0 else {
            close(fd)
            throw HarnessError("cannot listen on 127.0.0.1:\(port): \(String(cString: strerror(errno)))")
        }
        return fd
    }

    /// A silent listener on a fresh port (retrying if the port was taken meanwhile).
    static func silentListenerOnFreePort() throws -> (port: UInt16, fd: Int32) {
        var lastError: Error = HarnessError("no port")
        for _ in 0..<3 {
            do {
                let port = try Ports.free()
                return (port, try silentListener(port: port))
            } catch { lastError = error }
        }
        throw lastError
    }

    /// A listener whose accept queue is full: new connections never complete
    /// (the SYN is dropped), as with an unreachable host. Returns the fds to close.
    static func unreachableListener() throws -> (port: UInt16, fds: [Int32]) {
        let (port, listener) = try silentListenerOnFreePort()
        guard listen(listener, 0) == 0 else { throw HarnessError("listen failed") }
        var fds = [listener]
        // Fill the queue: connections that complete in the kernel and are never accepted.
        for _ in 0..<4 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = port.bigEndian
            _ = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            fds.append(fd)
        }
        usleep(50_000)
        return (port, fds)
    }
}

/// A blocking text client over TCP or a unix socket. Every read has a deadline;
/// bytes read past what a call asked for stay buffered for the next call.
final class TextClient {
    private(set) var fd: Int32
    /// Received bytes; those before `head` were already handed out.
    private var storage: [UInt8] = []
    private var head = 0
    private var chunk = [UInt8](repeating: 0, count: 256 * 1024)
    let timeout: Double

    private var buffered: Int { storage.count - head }
    private var buffer: ArraySlice<UInt8> { storage[head...] }

    /// Hands out the first `count` buffered bytes.
    private func take(_ count: Int) -> [UInt8] {
        let result = Array(storage[head..<(head + count)])
        head += count
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1 << 20 && head > storage.count / 2 {
            storage.removeFirst(head)
            head = 0
        }
        return result
    }

    init(host: String = "127.0.0.1", port: UInt16, timeout: Double = 5) throws {
        _ = Environment.sigpipeIgnored
        self.timeout = timeout
        var v4 = sockaddr_in()
        var v6 = sockaddr_in6()
        if inet_pton(AF_INET, host, &v4.sin_addr) == 1 {
            v4.sin_family = sa_family_t(AF_INET)
            v4.sin_port = port.bigEndian
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw HarnessError("socket failed") }
            do { try Self.connectBlocking(fd, &v4, timeout: timeout, what: "\(host):\(port)") } catch { fd = -1; throw error }
        } else if inet_pton(AF_INET6, host, &v6.sin6_addr) == 1 {
            v6.sin6_family = sa_family_t(AF_INET6)
            v6.sin6_port = port.bigEndian
            fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw HarnessError("socket failed") }
            do { try Self.connectBlocking(fd, &v6, timeout: timeout, what: "[\(host)]:\(port)") } catch { fd = -1; throw error }
        } else {
            throw HarnessError("not a numeric address: \(host)")
        }
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    init(unixPath: String, timeout: Double = 5) throws {
        _ = Environment.sigpipeIgnored
        self.timeout = timeout
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(unixPath.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw HarnessError("path too long") }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        do { try Self.connectBlocking(fd, &address, timeout: timeout, what: unixPath) } catch { fd = -1; throw error }
    }

    /// Connects within `timeout` (a non-blocking connect and poll), then leaves the
    /// socket blocking. On failure the socket is closed here and `fd` must not be
    /// used again (the caller sets it to -1: deinit runs after a throwing init).
    private static func connectBlocking<Address>(_ fd: Int32, _ address: inout Address, timeout: Double, what: String) throws {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
        var error: Int32 = result == 0 ? 0 : errno
        if result != 0 && error == EINPROGRESS {
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, Int32(timeout * 1000))
            if ready <= 0 {
                error = ETIMEDOUT
            } else {
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            }
        }
        if error != 0 {
            Glibc.close(fd)
            throw HarnessError("cannot connect to \(what): \(String(cString: strerror(error)))")
        }
        _ = fcntl(fd, F_SETFL, flags)
    }

    deinit { close() }

    func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Closes with SO_LINGER 0: the peer sees a reset, not an orderly close.
    func reset() {
        guard fd >= 0 else { return }
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    /// Reads and drops exactly `count` bytes (for replies too large to keep).
    func discard(count: Int, timeout: Double = 30) throws {
        let deadline = now() + timeout
        var left = count
        for _ in 0..<10_000_000 {
            let taken = min(left, buffered)
            if taken > 0 { _ = take(taken) }
            left -= taken
            if left == 0 { return }
            switch fill(until: deadline) {
            case .data: continue
            case .timeout: throw HarnessError("timed out with \(left) of \(count) bytes to discard")
            case .closed: throw HarnessError("closed with \(left) of \(count) bytes to discard")
            }
        }
        throw HarnessError("read loop bound reached")
    }

    /// Half-closes: the peer reads end of input, replies can still come back.
    func shutdownWrite() { if fd >= 0 { shutdown(fd, Int32(SHUT_WR)) } }

    func send(_ text: String) throws { try send(Array(text.utf8)) }

    func send(_ data: [UInt8]) throws {
        var offset = 0
        let deadline = now() + max(timeout, 10)
        for _ in 0..<10_000_000 {
            if offset >= data.count { return }
            guard now() < deadline else { throw HarnessError("send timed out after \(offset) of \(data.count) bytes") }
            let written = data.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EINTR || errno == EAGAIN) {
                continue
            } else {
                throw HarnessError("send failed after \(offset) of \(data.count) bytes: \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Reads once into the buffer, waiting at most until `deadline`.
    /// Returns false at end of stream (or a reset); throws nothing on timeout.
    private enum Fill { case data, timeout, closed }

    private func fill(until deadline: Double) -> Fill {
        let remaining = deadline - now()
        guard remaining > 0 else { return .timeout }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, Int32(min(remaining * 1000, 60_000).rounded(.up)))
        if ready == 0 { return .timeout }
        if ready < 0 { return errno == EINTR ? .data : .closed }
        let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if received > 0 {
            storage.append(contentsOf: chunk[0..<received])
            return .data
        }
        if received < 0 && (errno == EINTR || errno == EAGAIN) { return .data }
        return .closed
    }

    /// Exactly `count` bytes, or an error naming what did arrive.
    func read(count: Int, timeout: Double? = nil) throws -> [UInt8] {
        let deadline = now() + (timeout ?? self.timeout)
        for _ in 0..<1_000_000 {
            if buffered >= count { break }
            switch fill(until: deadline) {
            case .data: continue
            case .timeout:
                throw HarnessError("timed out waiting for \(count) bytes; got \(buffered): \"\(escaped(buffer))\"")
            case .closed:
                throw HarnessError("connection closed while waiting for \(count) bytes; got \(buffered): \"\(escaped(buffer))\"")
            }
        }
        guard buffered >= count else { throw HarnessError("read loop bound reached") }
        return take(count)
    }

    /// Everything up to and including the first `terminator`.
    func read(until terminator: [UInt8], timeout: Double? = nil, maxBytes: Int = 64 * 1024 * 1024) throws -> [UInt8] {
        let deadline = now() + (timeout ?? self.timeout)
        var searchFrom = head
        for _ in 0..<1_000_000 {
            if let end = Self.find(terminator, in: storage, from: searchFrom) {
                return take(end - head)
            }
            searchFrom = max(head, storage.count - terminator.count + 1)
            guard buffered <= maxBytes else { throw HarnessError("no \"\(escaped(terminator))\" within \(maxBytes) bytes") }
            switch fill(until: deadline) {
            case .data: continue
            case .timeout:
                throw HarnessError("timed out waiting for \"\(escaped(terminator))\"; got \(buffered): \"\(escaped(buffer))\"")
            case .closed:
                throw HarnessError("connection closed while waiting for \"\(escaped(terminator))\"; got \(buffered): \"\(escaped(buffer))\"")
            }
        }
        throw HarnessError("read loop bound reached")
    }

    func read(until terminator: String, timeout: Double? = nil) throws -> String {
        text(try read(until: Array(terminator.utf8), timeout: timeout))
    }

    /// One line including its "\r\n".
    func readLine(timeout: Double? = nil) throws -> String { try read(until: "\r\n", timeout: timeout) }

    /// A retrieval reply: everything through the END line.
    func readRetrieval(timeout: Double? = nil) throws -> [UInt8] {
        // "END\r\n" may occur inside a value; parse VALUE headers to skip data blocks.
        var result: [UInt8] = []
        let deadline = now() + (timeout ?? self.timeout)
        for _ in 0..<1_000_000 {
            let line = try read(until: [13, 10], timeout: max(0.001, deadline - now()))
            result += line
            if line == Array("END\r\n".utf8) { return result }
            let parts = fields(text(line))
            guard parts.first == "VALUE", parts.count >= 4, let length = Int(parts[3]) else { return result }
            result += try read(count: length + 2, timeout: max(0.001, deadline - now()))
        }
        throw HarnessError("read loop bound reached")
    }

    /// Whatever arrives within `waiting` seconds (and what was already buffered).
    func readAvailable(waiting: Double) -> [UInt8] {
        let deadline = now() + waiting
        for _ in 0..<100_000 {
            if fill(until: deadline) != .data { break }
        }
        return take(buffered)
    }

    /// True if the peer closes the connection within `timeout` seconds. Bytes that
    /// arrive first are returned in `before`.
    func waitForClose(timeout: Double = 3) -> (closed: Bool, before: [UInt8]) {
        let deadline = now() + timeout
        for _ in 0..<100_000 {
            switch fill(until: deadline) {
            case .data: continue
            case .timeout:
                return (false, take(buffered))
            case .closed:
                return (true, take(buffered))
            }
        }
        return (false, take(buffered))
    }

    /// Sends `request` and reads exactly as many bytes as `expected` has.
    func call(_ request: String, expectedLength: Int, timeout: Double? = nil) throws -> String {
        try send(request)
        return text(try read(count: expectedLength, timeout: timeout))
    }

    /// The index just past the first `needle` at or after `start`.
    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count > 0, start >= 0, haystack.count - start >= needle.count else { return nil }
        return haystack.withUnsafeBytes { hay in
            needle.withUnsafeBytes { pin in
                let base = hay.baseAddress!
                let first = Int32(pin[0])
                var position = start
                let last = hay.count - pin.count
                for _ in 0..<hay.count {
                    guard position <= last,
                          let found = memchr(base + position, first, last - position + 1) else { return nil }
                    let index = base.distance(to: UnsafeRawPointer(found))
                    if memcmp(found, pin.baseAddress!, pin.count) == 0 { return index + pin.count }
                    position = index + 1
                }
                return nil
            }
        }
    }
}

extension TextClient {
    /// Sends `request`, reads as many bytes as `expected` has and expects them to be
    /// exactly `expected`. On a short or late reply the harness error is recorded.
    func expect(_ request: String, _ expected: String, timeout: Double? = nil,
                sourceLocation: SourceLocation = #_sourceLocation) {
        expect(Array(request.utf8), expected, timeout: timeout, sourceLocation: sourceLocation)
    }

    func expect(_ request: [UInt8], _ expected: String, timeout: Double? = nil,
                sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            try send(request)
            let reply = try read(count: expected.utf8.count, timeout: timeout)
            #expect(escaped(reply, limit: 4000) == escaped(Array(expected.utf8), limit: 4000), sourceLocation: sourceLocation)
        } catch {
            Issue.record("request \"\(escaped(request))\": expected \"\(escaped(Array(expected.utf8)))\": \(error)",
                         sourceLocation: sourceLocation)
        }
    }

    /// Expects that nothing more arrives within `waiting` seconds.
    func expectSilence(waiting: Double = 0.15, sourceLocation: SourceLocation = #_sourceLocation) {
        let extra = readAvailable(waiting: waiting)
        #expect(extra.isEmpty, "unexpected bytes: \"\(escaped(extra))\"", sourceLocation: sourceLocation)
    }
}

// MARK: - memcached

/// One memcached process on a loopback port.
final class Memcached {
    private(set) var port: UInt16
    private(set) var process: ChildProcess
    let directory: String
    let listenAddresses: String

    /// Starts memcached and waits until it accepts (retrying on a new port if the
    /// chosen one was taken meanwhile).
    init(port requestedPort: UInt16? = nil, listen: String = "127.0.0.1", extraArguments: [String] = []) throws {
        directory = try Environment.temporaryDirectory()
        listenAddresses = listen
        var lastError = ""
        for attempt in 0..<3 {
            let port = try (attempt == 0 ? requestedPort : nil) ?? Ports.free()
            let child = try Self.spawn(port: port, listen: listen, directory: directory, extra: extraArguments)
            if waitUntil(timeout: 5, { !child.isRunning || Sockets.accepts(port: port) }) && child.isRunning {
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

    /// Starts memcached again on the same port (after kill), empty.
    func restart() throws {
        process.stop(grace: Self.stopGrace)
        let child = try Self.spawn(port: port, listen: listenAddresses, directory: directory, extra: [])
        guard waitUntil(timeout: 5, { !child.isRunning || Sockets.accepts(port: port) }), child.isRunning else {
            child.stop(grace: 1)
            throw HarnessError("memcached did not restart on \(port): \(child.standardError)")
        }
        process = child
    }

    var address: String { "127.0.0.1:\(port)" }
    /// The server's name on magent's placement list.
    var placementName: String { "127.0.0.1-\(port)" }

    func kill() { process.signal(SIGKILL); process.waitForExit(timeout: 5) }
    func terminate() { process.signal(SIGTERM); process.waitForExit(timeout: 5) }
    /// SIGSTOP, and wait (bounded) until the kernel shows the process stopped,
    /// so nothing sent afterwards can still be served.
    func pause() {
        process.signal(SIGSTOP)
        _ = waitUntil(timeout: 2) {
            guard let stat = try? String(contentsOfFile: "/proc/\(process.pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(close, offsetBy: 2)] == "T"
        }
    }
    func resume() { process.signal(SIGCONT) }

    /// memcached acts on SIGTERM only at its next clock tick (up to a second), so
    /// it gets a short grace before SIGKILL: it holds nothing worth a clean exit.
    static let stopGrace = 0.2

    func stop() {
        process.stop(grace: Self.stopGrace)
        try? FileManager.default.removeItem(atPath: directory)
    }

    // Direct access, bypassing the proxy.

    func client() throws -> TextClient { try TextClient(port: port) }

    /// The value of `key` read directly, or nil on a miss.
    func get(_ key: String) throws -> [UInt8]? {
        try getMany([key])[key]
    }

    func getString(_ key: String) throws -> String? { try get(key).map(text) }

    /// Values of the keys present, read directly with one multi-get.
    func getMany(_ keys: [String]) throws -> [String: [UInt8]] {
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
    func set(_ key: String, _ value: String, flags: Int = 0) throws {
        let connection = try client()
        defer { connection.close() }
        try connection.send("set \(key) \(flags) 0 \(value.utf8.count)\r\n\(value)\r\n")
        let reply = try connection.readLine()
        guard reply == "STORED\r\n" else { throw HarnessError("direct set on \(port) answered \(reply)") }
    }

    /// `stats` of memcached itself.
    func stats() throws -> [String: String] {
        let connection = try client()
        defer { connection.close() }
        try connection.send("stats\r\n")
        let block = try connection.read(until: "END\r\n")
        var result: [String: String] = [:]
        for line in block.components(separatedBy: "\r\n") {
            let parts = fields(line)
            if parts.count == 3 && parts[0] == "STAT" { result[parts[1]] = parts[2] }
        }
        return result
    }

    func stat(_ name: String) throws -> Int {
        guard let value = try stats()[name], let number = Int(value) else { throw HarnessError("no stat \(name)") }
        return number
    }

    /// cmd_get + cmd_set + cmd_touch + incr/decr/delete hits and misses + cas: every request that reached it.
    func commandCount() throws -> Int {
        let stats = try stats()
        let names = ["cmd_get", "cmd_set", "cmd_touch", "incr_hits", "incr_misses", "decr_hits", "decr_misses",
                     "delete_hits", "delete_misses", "cas_misses", "cas_hits", "cas_badval", "cmd_flush"]
        return names.reduce(0) { $0 + (Int(stats[$1] ?? "0") ?? 0) }
    }
}

// MARK: - magent

/// One magent process, started in the foreground (-D) on a fresh port.
final class Magent {
    let port: UInt16
    let host: String
    let process: ChildProcess
    let directory: String
    let unixPath: String?

    var pid: pid_t { process.pid }

    /// `-D -l host -p port` plus `arguments`; waits (5 s) until it accepts. When
    /// the port was chosen here and someone took it meanwhile, tries another.
    /// `launcher` runs magent through another program that execs it (same
    /// PID), e.g. `["/usr/bin/prlimit", "--nofile=40:40"]`.
    init(_ arguments: [String], host: String = "127.0.0.1", port requestedPort: UInt16? = nil,
         unixPath: String? = nil, directory: String? = nil, launcher: [String] = []) throws {
        let binary = try Environment.magentBinary()
        self.directory = try directory ?? Environment.temporaryDirectory()
        self.host = host
        self.unixPath = unixPath
        var failure = ""
        for attempt in 0..<3 {
            let port = try requestedPort ?? Ports.free()
            var full = ["-D", "-l", host, "-p", String(port)] + arguments
            if let unixPath { full += ["-f", unixPath] }
            let child = launcher.isEmpty
                ? try ChildProcess(executable: binary, arguments: full, directory: self.directory)
                : try ChildProcess(executable: launcher[0], arguments: Array(launcher.dropFirst()) + [binary] + full,
                                   directory: self.directory)
            let ready = waitUntil(timeout: 5) {
                guard child.isRunning else { return true }
                if port != 0 { return Sockets.accepts(host: host, port: port) }
                return unixPath.map(Sockets.acceptsUnix) ?? false
            }
            if ready && child.isRunning {
                self.port = port
                self.process = child
                return
            }
            let stderr = child.standardError
            child.stop(grace: 1)
            failure = "magent \(full.joined(separator: " ")) did not start (exit \(String(describing: child.exitCode))): \(stderr)"
            guard requestedPort == nil, stderr.contains("cannot listen on \(host)"), attempt < 2 else { break }
        }
        if directory == nil { try? FileManager.default.removeItem(atPath: self.directory) }
        throw HarnessError(failure)
    }

    func client(timeout: Double = 5) throws -> TextClient { try TextClient(host: host, port: port, timeout: timeout) }

    var isRunning: Bool { process.isRunning }

    func stop() {
        process.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

// MARK: - A proxy with its memcached servers

/// memcached primaries and backups plus one magent in front of them. Stop it with
/// `stop()` (every test does, in a defer).
final class Cluster {
    let primaries: [Memcached]
    let backups: [Memcached]
    let magent: Magent
    let mode: PlacementMode
    /// Built once: a ketama ring is costly to build in a debug build.
    private let primaryPlacement: KeyPlacement
    private let backupPlacement: KeyPlacement?

    /// Starts `primaryCount` + `backupCount` memcached servers and magent with
    /// `-s`/`-b` for each (in order) plus `arguments`.
    init(primaries primaryCount: Int, backups backupCount: Int = 0, arguments: [String] = ["-t", "1"],
         mode: PlacementMode = .modulo, unixPath: String? = nil) throws {
        var started: [Memcached] = []
        do {
            for _ in 0..<(primaryCount + backupCount) { started.append(try Memcached()) }
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
            magent = try Magent(full + arguments, unixPath: unixPath)
        } catch {
            started.forEach { $0.stop() }
            throw error
        }
    }

    var port: UInt16 { magent.port }

    func client(timeout: Double = 5) throws -> TextClient { try magent.client(timeout: timeout) }

    /// Index of the key's primary and backup, as magent should place them.
    func placement(of key: String) -> (primary: Int, backup: Int?) {
        let keyBytes = Array(key.utf8)
        let primary = keyBytes.withUnsafeBytes { primaryPlacement.serverIndex(for: $0) }
        let backup = backupPlacement.map { placement in keyBytes.withUnsafeBytes { placement.serverIndex(for: $0) } }
        return (primary, backup)
    }

    func primary(for key: String) -> Memcached { primaries[placement(of: key).primary] }
    func backup(for key: String) -> Memcached? { placement(of: key).backup.map { backups[$0] } }

    /// `count` keys named `prefix<n>` whose primary is `index`.
    func keys(onPrimary index: Int, count: Int, prefix: String = "k") -> [String] {
        var result: [String] = []
        for number in 0..<100_000 {
            if result.count == count { break }
            let key = "\(prefix)\(number)"
            if placement(of: key).primary == index { result.append(key) }
        }
        return result
    }

    func stop() {
        magent.stop()
        let servers = primaries + backups
        ChildProcess.stopAll(servers.map(\.process), grace: Memcached.stopGrace)
        servers.forEach { $0.stop() }
    }
}

enum Placement {
    static func predict(_ key: String, primaries: [String], backups: [String], mode: PlacementMode) -> (primary: Int, backup: Int?) {
        let keyBytes = Array(key.utf8)
        let primary = keyBytes.withUnsafeBytes { KeyPlacement(mode: mode, serverNames: primaries).serverIndex(for: $0) }
        guard !backups.isEmpty else { return (primary, nil) }
        let backup = keyBytes.withUnsafeBytes { KeyPlacement(mode: mode, serverNames: backups).serverIndex(for: $0) }
        return (primary, backup)
    }
}

// MARK: - Mock backends

/// A scripted memcached stand-in on a loopback port: a thread accepts
/// connections and a thread per connection reads request lines and answers
/// through `respond`. `version` is always answered (health probes).
final class MockBackend: @unchecked Sendable {
    enum Action: Sendable {
        /// Write these bytes after `delay` seconds.
        case reply([UInt8], delay: Double)
        /// Write these bytes, then close the connection.
        case replyAndClose([UInt8])
        /// Read the line and say nothing.
        case ignore
        /// Close with SO_LINGER 0: the proxy sees a reset (RST).
        case reset
    }

    let port: UInt16
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let running = Atomic<Int>(0)
    /// Every request line received (without "\r\n"), in order of arrival.
    private let lines = ThreadLock<[String]>([])
    /// Raw bytes received on all connections.
    private let received = ThreadLock<[UInt8]>([])
    private let respond: @Sendable (String) -> Action

    init(respond: @escaping @Sendable (String) -> Action) throws {
        _ = Environment.sigpipeIgnored
        self.respond = respond
        (port, listener) = try Sockets.silentListenerOnFreePort()
        running.add(1, ordering: .relaxed)
        let thread = Thread { [self] in self.acceptLoop() }
        thread.start()
    }

    var address: String { "127.0.0.1:\(port)" }
    var requestLines: [String] { lines.withLock { $0 } }
    var receivedBytes: [UInt8] { received.withLock { $0 } }

    private func acceptLoop() {
        defer { running.subtract(1, ordering: .relaxed) }
        let deadline = now() + 120
        while !stopped.load(ordering: .relaxed) && now() < deadline {
            var descriptor = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 50) > 0 else { continue }
            let connection = accept(listener, nil, nil)
            guard connection >= 0 else { continue }
            running.add(1, ordering: .relaxed)
            let thread = Thread { [self] in self.serve(connection) }
            thread.start()
        }
    }

    private func serve(_ connection: Int32) {
        defer {
            close(connection)
            running.subtract(1, ordering: .relaxed)
        }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        let deadline = now() + 120
        while !stopped.load(ordering: .relaxed) && now() < deadline {
            var descriptor = pollfd(fd: connection, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 50) > 0 else { continue }
            let count = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return }
            received.withLock { $0.append(contentsOf: chunk[0..<count]) }
            pending.append(contentsOf: chunk[0..<count])
            while let newline = pending.firstIndex(of: 10) {
                var line = Array(pending[0..<newline])
                pending.removeFirst(newline + 1)
                if line.last == 13 { line.removeLast() }
                let request = text(line)
                lines.withLock { $0.append(request) }
                let action: Action = request == "version" ? .reply(Array("VERSION mock\r\n".utf8), delay: 0) : respond(request)
                switch action {
                case .reply(let reply, let delay):
                    if delay > 0 { sleep(seconds: delay) }
                    if !write(reply, to: connection) { return }
                case .replyAndClose(let reply):
                    _ = write(reply, to: connection)
                    return
                case .ignore:
                    break
                case .reset:
                    var option = linger(l_onoff: 1, l_linger: 0)
                    setsockopt(connection, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
                    return
                }
            }
        }
    }

    private func write(_ data: [UInt8], to connection: Int32) -> Bool {
        var offset = 0
        for _ in 0..<10_000 {
            if offset >= data.count { break }
            let written = data.withUnsafeBytes { Glibc.send(connection, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return false }
            offset += written
        }
        return true
    }

    func stop() {
        stopped.store(true, ordering: .relaxed)
        waitUntil(timeout: 3) { running.load(ordering: .relaxed) == 0 }
        close(listener)
    }
}

// MARK: - Protocol text

enum Text {
    static let version = "VERSION 1.6.0 memcached agent v1.0.0\r\n"
    static let badFormat = "CLIENT_ERROR bad command line format\r\n"

    /// The `VALUE` block memcached sends for one item (without END).
    static func value(_ key: String, _ data: String, flags: Int = 0) -> String {
        "VALUE \(key) \(flags) \(data.utf8.count)\r\n\(data)\r\n"
    }

    static func hit(_ key: String, _ data: String, flags: Int = 0) -> String { value(key, data, flags: flags) + "END\r\n" }

    static func set(_ key: String, _ data: String, flags: Int = 0, verb: String = "set", noreply: Bool = false) -> String {
        "\(verb) \(key) \(flags) 0 \(data.utf8.count)\(noreply ? " noreply" : "")\r\n\(data)\r\n"
    }

    /// The agent's `stats` block for these primaries and pool sizes.
    static func agentStats(_ servers: [(String, Int)]) -> String {
        var result = "memcached agent v1.0.0\r\n"
        for (index, (address, pool)) in servers.enumerated() {
            result += "matrix \(index + 1) -> \(address), pool size \(pool)\r\n"
        }
        return result + "END\r\n"
    }
}
