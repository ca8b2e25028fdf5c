// A plain blocking connection with deadlines, for the background refill
// thread (never used on the request path, which is event driven).
import CEventShim
import Glibc

final class BlockingConnection {
    private let fd: Int32
    private let timeoutMilliseconds: Int32
    private var buffer: [UInt8] = []
    private var position = 0

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init(to address: SocketAddress, timeoutMilliseconds: Int) throws {
        self.timeoutMilliseconds = Int32(timeoutMilliseconds)
        switch address.connectNonBlocking() {
        case .failure(let error):
            throw Failure(description: "connect: \(errorText(error.code))")
        case .success(let (socket, connected)):
            fd = socket
            if !connected {
                try wait(for: Int16(POLLOUT))
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                if error != 0 {
                    close(fd)
                    throw Failure(description: "connect: \(errorText(error))")
                }
            }
        }
    }

    deinit { close(fd) }

    private func wait(for events: Int16) throws {
        var descriptor = pollfd(fd: fd, events: events, revents: 0)
        let ready = poll(&descriptor, 1, timeoutMilliseconds)
        if ready <= 0 { throw Failure(description: ready == 0 ? "timed out" : "poll: \(errorText(errno))") }
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EAGAIN || errno == EINTR) {
                try wait(for: Int16(POLLOUT))
            } else {
                throw Failure(description: "send: \(errorText(errno))")
            }
        }
    }

    private func fill() throws {
        if position > 0 {
            buffer.removeFirst(position)
            position = 0
        }
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let received = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if received > 0 {
                buffer.append(contentsOf: chunk[0..<received])
                return
            }
            if received == 0 { throw Failure(description: "connection closed") }
            if errno == EAGAIN || errno == EINTR {
                try wait(for: Int16(POLLIN))
                continue
            }
            throw Failure(description: "recv: \(errorText(errno))")
        }
    }

    /// The next line, without its line end (\n or \r\n).
    func readLine(limit: Int = 64 * 1024) throws -> [UInt8] {
        // Counted from `position`: fill() may move the unread bytes.
        var scanned = 0
        while true {
            if let newline = buffer[(position + scanned)...].firstIndex(of: 10) {
                var line = Array(buffer[position..<newline])
                if line.last == 13 { line.removeLast() }
                position = newline + 1
                return line
            }
            if buffer.count - position > limit { throw Failure(description: "line too long") }
            scanned = buffer.count - position
            try fill()
        }
    }

    func readBytes(_ count: Int) throws -> [UInt8] {
        while buffer.count - position < count { try fill() }
        let bytes = Array(buffer[position..<(position + count)])
        position += count
        return bytes
    }
}
