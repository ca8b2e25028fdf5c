// Free loopback ports, each handed out once per test run, so tests that run
// in parallel never race for the same one.
import Glibc
import MagentCore

public enum Ports {
    /// Ports already handed out in this test run, never handed out twice.
    private static let used = ThreadLock<Set<UInt16>>([])

    /// A free port below 1024 (only root can bind it), or nil.
    public static func freePrivileged() -> UInt16? {
        for candidate in UInt16(900)..<UInt16(1000) {
            guard used.withLock({ !$0.contains(candidate) }),
                  let fd = try? Sockets.silentListener(port: candidate) else { continue }
            close(fd)
            if used.withLock({ $0.insert(candidate).inserted }) { return candidate }
        }
        return nil
    }

    /// A loopback port that was free a moment ago: bind port 0, read it, close.
    /// Whoever listens on it must still retry if another process took it meanwhile.
    public static func free() throws -> UInt16 {
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
