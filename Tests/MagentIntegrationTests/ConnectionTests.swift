// Client connections: the -n limit, the unix socket (-f) and its file, and
// how magent exits on SIGTERM and SIGINT.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

@Suite(.serialized) struct ConnectionTests {
    /// A client that the proxy has accepted and serves (retrying while a closed
    /// connection is still counted).
    private func servedClient(_ magent: Magent, sourceLocation: SourceLocation = #_sourceLocation) throws -> TextClient {
        var served: TextClient?
        waitUntil(timeout: 3, interval: 0.05) {
            guard let client = try? magent.client(timeout: 2) else { return false }
            try? client.send("version\r\n")
            if (try? client.read(count: Text.version.utf8.count)) == bytes(Text.version) {
                served = client
                return true
            }
            return false
        }
        return try #require(served, "no client was served", sourceLocation: sourceLocation)
    }

    @Test func connectionLimitRefusesTheNextClient() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "-n", "2"])
        defer { cluster.stop() }
        let first = try servedClient(cluster.magent)
        let second = try servedClient(cluster.magent)
        // The third gets the refusal line and is closed.
        let third = try cluster.client()
        let (closed, before) = third.waitForClose(timeout: 3)
        #expect(text(before) == "SERVER_ERROR OUT OF CONNECTION\r\n")
        #expect(closed)
        // The two admitted clients still work.
        first.expect(Text.set("n", "1"), "STORED\r\n")
        second.expect("get n\r\n", Text.hit("n", "1"))
        // One leaves: a new client is served.
        first.close()
        let fourth = try servedClient(cluster.magent)
        fourth.expect("get n\r\n", Text.hit("n", "1"))
        // And the limit holds again.
        let fifth = try cluster.client()
        let refused = fifth.waitForClose(timeout: 3)
        #expect(text(refused.before) == "SERVER_ERROR OUT OF CONNECTION\r\n")
        #expect(refused.closed)
    }

    @Test func connectionLimitCountsUnixAndTCPTogether() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/n.sock"
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "-n", "1"], unixPath: path)
        defer { cluster.stop() }
        let tcp = try servedClient(cluster.magent)
        let unix = try TextClient(unixPath: path)
        let (closed, before) = unix.waitForClose(timeout: 3)
        #expect(text(before) == "SERVER_ERROR OUT OF CONNECTION\r\n")
        #expect(closed)
        tcp.expect("version\r\n", Text.version)
    }

    @Test func unixSocketFileModeAndRemoval() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/magent.sock"
        let memcached = try Memcached()
        defer { memcached.stop() }
        let magent = try Magent(["-s", memcached.address, "-t", "1"], unixPath: path)
        defer { magent.stop() }
        var status = stat()
        #expect(lstat(path, &status) == 0)
        #expect(status.st_mode & S_IFMT == S_IFSOCK)
        #expect(status.st_mode & 0o777 == 0o644, "mode \(String(status.st_mode & 0o777, radix: 8))")
        let unix = try TextClient(unixPath: path)
        unix.expect(Text.set("u", "1") + "get u\r\n", "STORED\r\n" + Text.hit("u", "1"))
        try magent.client().expect("get u\r\n", Text.hit("u", "1"))
        // SIGTERM: exit status 0 and the socket file is gone.
        magent.process.signal(SIGTERM)
        #expect(magent.process.waitForExit(timeout: 5))
        #expect(magent.process.exitCode == 0)
        #expect(access(path, F_OK) != 0, "socket file left behind")
    }

    @Test func unixSocketOnlyWithPortZero() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/only.sock"
        let memcached = try Memcached()
        defer { memcached.stop() }
        let magent = try Magent(["-s", memcached.address, "-t", "1"], port: 0, unixPath: path)
        defer { magent.stop() }
        try TextClient(unixPath: path).expect("version\r\n", Text.version)
        // SIGINT exits 0 too.
        magent.process.signal(SIGINT)
        #expect(magent.process.waitForExit(timeout: 5))
        #expect(magent.process.exitCode == 0)
        #expect(access(path, F_OK) != 0, "socket file left behind")
    }

    @Test func staleSocketFileIsReplaced() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/stale.sock"
        // A socket file nobody listens on any more.
        try Sockets.staleUnixSocketFile(at: path)
        try #require(access(path, F_OK) == 0)
        #expect(!Sockets.acceptsUnix(path: path))

        let memcached = try Memcached()
        defer { memcached.stop() }
        let magent = try Magent(["-s", memcached.address, "-t", "1"], unixPath: path)
        defer { magent.stop() }
        try TextClient(unixPath: path).expect("version\r\n", Text.version)
    }

    @Test func regularFileAtTheSocketPathIsNotRemoved() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/precious.txt"
        try "keep me".write(toFile: path, atomically: false, encoding: .utf8)
        let memcached = try Memcached()
        defer { memcached.stop() }
        let port = try Ports.free()
        for foreground in [true, false] {
            let result = try runToCompletion(try Environment.magentBinary(),
                                             (foreground ? ["-D"] : []) + ["-l", "127.0.0.1", "-p", String(port),
                                                                           "-s", memcached.address, "-f", path])
            #expect(result.exitCode != nil && result.exitCode != 0, "exit \(String(describing: result.exitCode))")
            #expect(result.standardError.contains(path), "stderr: \(result.standardError)")
            #expect((try? String(contentsOfFile: path, encoding: .utf8)) == "keep me")
            #expect(!Sockets.accepts(port: port), "magent listens although it refused to start")
        }
        for pid in ProcessTable.pids(withArguments: ["-p", String(port)], executable: try Environment.magentBinary()) {
            ProcessTable.stop(pid)
        }
    }

    @Test func sigtermAndSigintExitZeroWithTCPOnly() throws {
        let memcached = try Memcached()
        defer { memcached.stop() }
        for signalNumber in [SIGTERM, SIGINT] {
            let magent = try Magent(["-s", memcached.address, "-t", "2"])
            defer { magent.stop() }
            // With a client connected and a request answered.
            let client = try magent.client()
            client.expect("get x\r\n", "END\r\n")
            magent.process.signal(signalNumber)
            #expect(magent.process.waitForExit(timeout: 5), "still running after signal \(signalNumber)")
            #expect(magent.process.exitCode == 0, "signal \(signalNumber): exit \(String(describing: magent.process.exitCode)), killed by \(String(describing: magent.process.terminatingSignal))")
            #expect(!Sockets.accepts(port: magent.port))
        }
    }

    @Test func manyClientsAtOnce() throws {
        let cluster = try Cluster(primaries: 3, backups: 1, arguments: ["-t", "2"])
        defer { cluster.stop() }
        let port = cluster.port
        let failures = FailureLog()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            do {
                let client = try TextClient(port: port)
                for round in 0..<25 {
                    let key = "c\(worker)-\(round)"
                    try client.send(Text.set(key, "v\(round)") + "get \(key) c\(worker)-0\r\n")
                    let expected = "STORED\r\n" + Text.value(key, "v\(round)") + Text.value("c\(worker)-0", "v0") + "END\r\n"
                    let reply = text(try client.read(count: expected.utf8.count))
                    if reply != expected { failures.add("client \(worker) round \(round): \(escaped(bytes(reply)))") }
                }
            } catch {
                failures.add("client \(worker): \(error)")
            }
        }
        #expect(failures.entries.isEmpty, "\(failures.entries)")
    }

    @Test func relativeUnixSocketPathIsRemovedOnExit() throws {
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let memcached = try Memcached()
        defer { memcached.stop() }
        let binary = try Environment.magentBinary()
        for daemon in [false, true] {
            let name = daemon ? "daemon.sock" : "fg.sock"
            let port = try Ports.free()
            let marker = ["-p", String(port)]
            let command = "cd '\(directory)' && exec '\(binary)' \(daemon ? "" : "-D") -l 127.0.0.1 -p \(port) -s \(memcached.address) -t 1 -f \(name)"
            let shell = try ChildProcess(executable: "/bin/sh", arguments: ["-c", command], directory: directory)
            defer {
                shell.stop()
                for pid in ProcessTable.pids(withArguments: marker, executable: binary) { ProcessTable.stop(pid) }
            }
            let path = directory + "/" + name
            #expect(waitUntil(timeout: 5) { Sockets.acceptsUnix(path: path) }, "\(name): \(shell.standardError)")
            try TextClient(unixPath: path).expect("version\r\n", Text.version)
            let pids = ProcessTable.pids(withArguments: marker, executable: binary)
            #expect(pids.count == 1)
            for pid in pids { kill(pid, SIGTERM) }
            #expect(waitUntil(timeout: 5) { pids.allSatisfy { !ProcessTable.isAlive($0) } })
            #expect(access(path, F_OK) != 0, "\(name) left behind")
        }
    }

    @Test func hundredsOfClientsAtOnce() throws {
        let cluster = try Cluster(primaries: 2, arguments: ["-t", "2"])
        defer { cluster.stop() }
        let setup = try cluster.client()
        setup.expect(Text.set("shared", "v"), "STORED\r\n")
        let clients = try (0..<300).map { _ in try cluster.client() }
        for client in clients { try client.send("get shared\r\n") }
        var wrong = 0
        for client in clients where (try? client.read(count: Text.hit("shared", "v").utf8.count)) != bytes(Text.hit("shared", "v")) {
            wrong += 1
        }
        #expect(wrong == 0, "\(wrong) of 300 clients got a wrong reply")
        clients.forEach { $0.close() }
        setup.expect("get shared\r\n", Text.hit("shared", "v"))
    }

    @Test func stalledUploadDoesNotBlockClientsSharingItsBackendConnection() throws {
        // -i 1: one backend connection per server, shared by every client of the worker.
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "-i", "1", "--request-timeout", "300"])
        defer { cluster.stop() }
        let stalled = try cluster.client()
        let watch = try cluster.watch()
        defer { watch.close() }
        let upload = bytes("set big 0 0 100000\r\n") + [UInt8](repeating: UInt8(ascii: "x"), count: 50_000)
        try stalled.send(upload)
        try watch.waitForBytesRead(upload.count)
        // Half a value sent, and then nothing: other clients must still be answered in time.
        let other = try cluster.client()
        expectTimely(other, "get k\r\n", "END\r\n", within: 1.5)
        stalled.close()
    }

    @Test func stalledUploadDoesNotBlockOtherClientsWithTheDefaultPool() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1", "--request-timeout", "300"])
        defer { cluster.stop() }
        let stalled = try cluster.client()
        let watch = try cluster.watch()
        defer { watch.close() }
        let upload = bytes("set big 0 0 100000\r\n") + [UInt8](repeating: UInt8(ascii: "x"), count: 50_000)
        try stalled.send(upload)
        try watch.waitForBytesRead(upload.count)
        // More clients than -i (20) connections: some share the stalled client's connection.
        let others = try (0..<25).map { _ in try cluster.client() }
        for client in others { try client.send("get k\r\n") }
        var late = 0
        let deadline = now() + 1.5
        for client in others where (try? client.read(count: 5, timeout: max(0.01, deadline - now()))) != bytes("END\r\n") {
            late += 1
        }
        #expect(late == 0, "\(late) of 25 clients got no reply within 1.5 s while another client stalled mid-value")
        stalled.close()
    }

    @Test func clientThatDoesNotReadDoesNotMakeTheProxyBufferWithoutBound() throws {
        let cluster = try Cluster(primaries: 1, arguments: ["-t", "1"])
        defer { cluster.stop() }
        let client = try cluster.client()
        let value = pseudoRandomBytes(count: 1_000_000, seed: 21)
        try client.send(bytes("set big 0 0 \(value.count)\r\n") + value + bytes("\r\n"))
        #expect(try client.readLine(timeout: 5) == "STORED\r\n")
        let pid = cluster.magent.pid
        let before = try #require(ProcessTable.residentKiB(pid))
        // 100 MB of replies asked for, none read yet.
        let reader = try cluster.client()
        var small = Int32(16 * 1024)
        setsockopt(reader.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        let watch = try cluster.watch()
        try reader.send(String(repeating: "get big\r\n", count: 100))
        // Measured once the proxy holds all it will for the reader: it stops reading
        // the reader's requests above its output limit.
        try watch.waitForLimit("reading_paused_for_output", atLeast: 1)
        watch.close()
        let during = try #require(ProcessTable.residentKiB(pid))
        #expect(!Environment.measuresMemory || during - before < 64 * 1024, "magent grew by \((during - before) / 1024) MiB holding replies for a client that does not read")
        // Past the limit on unread replies the client is disconnected, not served
        // all 100 MB: what it does receive is a prefix of the replies, then end of stream.
        let one = bytes("VALUE big 0 \(value.count)\r\n") + value + bytes("\r\nEND\r\n")
        var disconnected = false
        do {
            try reader.discard(count: one.count * 100, timeout: 30)
        } catch let error as HarnessError {
            disconnected = error.description.contains("closed with")
        }
        #expect(disconnected, "the client that never read was served everything instead of being disconnected")
        // Everyone else is still served.
        let other = try cluster.client()
        other.expect("get missing\r\n", "END\r\n")
    }

    @Test func outOfDescriptorsPausesAcceptingInsteadOfSpinning() throws {
        let memcached = try Memcached()
        defer { memcached.stop() }
        let magent = try Magent(["-s", memcached.address, "-t", "1"], launcher: ["/usr/bin/prlimit", "--nofile=40:40"])
        defer { magent.stop() }
        var clients: [TextClient] = []
        for _ in 0..<60 { if let client = try? magent.client(timeout: 1) { clients.append(client) } }
        // Out of descriptors: accept failed (logged) and accepting is paused.
        try waitFor("magent to run out of descriptors", timeout: 10, detail: { magent.process.standardError }) {
            magent.process.standardError.contains("Too many open files")
        }
        func cpuTicks() throws -> Int { try #require(ProcessTable.cpuTicks(magent.pid), "no /proc/\(magent.pid)/stat") }
        let before = try cpuTicks()
        // The scenario: a second with no descriptors left, over which CPU use is measured.
        sleep(seconds: 1)
        let spent = try cpuTicks() - before
        #expect(spent < 30, "magent used \(spent) of 100 CPU ticks in a second with no descriptors left")
        for client in clients { client.close() }
        let fresh = try magent.client()
        // Generous: under a sanitizer and a loaded machine the backlog drains slowly.
        fresh.expect("version\r\n", Text.version, timeout: 10)
        #expect(magent.process.standardError.contains("Too many open files"))
    }

    @Test func descriptorsAreNotLeaked() throws {
        let cluster = try Cluster(primaries: 1, backups: 1, arguments: ["-t", "1", "-i", "2"])
        defer { cluster.stop() }
        let pid = cluster.magent.pid
        func openDescriptors() -> Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
        let first = try cluster.client()
        first.expect(Text.set("fd", "1") + "get fd\r\n", "STORED\r\n" + Text.hit("fd", "1"))
        first.close()
        let baseline = openDescriptors()
        for round in 0..<60 {
            let client = try cluster.client()
            client.expect(Text.set("fd\(round)", "x") + "get fd\(round)\r\n", "STORED\r\n" + Text.hit("fd\(round)", "x"))
            if round % 3 == 0 { client.reset() } else { client.close() }
        }
        // Backend failures and recovery, and refused writes.
        cluster.backups[0].kill()
        let client = try cluster.client()
        for round in 0..<20 { client.expect(Text.set("down\(round)", "x"), "STORED\r\n") }
        try cluster.backups[0].restart()
        // The proxy has it back: probed up again and refilled.
        let back = ServerStates.watch(cluster, timeout: 10, interval: 0.05) { stats in
            stats["backup:1:state"] == "up" && stats["backup:1:refill_left"] == "0"
        }
        try #require(back.done, "the restarted backup is not up again: \(ServerStates.describe(back.last))")
        client.close()
        // At most -i (2) connections per server may stay open beyond the baseline, once
        // the proxy has closed what it no longer needs (the client, the stats connections).
        waitUntil(timeout: 5) { (0...(baseline + 4)).contains(openDescriptors()) }
        let now = openDescriptors()
        #expect(now >= 0 && now <= baseline + 4, "descriptors: \(baseline) before, \(now) after")
    }
}
