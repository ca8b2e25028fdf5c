// Where things are and what this machine allows: the proxy binary, memcached,
// root, IPv6 loopback, sanitizer builds, short temporary directories.
import Foundation
import Glibc

public enum Environment {
    public static let isRoot = geteuid() == 0

    /// Evaluated once before the first socket or child: a write to a closed
    /// connection fails with EPIPE instead of killing the test runner.
    public static let sigpipeIgnored: Void = { signal(SIGPIPE, SIG_IGN); return () }()

    /// The package root, from this file's path (Tests/MagentTestKit/Environment.swift).
    public static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
    }()

    /// MAGENT_BINARY, else <package root>/.build/debug/magent.
    public static func magentBinary() throws -> String {
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

    public static let memcachedBinary = "/usr/bin/memcached"

    /// False when the proxy is a sanitizer build (MAGENT_SANITIZER set, as by
    /// scripts/sanitize.sh): its allocator keeps freed memory in quarantine, so
    /// resident-memory bounds say nothing there and are not checked.
    public static let measuresMemory = ProcessInfo.processInfo.environment["MAGENT_SANITIZER"] == nil

    /// Whether this machine can bind ::1.
    public static let hasIPv6Loopback: Bool = {
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
    public static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/mgit-XXXXXX".utf8CString)
        guard let result = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw HarnessError("mkdtemp failed: \(String(cString: strerror(errno)))")
        }
        return String(cString: result)
    }

    /// Writes a configuration file (one setting a line) into `directory`; returns its path.
    public static func writeConfiguration(_ lines: [String], in directory: String, name: String = "magent.conf") throws -> String {
        let path = "\(directory)/\(name)"
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}
