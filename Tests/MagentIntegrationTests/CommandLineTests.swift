// The command line, run as a user runs it: usage text, error messages, exit
// statuses, addresses, daemon mode.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// `magent -h` after its first line, as the contract and UsageText.swift give it.
let expectedUsageBody = """
    Usage:
      -h this message
      -u uid
      -g gid
      -p port, default is 11211. (0 to disable tcp support)
      -s ip:port, set memcached server ip and port
      -b ip:port, set backup memcached server ip and port
      -l ip, local bind ip address, default is 0.0.0.0
      -n number, set max connections, default is 4096
      -D don't go to background
      -k use ketama key allocation algorithm
      -f file, unix socket path to listen on. default is off
      -i number, set max keep alive connections for one memcached server, default is 20
      -v verbose
      -t number, set worker threads, default is the number of cpus, at most 4
      -c file, read options from this configuration file (also --config), again on SIGHUP. default is none
      --legacy-ketama use magent 0.6's own -k key allocation, to migrate without moving keys
      --connect-timeout ms, set memcached connect timeout, default is 1000
      --request-timeout ms, set memcached reply timeout, default is 1000
      --failure-limit number, set failures in a row before a server is marked down, default is 2
      --miss-failover ask the backup on every miss, not only while a restarted server is refilled
      --refill-rate number, set keys per second copied into a restarted server, default is 5000
      --allow-control-keys accept keys with control bytes other than NUL, CR and LF, as memcached does
      --log-level level, error, notice (server state changes, reloads), info (as -v) or debug (as -vv), default is error
      --syslog send log lines to syslog too (facility daemon)
      --metrics-port port, serve Prometheus metrics at http://<address>:<port>/metrics, default is off
      --metrics-address ip, address for --metrics-port, default is the -l address
      --client-timeout ms, set how long a client may leave a request unfinished, default is 10000 (0 never)
      --max-value-size bytes, set the largest value accepted, default is 67108864
      --stats-format format, set what plain stats answers: matrix (the original's) or memcached (STAT lines for monitoring clients), default is matrix
      --drain-timeout ms, set how long SIGTERM lets open clients finish before exiting, default is 5000 (0 at once)
      --flush-all mode, all (flush_all empties every primary and backup) or refuse (answered with an error), default is all
      --state-dir dir, keep the keys each server missed in a journal there, so a restart still repairs them, default is off
      --kept-keys-limit number, set keys kept per server while it is away; past it the server is flushed and refilled, default is 100000

    """

/// Checks that `output` is the usage: a banner line with a build date, then the body.
func expectUsage(_ output: Substring, sourceLocation: SourceLocation = #_sourceLocation) {
    guard let newline = output.firstIndex(of: "\n") else {
        Issue.record("no usage in \"\(output)\"", sourceLocation: sourceLocation)
        return
    }
    let banner = String(output[..<newline])
    let pattern = /memcached agent v1\.0\.0 Build-Date: [A-Z][a-z]{2} [ 0-3][0-9] [0-9]{4} [0-2][0-9]:[0-5][0-9]:[0-5][0-9]/
    #expect(banner.wholeMatch(of: pattern) != nil, "banner: \(banner)", sourceLocation: sourceLocation)
    #expect(String(output[output.index(after: newline)...]) == expectedUsageBody, sourceLocation: sourceLocation)
    // The build's own text agrees with the contract.
    #expect(UsageText.render(buildDate: "X").split(separator: "\n", maxSplits: 1).last.map(String.init) == expectedUsageBody,
            sourceLocation: sourceLocation)
}

@Suite(.serialized) struct CommandLineTests {
    private func run(_ arguments: [String]) throws -> CommandResult {
        try runToCompletion(try Environment.magentBinary(), arguments, timeout: 10)
    }

    @Test func helpPrintsTheUsageAndExitsOne() throws {
        for option in ["-h", "--help"] {
            let result = try run([option])
            #expect(result.exitCode == 1, "\(option)")
            #expect(result.standardOutput.isEmpty)
            expectUsage(Substring(result.standardError))
        }
        // -h wins even with a full command line.
        let result = try run(["-D", "-p", "1", "-s", "127.0.0.1:1", "-h"])
        #expect(result.exitCode == 1)
        expectUsage(Substring(result.standardError))
    }

