// A scripted stand-in for memcached on a loopback port: answers as told,
// late, never, or by closing, and records what it received.
import Foundation
import Glibc
import Synchronization
import MagentCore

/// A scripted memcached stand-in on a loopback port: a thread accepts
/// connections and a thread per connection reads request lines and answers
/// through `respond`. `version` is always answered (health probes).
public final class MockBackend: @unchecked Sendable {
    public enum Action: Sendable {
        /// Write these bytes after `delay` seconds.
        case reply([UInt8], delay: Double)
        /// Write these bytes, then close the connection.
        case replyAndClose([UInt8])
        /// Read the line and say nothing.
        case ignore
        /// Close with SO_LINGER 0: the proxy sees a reset (RST).
        case reset
    }

    public let port: UInt16
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let running = Atomic<Int>(0)
    /// Every request line received (without "\r\n"), in order of arrival.
    private let lines = ThreadLock<[String]>([])
    /// Raw bytes received on all connections.
    private let received = ThreadLock<[UInt8]>([])
    private let respond: @Sendable (String) -> Action
    private let written = Atomic<Int>(0)

    public init(respond: @escaping @Sendable (String) -> Action) throws {
        _ = Environment.sigpipeIgnored
        self.respond = respond
        (port, listener) = try Sockets.silentListenerOnFreePort()
        running.add(1, ordering: .relaxed)
        let thread = Thread { [self] in self.acceptLoop() }
        thread.start()
    }

    public var address: String { "127.0.0.1:\(port)" }
    /// The server's name on magent's placement list.
    public var placementName: String { "127.0.0.1-\(port)" }
    public var requestLines: [String] { lines.withLock { $0 } }

    /// Waits (bounded) until the proxy knows who this server is: it has sent `stats`
    /// twice. magent's health monitor asks for the pid and version about once a
    /// second and starts a probe only once it has taken in the last one's answer.
    public func waitUntilIdentified(timeout: Double = 10) throws {
        try waitFor("the proxy's second identity probe of the mock on \(port)", timeout: timeout, interval: 0.05) {
            requestLines.filter { $0 == "stats" }.count >= 2
        }
    }
    public var receivedBytes: [UInt8] { received.withLock { $0 } }
    /// Replies written (or attempted, when the proxy had closed the connection)
    /// so far, delayed ones counted once their delay is over.
    public var repliesWritten: Int { written.load(ordering: .relaxed) }

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
                    // The scenario: a server that answers late, by `delay` seconds.
                    if delay > 0 { sleep(seconds: delay) }
                    let sent = write(reply, to: connection)
                    written.add(1, ordering: .relaxed)
                    if !sent { return }
                case .replyAndClose(let reply):
                    _ = write(reply, to: connection)
                    written.add(1, ordering: .relaxed)
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

    public func stop() {
        stopped.store(true, ordering: .relaxed)
        waitUntil(timeout: 3) { running.load(ordering: .relaxed) == 0 }
        close(listener)
    }
}
