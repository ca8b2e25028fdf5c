// Raw loopback sockets: is something listening, listeners that never answer
// or never accept, and socket files nobody listens on.
import Foundation
import Glibc

public enum Sockets {
    /// Whether something accepts TCP connections at host:port now.
    public static func accepts(host: String = "127.0.0.1", port: UInt16) -> Bool {
        guard let client = try? TextClient(host: host, port: port, timeout: 1) else { return false }
        client.close()
        return true
    }

    /// Whether a connect to the unix socket at `path` succeeds now.
    public static func acceptsUnix(path: String) -> Bool {
        guard let client = try? TextClient(unixPath: path, timeout: 1) else { return false }
        client.close()
        return true
    }

    /// The permission bits of the socket file at `path`, or nil when there is no
    /// socket file there (nothing, or another kind of file).
    public static func socketFileMode(path: String) -> mode_t? {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return nil }
        return status.st_mode & 0o777
    }

    /// A unix socket listener is ready: its file exists with `mode` (the proxy
    /// binds, listens and only then chmods, so a connect alone proves nothing
    /// about the mode) and a connect succeeds.
    public static func unixListenerReady(path: String, mode: mode_t) -> Bool {
        socketFileMode(path: path) == mode && acceptsUnix(path: path)
    }

    /// A sockaddr_un for `path`, or nil when the path does not fit.
    public static func unixAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        return address
    }

    /// Leaves a socket file at `path` that nobody listens on (bound, then closed),
    /// as a process that died without removing its socket does.
    public static func staleUnixSocketFile(at path: String) throws {
        guard var address = unixAddress(path) else { throw HarnessError("unix socket path too long: \(path)") }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed") }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        guard bound == 0 else { throw HarnessError("cannot bind \(path): \(String(cString: strerror(errno)))") }
    }

    /// A listening TCP socket on 127.0.0.1 that never accepts: connections complete
    /// in the kernel's backlog and requests are never answered (a hung server).
    public static func silentListener(port: UInt16) throws -> Int32 {
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
    public static func silentListenerOnFreePort() throws -> (port: UInt16, fd: Int32) {
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
    public static func unreachableListener() throws -> (port: UInt16, fds: [Int32]) {
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
        // With SYN cookies (Linux's default) one connection completes into the
        // zero-length queue and fills it; the rest wait in SYN_SENT, their SYNs
        // dropped. Without them every SYN is dropped from the start.
        let clients = Array(fds.dropFirst())
        let full = !synCookiesEnabled
            || waitUntil(timeout: 5, interval: 0.005) { clients.contains(where: Self.isConnected) }
        guard full else {
            fds.forEach { close($0) }
            throw HarnessError("no connection completed into the backlog of 127.0.0.1:\(port) within 5 s")
        }
        return (port, fds)
    }

    /// net.ipv4.tcp_syncookies is not 0 (unreadable counts as the default, 1).
    private static var synCookiesEnabled: Bool {
        let setting = (try? String(contentsOfFile: "/proc/sys/net/ipv4/tcp_syncookies", encoding: .utf8)) ?? "1"
        return setting.trimmingCharacters(in: .whitespacesAndNewlines) != "0"
    }

    /// Whether a non-blocking connect on `fd` has completed (writable, no error).
    private static func isConnected(_ fd: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        guard poll(&descriptor, 1, 0) == 1, descriptor.revents & Int16(POLLOUT) != 0 else { return false }
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0
    }
}