    @Test func missingServerOption() throws {
        let result = try run(["-D", "-p", "12345"])
        #expect(result.exitCode == 1)
        let prefix = "please provide -s \"ip:port\" argument\n\n"
        #expect(result.standardError.hasPrefix(prefix), "stderr: \(result.standardError)")
        if result.standardError.hasPrefix(prefix) { expectUsage(result.standardError.dropFirst(prefix.count)) }
    }

    @Test func portZeroNeedsAUnixSocket() throws {
        let result = try run(["-D", "-p", "0", "-s", "127.0.0.1:11211"])
        #expect(result.exitCode == 1)
        #expect(result.standardError == "magent must listen on tcp or unix domain socket\n")
    }

    @Test func invalidOptionAndMissingArgument() throws {
        let binary = try Environment.magentBinary()
        let cases: [([String], String)] = [
            (["-x", "-s", "127.0.0.1:1"], "\(binary): invalid option -- 'x'\n"),
            (["-s", "127.0.0.1:1", "-Dx"], "\(binary): invalid option -- 'x'\n"),
            (["-s", "127.0.0.1:1", "-p"], "\(binary): option requires an argument -- 'p'\n"),
            (["-s"], "\(binary): option requires an argument -- 's'\n"),
            (["-s", "127.0.0.1:1", "--bogus"], "\(binary): unrecognized option '--bogus'\n"),
            (["-s", "127.0.0.1:1", "--request-timeout"], "\(binary): option '--request-timeout' requires an argument\n"),
        ]
        for (arguments, message) in cases {
            let result = try run(arguments)
            #expect(result.exitCode == 1, "\(arguments)")
            #expect(result.standardError.hasPrefix(message), "\(arguments): \(result.standardError)")
            if result.standardError.hasPrefix(message) { expectUsage(result.standardError.dropFirst(message.count)) }
        }
    }

    @Test func invalidNumbersAreRefused() throws {
        let binary = try Environment.magentBinary()
        let cases: [([String], String)] = [
            (["-n", "0"], "\(binary): invalid argument '0' for -n: a positive number\n"),
            (["-t", "0"], "\(binary): invalid argument '0' for -t: a number from 1 to 256\n"),
            (["-i", "x"], "\(binary): invalid argument 'x' for -i: a number from 1 to 1000\n"),
            (["-p", "70000"], "\(binary): invalid argument '70000' for -p: a port number from 0 to 65535\n"),
            (["--request-timeout", "abc"], "\(binary): invalid argument 'abc' for --request-timeout: milliseconds from 1 to 3600000\n"),
            (["--connect-timeout=0"], "\(binary): invalid argument '0' for --connect-timeout: milliseconds from 1 to 3600000\n"),
            (["--failure-limit", "0"], "\(binary): invalid argument '0' for --failure-limit: a number from 1 to 1000\n"),
            (["-s", "127.0.0.1:99999"], "\(binary): invalid argument '127.0.0.1:99999' for -s: host:port with a port from 1 to 65535\n"),
        ]
        for (arguments, message) in cases {
            let result = try run(["-D", "-s", "127.0.0.1:1"] + arguments)
            #expect(result.exitCode == 1, "\(arguments)")
            #expect(result.standardError == message, "\(arguments)")
        }
    }

