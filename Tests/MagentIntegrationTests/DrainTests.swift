// Issue 16 item 3, stopping without dropping requests: SIGTERM (and SIGUSR2)
// close the listeners at once (connects refused, magent-check fails) while
// requests in flight and on open connections are answered whole; each client
// is closed at a request boundary once idle; the process exits 0 when all are
// gone, or at --drain-timeout. SIGINT and a second signal stop at once.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct DrainTests {
    /// A drain bound no test waits for: a test that sees the process exit
    /// knows the drain ended because its clients did.
    private static let longDrain = ["--drain-timeout", "60000"]

    /// Waits (bounded) until nothing accepts on the proxy's TCP port.
    private func expectListenerClosed(_ magent: Magent, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(waitUntil(timeout: 5, interval: 0.01) { !Sockets.accepts(port: magent.port) },
                "the listener still accepts after the signal", sourceLocation: sourceLocation)
    }

    /// The number of client connections a log line gives after `prefix`.
    private func openCount(_ log: String, _ prefix: String) -> Int? {
        guard let range = log.range(of: prefix) else { return nil }
        return Int(log[range.upperBound...].prefix { $0.isNumber })
    }

    private func expectExitZero(_ magent: Magent, within timeout: Double = 10, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(magent.process.waitForExit(timeout: timeout), "still running", sourceLocation: sourceLocation)
        #expect(magent.process.exitCode == 0,
                "exit \(String(describing: magent.process.exitCode)), signal \(String(describing: magent.process.terminatingSignal))",
                sourceLocation: sourceLocation)
    }

    /// One round of pipelined requests (sets and gets of fresh keys) and the
    /// reply each must get, in order.
    private func round(_ number: Int, size: Int) -> (request: [UInt8], replies: [[UInt8]]) {
        var request: [UInt8] = []
        var replies: [[UInt8]] = []
        for index in 0..<size {
            let key = "drain-\(number)-\(index)"
            let value = "value-\(number)-\(index)-" + String(repeating: "v", count: index % 40)
            request += bytes(Text.set(key, value) + "get \(key)\r\n")
            replies.append(bytes("STORED\r\n"))
            replies.append(bytes(Text.hit(key, value)))
        }
        return (request, replies)
    }

    @Test func pipelinedRequestsThroughSigtermGetWholeReplies() throws {
        let cluster = try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2", "--log-level", "notice"] + Self.longDrain)
        defer { cluster.stop() }
        let client = try cluster.client(timeout: 10)
        var expected: [[UInt8]] = []
        var sentBeforeSignal = 0
        var closedAfterRound: Int? = nil
        var received: [UInt8] = []
        for number in 0..<200 {
            let (request, replies) = round(number, size: 100)
            do { try client.send(request) } catch {
                closedAfterRound = number
                break
            }
            expected += replies
            if number == 3 {
                // The scenario: the signal lands while this round is in flight.
                sentBeforeSignal = expected.count
                cluster.magent.process.signal(SIGTERM)
            }
            let length = replies.reduce(0) { $0 + $1.count }
            do {
                received += try client.read(count: length)
            } catch {
                closedAfterRound = number
                break
            }
        }
        let (closed, rest) = client.waitForClose(timeout: 10)
        received += rest
        #expect(closed, "the connection stayed open through the drain")
        #expect(closedAfterRound != nil, "every round was served: the proxy never closed the connection")
        // Every reply whole, in order, up to a request boundary; nothing else.
        var offset = 0
        var whole = 0
        for reply in expected {
            guard received.count - offset >= reply.count, Array(received[offset..<(offset + reply.count)]) == reply else { break }
            offset += reply.count
            whole += 1
        }
        #expect(offset == received.count,
                "after \(whole) whole replies: \"\(escaped(received[offset...]))\" instead of \"\(escaped(expected.dropFirst(whole).first ?? []))\"")
        // What was sent before the signal was answered.
        #expect(whole >= sentBeforeSignal, "\(whole) replies, \(sentBeforeSignal) requests sent before the signal")
        expectExitZero(cluster.magent)
        let log = cluster.magent.process.standardError
        #expect(log.contains("SIGTERM: draining: listeners closed"), "\(log)")
        #expect(log.contains("drain done in"), "\(log)")
    }

    /// A reply larger than the sockets hold, not read yet when the signal
    /// comes: the client still reads it whole, then the end of the stream.
    @Test func largeUnreadReplyArrivesWholeBeforeTheClose() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "--log-level", "notice"] + Self.longDrain)
        defer { cluster.stop() }
        let value = String(repeating: "0123456789", count: 90_000)
        let client = try cluster.client(timeout: 10)
        client.expect(Text.set("big", value), "STORED\r\n")
        try client.send("get big\r\n")
        // The reply is on its way and not read: part of it waits at this end.
        try waitFor("the reply to start arriving", timeout: 5) {
            var queued: Int32 = 0
            return ioctl(client.fd, UInt(FIONREAD), &queued) == 0 && queued >= 64 * 1024
        }
        cluster.magent.process.signal(SIGTERM)
        expectListenerClosed(cluster.magent)
        // A request after the signal: answered if it is read before the
        // connection's last reply is out, else never read (the proxy's writes
        // are shut); it must not cut the reply being sent either way.
        try client.send("get big\r\n")
        let expected = Text.hit("big", value)
        #expect(text(try client.read(count: expected.utf8.count)) == expected)
        let (closed, after) = client.waitForClose(timeout: 5)
        #expect(closed && (after.isEmpty || text(after) == expected), "after the reply: closed \(closed), got \"\(escaped(after))\"")
        expectExitZero(cluster.magent)
    }

    /// A request waiting for a slow server: the listeners (TCP and unix) close
    /// at once and magent-check fails, an idle client is closed, and the
    /// waiting client still gets its reply whole before it is closed.
    @Test func inFlightRequestIsAnsweredAfterTheListenersClose() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/drain.sock"
        let reply = "VALUE slow 0 1\r\nx\r\nEND\r\n"
        // The scenario: a server that takes 2 s to answer one key.
        let mock = try MockBackend { line in line == "get slow" ? .reply(bytes(reply), delay: 2) : .ignore }
        defer { mock.stop() }
        let magent = try Magent(["-s", mock.address, "-t", "2", "--request-timeout", "10000", "--log-level", "notice"] + Self.longDrain,
                                unixPath: path)
        defer { magent.stop() }
        let idle = try magent.client()
        idle.expect("version\r\n", Text.version)
        let waiting = try magent.client(timeout: 10)
        try waiting.send("get slow\r\n")
        try waitFor("the slow request at the server", timeout: 5) { mock.requestLines.contains("get slow") }
        magent.process.signal(SIGTERM)
        expectListenerClosed(magent)
        #expect(!Sockets.acceptsUnix(path: path), "the unix socket still accepts")
        #expect(access(path, F_OK) != 0, "the unix socket file is still there")
        let check = try OperationsKit.check(["-t", "1", "127.0.0.1", String(magent.port)])
        #expect(check.exitCode == 2, "magent-check: exit \(String(describing: check.exitCode)): \(check.standardError)")
        // The idle client is let go at once; the waiting one is still served.
        let (idleClosed, idleBytes) = idle.waitForClose(timeout: 5)
        #expect(idleClosed && idleBytes.isEmpty, "idle client: closed \(idleClosed), got \"\(escaped(idleBytes))\"")
        #expect(magent.isRunning, "exited with a request in flight")
        #expect(text(try waiting.read(count: reply.utf8.count)) == reply)
        let (closed, after) = waiting.waitForClose(timeout: 5)
        #expect(closed && after.isEmpty, "after the reply: closed \(closed), got \"\(escaped(after))\"")
        expectExitZero(magent)
        let log = magent.process.standardError
        #expect(openCount(log, "SIGTERM: draining: listeners closed, ").map { $0 >= 2 } == true, "\(log)")
        #expect(log.contains("drain done in"), "\(log)")
    }

    @Test("an idle connection is closed and the process exits", arguments: [SIGTERM, SIGUSR2])
    func idleConnectionIsClosed(_ signalNumber: Int32) throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "--log-level", "notice"] + Self.longDrain)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect(Text.set("idle", "1") + "get idle\r\n", "STORED\r\n" + Text.hit("idle", "1"))
        cluster.magent.process.signal(signalNumber)
        let (closed, before) = client.waitForClose(timeout: 5)
        #expect(closed && before.isEmpty, "closed \(closed), got \"\(escaped(before))\"")
        client.close()
        expectExitZero(cluster.magent)
        let name = signalNumber == SIGTERM ? "SIGTERM" : "SIGUSR2"
        let log = cluster.magent.process.standardError
        #expect(openCount(log, "\(name): draining: listeners closed, ").map { $0 >= 1 } == true, "\(log)")
        #expect(log.contains("drain done in"), "\(log)")
    }

    /// A client that never finishes its request holds the drain only until
    /// --drain-timeout.
    @Test func drainTimeoutBoundsAnUnfinishedRequest() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "--log-level", "notice", "--drain-timeout", "300"])
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("version\r\n", Text.version)
        // The scenario: a line never ended (the default --client-timeout is 10 s).
        try client.send("get unfinish")
        cluster.magent.process.signal(SIGTERM)
        expectExitZero(cluster.magent)
        let log = cluster.magent.process.standardError
        #expect(log.contains("drain timed out after"), "\(log)")
        #expect(openCount(log, "ms: ").map { $0 >= 1 } == true, "\(log)")
    }

    /// A second SIGTERM, or SIGINT, during a drain stops at once; SIGINT
    /// alone stops at once too.
    @Test("a second signal stops at once", arguments: [[SIGTERM, SIGTERM], [SIGTERM, SIGINT], [SIGINT]])
    func secondSignalStopsAtOnce(_ signals: [Int32]) throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "--log-level", "notice"] + Self.longDrain)
        defer { cluster.stop() }
        let client = try cluster.client()
        client.expect("version\r\n", Text.version)
        // Never finished: the drain would wait for it until its 60 s bound.
        try client.send("get unfinish")
        for (index, signalNumber) in signals.enumerated() {
            cluster.magent.process.signal(signalNumber)
            if index == 0 { expectListenerClosed(cluster.magent) }
        }
        expectExitZero(cluster.magent)
        let log = cluster.magent.process.standardError
        if signals.count == 2 {
            #expect(log.contains("during the drain"), "\(log)")
            #expect(openCount(log, "stopping now, ").map { $0 >= 1 } == true, "\(log)")
        } else {
            #expect(openCount(log, "SIGINT: stopping now, ").map { $0 >= 1 } == true, "\(log)")
        }
    }
}
