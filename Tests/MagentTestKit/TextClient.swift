// A blocking client for memcached's text protocol (and raw bytes) over TCP
// or a unix socket, where every read has a deadline.
import Glibc

public final class TextClient {
    public private(set) var fd: Int32
    /// Received bytes; those before `head` were already handed out.
    private var storage: [UInt8] = []
    private var head = 0
    private var chunk = [UInt8](repeating: 0, count: 256 * 1024)
    /// The default deadline of each read, in seconds.
    public let timeout: Double

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

    public init(host: String = "127.0.0.1", port: UInt16, timeout: Double = 5) throws {
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

    public init(unixPath: String, timeout: Double = 5) throws {
        _ = Environment.sigpipeIgnored
        self.timeout = timeout
        guard var address = Sockets.unixAddress(unixPath) else { throw HarnessError("path too long") }
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket failed") }
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

    public func close() {
        if fd >= 0 {
            Glibc.close(fd)
            fd = -1
        }
    }

    /// Closes with SO_LINGER 0: the peer sees a reset, not an orderly close.
    public func reset() {
        guard fd >= 0 else { return }
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        close()
    }

    /// Reads and drops exactly `count` bytes (for replies too large to keep).
    public func discard(count: Int, timeout: Double = 30) throws {
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
    public func shutdownWrite() { if fd >= 0 { shutdown(fd, Int32(SHUT_WR)) } }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ data: [UInt8]) throws {
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

    /// What one read brought: data, nothing before the deadline, or end of stream (or a reset).
    private enum Fill { case data, timeout, closed }

    /// Reads once into the buffer, waiting at most until `deadline`.
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
    public func read(count: Int, timeout: Double? = nil) throws -> [UInt8] {
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
    public func read(until terminator: [UInt8], timeout: Double? = nil, maxBytes: Int = 64 * 1024 * 1024) throws -> [UInt8] {
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

    public func read(until terminator: String, timeout: Double? = nil) throws -> String {
        text(try read(until: Array(terminator.utf8), timeout: timeout))
    }

    /// One line including its "\r\n".
    public func readLine(timeout: Double? = nil) throws -> String { try read(until: "\r\n", timeout: timeout) }

    /// A retrieval reply: everything through the END line.
    public func readRetrieval(timeout: Double? = nil) throws -> [UInt8] {
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
    public func readAvailable(waiting: Double) -> [UInt8] {
        let deadline = now() + waiting
        for _ in 0..<100_000 {
            if fill(until: deadline) != .data { break }
        }
        return take(buffered)
    }

    /// True if the peer closes the connection within `timeout` seconds. Bytes that
    /// arrive first are returned in `before`.
    public func waitForClose(timeout: Double = 3) -> (closed: Bool, before: [UInt8]) {
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
    public func call(_ request: String, expectedLength: Int, timeout: Double? = nil) throws -> String {
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