    @Test func serverPortDefaultsTo11211AndAttachedValuesWork() throws {
        let port = try Ports.free()
        let directory = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // getopt style: values attached to their letters.
        let child = try ChildProcess(executable: try Environment.magentBinary(),
                                     arguments: ["-D", "-l127.0.0.1", "-p\(port)", "-t1", "-s127.0.0.1", "-s", "127.0.0.1:abc",
                                                 "-s", "127.0.0.1:0", "-s", "localhost:21201"],
                                     directory: directory)
        defer { child.stop() }
        #expect(waitUntil(timeout: 5) { !child.isRunning || Sockets.accepts(port: port) } && child.isRunning,
                "stderr: \(child.standardError)")
        let client = try TextClient(port: port)
        client.expect("stats\r\n", Text.agentStats([("127.0.0.1:11211", 0), ("127.0.0.1:11211", 0), ("127.0.0.1:11211", 0),
                                                    ("localhost:21201", 0)]))
    }

    @Test func unixSocketPathTooLongIsAnError() throws {
        let path = "/tmp/" + String(repeating: "p", count: 150) + ".sock"
        let result = try run(["-D", "-p", "0", "-f", path, "-s", "127.0.0.1:1"])
        #expect(result.exitCode != nil && result.exitCode != 0)
        #expect(result.standardError.contains("too long"), "stderr: \(result.standardError)")
        #expect(access(path, F_OK) != 0)
    }

    @Test func unresolvableServerHostIsAnError() throws {
        for option in ["-s", "-b"] {
            let port = try Ports.free()
            let result = try run(["-D", "-l", "127.0.0.1", "-p", String(port), "-s", "127.0.0.1:1", option,
                                  "no-such-host.invalid:11211"])
            #expect(result.exitCode != nil && result.exitCode != 0, "\(option): exit \(String(describing: result.exitCode))")
            #expect(result.standardError.contains("no-such-host.invalid"), "\(option): stderr: \(result.standardError)")
            #expect(!Sockets.accepts(port: port))
        }
    }

    @Test func ipv6ListenAndServerAddresses() throws {
        guard Environment.hasIPv6Loopback else { return }
        let memcached = try Memcached(listen: "127.0.0.1,::1")
        defer { memcached.stop() }
        let backup = try Memcached(listen: "127.0.0.1,::1")
        defer { backup.stop() }
        let magent = try Magent(["-s", "[::1]:\(memcached.port)", "-b", "[::1]:\(backup.port)", "-t", "1"], host: "::1")
        defer { magent.stop() }
        let client = try TextClient(host: "::1", port: magent.port)
        client.expect(Text.set("six", "v6") + "get six\r\n", "STORED\r\n" + Text.hit("six", "v6"))
        #expect(try memcached.getString("six") == "v6")
        #expect(waitUntil(timeout: 2) { (try? TextClient(host: "::1", port: backup.port)).map { backupClient -> Bool in
            (try? backupClient.send("get six\r\n")) != nil && (try? backupClient.readRetrieval()) == bytes(Text.hit("six", "v6"))
        } ?? false }, "the IPv6 backup did not get the copy")
        client.expect("stats\r\n", Text.agentStats([("[::1]:\(memcached.port)", 1)]))
        // Listening on ::1 only: not on 127.0.0.1.
        #expect(!Sockets.accepts(port: magent.port))
    }

    @Test func withoutDashDItDetachesAndServes() throws {
        let memcached = try Memcached()
        defer { memcached.stop() }
        let port = try Ports.free()
        let binary = try Environment.magentBinary()
        let marker = ["-p", String(port)]
        defer {
            for pid in ProcessTable.pids(withArguments: marker, executable: binary) { ProcessTable.stop(pid) }
        }
        let result = try run(["-l", "127.0.0.1"] + marker + ["-s", memcached.address, "-t", "1"])
        #expect(result.exitCode == 0, "stderr: \(result.standardError)")
        #expect(result.seconds < 3, "took \(result.seconds) s to return")
        #expect(waitUntil(timeout: 5) { Sockets.accepts(port: port) }, "the daemon does not listen")
        let client = try TextClient(port: port)
        client.expect(Text.set("daemon", "yes") + "get daemon\r\n", "STORED\r\n" + Text.hit("daemon", "yes"))
        client.close()
        let pids = ProcessTable.pids(withArguments: marker, executable: binary)
        #expect(pids.count == 1, "daemons: \(pids)")
        for pid in pids {
            // Detached: its own session, not a child of the test.
            #expect(ProcessTable.statusField(pid, "PPid") != [String(getpid())])
            kill(pid, SIGTERM)
            #expect(waitUntil(timeout: 5) { !ProcessTable.isAlive(pid) }, "daemon \(pid) ignored SIGTERM")
        }
        #expect(!Sockets.accepts(port: port))
    }
}
