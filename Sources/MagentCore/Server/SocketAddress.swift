// A resolved socket address (IPv4, IPv6 or unix path) and the socket calls
// built on it: resolve, connect, listen.
import CEventShim
import Glibc

public struct SocketAddress: @unchecked Sendable {
    var storage = sockaddr_storage()
    var length: socklen_t = 0

    public var family: Int32 { Int32(storage.ss_family) }

    /// Resolves a host name or numeric address (first result). `passive` for binding.
    public static func resolve(host: String, port: Int, passive: Bool = false) -> Result<SocketAddress, StartupError> {
        resolveAll(host: host, port: port, passive: passive).map { $0[0] }
    }

    /// Every address a host name resolves to, in the resolver's order (never empty on success).
    public static func resolveAll(host: String, port: Int, passive: Bool = false) -> Result<[SocketAddress], StartupError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        if passive { hints.ai_flags = AI_PASSIVE }
        var results: UnsafeMutablePointer<addrinfo>? = nil
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, results != nil else {
            let reason = status == 0 ? "no address" : String(cString: gai_strerror(status))
            return .failure(StartupError("cannot resolve \(host): \(reason)"))
        }
        defer { freeaddrinfo(results) }
        var addresses: [SocketAddress] = []
        var next = results
        while let entry = next, addresses.count < 64 {
            var address = SocketAddress()
            let length = Swift.min(Int(entry.pointee.ai_addrlen), MemoryLayout<sockaddr_storage>.size)
            withUnsafeMutableBytes(of: &address.storage) { raw in
                raw.copyMemory(from: UnsafeRawBufferPointer(start: entry.pointee.ai_addr, count: length))
            }
            address.length = socklen_t(length)
            addresses.append(address)
            next = entry.pointee.ai_next
        }
        return .success(addresses)
    }

    public static func unix(path: String) -> SocketAddress? {
        var address = SocketAddress()
        var un = sockaddr_un()
        un.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: un.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &un.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        withUnsafeMutableBytes(of: &address.storage) { raw in
            withUnsafeBytes(of: &un) { raw.copyMemory(from: $0) }
        }
        address.length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return address
    }

    /// The address as numbers ("10.0.0.5:11211", "[::1]:11211"), for log
    /// lines about a host name that now resolves elsewhere.
    public var numericText: String {
        guard family == AF_INET || family == AF_INET6 else { return "?" }
        var host = [CChar](repeating: 0, count: Int(NI_MAXHOST))
        var service = [CChar](repeating: 0, count: Int(NI_MAXSERV))
        let status = withSockaddr { getnameinfo($0, $1, &host, socklen_t(host.count), &service, socklen_t(service.count),
                                                NI_NUMERICHOST | NI_NUMERICSERV) }
        guard status == 0 else { return "?" }
        let hostText = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let serviceText = String(decoding: service.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return family == AF_INET6 ? "[\(hostText)]:\(serviceText)" : "\(hostText):\(serviceText)"
    }

    /// The same address: the same bytes over the same length.
    public func sameAddress(as other: SocketAddress) -> Bool {
        guard length == other.length else { return false }
        return withUnsafeBytes(of: storage) { mine in
            withUnsafeBytes(of: other.storage) { theirs in
                mine.prefix(Int(length)).elementsEqual(theirs.prefix(Int(length)))
            }
        }
    }

    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// Starts a non-blocking connect. Returns the socket and whether the
    /// connection is already established, or the errno of an immediate failure.
    public func connectNonBlocking() -> Result<(fd: Int32, connected: Bool), SystemError> {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(SystemError(errno)) }
        guard magent_set_nonblocking(fd) == 0 else {
            let error = errno
            close(fd)
            return .failure(SystemError(error))
        }
        if family != AF_UNIX {
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        }
        let status = withSockaddr { Glibc.connect(fd, $0, $1) }
        if status == 0 { return .success((fd, true)) }
        let error = errno
        if error == EINPROGRESS { return .success((fd, false)) }
        close(fd)
        return .failure(SystemError(error))
    }

    /// Binds and listens; returns the listening socket (non-blocking).
    func listen(reuseAddress: Bool) -> Result<Int32, SystemError> {
        let fd = socket(family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return .failure(SystemError(errno)) }
        var one: Int32 = 1
        if reuseAddress { setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
        let bound = withSockaddr { bind(fd, $0, $1) }
        guard bound == 0, Glibc.listen(fd, 1024) == 0, magent_set_nonblocking(fd) == 0 else {
            let error = errno
            close(fd)
            return .failure(SystemError(error))
        }
        return .success(fd)
    }
}

/// A start-up failure: printed, then magent exits with status 1.
public struct StartupError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// An errno value from a failed system call.
public struct SystemError: Error, Sendable {
    public let code: Int32
    public init(_ code: Int32) { self.code = code }
}

/// strerror as a String (start-up and log messages only).
func errorText(_ code: Int32) -> String { String(cString: strerror(code)) }
