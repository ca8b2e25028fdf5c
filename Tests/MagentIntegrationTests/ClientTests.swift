// The clients our users run, unchanged, through the proxy with two primaries and
// one backup on real memcached: PHP (memcache, memcached, sessions), Java
// spymemcached, pymemcache, python-memcached and libmemcached's memccapable/memcaslap.
import Foundation
import Glibc
import Testing
import MagentTestKit
@testable import MagentCore

/// Runs the client programs in Tests/ClientScripts against a cluster. Each script
/// checks every result itself and exits non-zero on a mismatch; here its exit
/// status is asserted and its output shown when it fails.
enum ClientRunner {
    static let scripts = Environment.packageRoot + "/Tests/ClientScripts"

    /// Debian's interpreter: python3-pymemcache and python3-memcache are installed for it
    /// (a python3 earlier on PATH, from pyenv say, does not see them).
    static let python = "/usr/bin/python3"
    static let php = "/usr/bin/php"
    static let spymemcachedJar = "/usr/share/java/spymemcached.jar"

    struct Output {
        var exitCode: Int32
        /// stdout, with stderr merged in unless the run kept them apart.
        var text: String
        /// stderr when kept apart, else empty.
        var errorText: String
        var seconds: Double
    }

    /// `path` if it is executable (or a readable file when `executable` is false), else
    /// an issue naming the Debian package and the script that installs it.
    static func require(_ path: String, package: String, executable: Bool = true,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        if access(path, executable ? X_OK : R_OK) == 0 { return path }
        let message = "\(path) is missing: install Debian's \(package) (bash scripts/install-deps.sh, which make test runs)"
        Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
        throw HarnessError(message)
    }

    /// A program found on PATH (then in /usr/bin), or an issue as `require`.
    static func requireOnPath(_ name: String, package: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":").map(String.init) + ["/usr/bin"] where access("\(directory)/\(name)", X_OK) == 0 {
            return "\(directory)/\(name)"
        }
        return try require("/usr/bin/\(name)", package: package, sourceLocation: sourceLocation)
    }

    /// Runs `executable` with the proxy's address in MAGENT_HOST/MAGENT_PORT, stdout and
    /// stderr in files (no pipe to fill up; together unless `separateErrors`), killed by
    /// PID after `timeout`.
    static func run(_ executable: String, _ arguments: [String], cluster: Cluster?, timeout: Double,
                    directory: String? = nil, separateErrors: Bool = false) throws -> Output {
        _ = Environment.sigpipeIgnored
        let scratch = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let outputPath = scratch + "/output"
        guard FileManager.default.createFile(atPath: outputPath, contents: nil),
              let output = FileHandle(forWritingAtPath: outputPath) else {
            throw HarnessError("cannot create \(outputPath)")
        }
        defer { try? output.close() }
        let errorPath = scratch + "/errors"
        guard FileManager.default.createFile(atPath: errorPath, contents: nil),
              let errors = FileHandle(forWritingAtPath: errorPath) else {
            throw HarnessError("cannot create \(errorPath)")
        }
        defer { try? errors.close() }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        if let cluster {
            environment["MAGENT_HOST"] = cluster.magent.host
            environment["MAGENT_PORT"] = String(cluster.port)
        }
        environment["PYTHONDONTWRITEBYTECODE"] = "1"  // no __pycache__ in Tests/ClientScripts
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory ?? scripts)
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = output
        process.standardError = separateErrors ? errors : output

        let started = now()
        try process.run()
        let pid = process.processIdentifier
        let finished = waitUntil(timeout: timeout, interval: 0.02) { !process.isRunning }
        if !finished {
            kill(pid, SIGTERM)
            if !waitUntil(timeout: 2, interval: 0.02, { !process.isRunning }) { kill(pid, SIGKILL) }
            waitUntil(timeout: 5, interval: 0.02) { !process.isRunning }
        }
        let seconds = now() - started
        let contents = { (path: String) in String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self) }
        let text = contents(outputPath)
        let command = ([executable] + arguments).joined(separator: " ")
        guard finished else {
            throw HarnessError("\(command) did not finish within \(timeout) s and was killed; its output:\n\(tail(text))")
        }
        let code = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return Output(exitCode: code, text: text, errorText: contents(errorPath), seconds: seconds)
    }

    /// The end of a long output: what a failure report needs.
    static func tail(_ text: String, limit: Int = 12_000) -> String {
        text.utf8.count <= limit ? text : "…" + String(decoding: Array(text.utf8.suffix(limit)), as: UTF8.self)
    }

    /// Runs a client script against the cluster and expects exit status 0.
    @discardableResult
    static func expectSuccess(_ executable: String, _ arguments: [String], cluster: Cluster, timeout: Double,
                              directory: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) -> Output? {
        let label = ([URL(fileURLWithPath: executable).lastPathComponent] + arguments.suffix(2)).joined(separator: " ")
        do {
            let result = try run(executable, arguments, cluster: cluster, timeout: timeout, directory: directory)
            #expect(result.exitCode == 0, "\(label) exited with \(result.exitCode); its output:\n\(tail(result.text))",
                    sourceLocation: sourceLocation)
            return result
        } catch {
            Issue.record(Comment(rawValue: "\(label): \(error)"), sourceLocation: sourceLocation)
            return nil
        }
    }

    /// After a client ran: the proxy still serves, and the traffic reached both
    /// primaries and the backup (so the two-primaries-one-backup shape was exercised).
    static func expectHealthyCluster(_ cluster: Cluster, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(cluster.magent.isRunning, "magent exited: \(cluster.magent.process.standardError)", sourceLocation: sourceLocation)
        for (role, server) in cluster.primaries.map({ ("primary", $0) }) + cluster.backups.map({ ("backup", $0) }) {
            let sets = (try? server.stat("cmd_set")) ?? -1
            #expect(sets > 0, "the \(role) \(server.address) received no set (cmd_set \(sets))", sourceLocation: sourceLocation)
        }
        if let client = try? cluster.client() {
            client.expect("version\r\n", Text.version, sourceLocation: sourceLocation)
        } else {
            Issue.record("cannot connect to magent after the client ran", sourceLocation: sourceLocation)
        }
    }

    /// The cluster every client test uses: two primaries, one backup, two worker threads.
    static func cluster(_ extra: [String] = []) throws -> Cluster {
        try Cluster(primaries: 2, backups: 1, arguments: ["-t", "2"] + extra)
    }
}

@Suite struct ClientTests {
    @Test func phpPeclMemcache() throws {
        let php = try ClientRunner.require(ClientRunner.php, package: "php-cli")
        let cluster = try ClientRunner.cluster()
        defer { cluster.stop() }
        ClientRunner.expectSuccess(php, ["php_memcache.php"], cluster: cluster, timeout: 40)
        ClientRunner.expectHealthyCluster(cluster)
    }

    /// php-memcached over the text protocol and with OPT_BINARY_PROTOCOL.
    @Test(arguments: ["text", "binary"])
    func phpMemcached(wireProtocol: String) throws {
        let php = try ClientRunner.require(ClientRunner.php, package: "php-cli")
        let cluster = try ClientRunner.cluster()
        defer { cluster.stop() }
        ClientRunner.expectSuccess(php, ["php_memcached.php", wireProtocol], cluster: cluster, timeout: 40)
        ClientRunner.expectHealthyCluster(cluster)
    }

    /// "memcached-binary" is php-memcached's session handler as shipped
    /// (memcached.sess_binary_protocol = On).
    @Test(arguments: ["memcache", "memcached", "memcached-binary"])
    func phpSessionsWithLocking(handler: String) throws {
        let php = try ClientRunner.require(ClientRunner.php, package: "php-cli")
        let cluster = try ClientRunner.cluster()
        defer { cluster.stop() }
        ClientRunner.expectSuccess(php, ["php_sessions.php", handler], cluster: cluster, timeout: 40)
        ClientRunner.expectHealthyCluster(cluster)
    }

    /// spymemcached's text protocol, and the binary one (BinaryConnectionFactory's).
    @Test(arguments: ["text", "binary"])
    func javaSpymemcached(wireProtocol: String) throws {
        let javac = try ClientRunner.requireOnPath("javac", package: "default-jdk-headless")
        let java = try ClientRunner.requireOnPath("java", package: "default-jdk-headless")
        let jar = try ClientRunner.require(ClientRunner.spymemcachedJar, package: "libspymemcached-java", executable: false)
        let classes = try Environment.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: classes) }
        let compiled = try ClientRunner.run(javac, ["-d", classes, "-cp", jar, ClientRunner.scripts + "/SpyCheck.java"],
                                            cluster: nil, timeout: 60)
        try #require(compiled.exitCode == 0, "javac failed:\n\(ClientRunner.tail(compiled.text))")
        let cluster = try ClientRunner.cluster()
        defer { cluster.stop() }
        // spymemcached logs connection events at INFO on stderr; they show only on failure.
        ClientRunner.expectSuccess(java, ["-cp", "\(classes):\(jar)", "SpyCheck", wireProtocol], cluster: cluster, timeout: 60)
        ClientRunner.expectHealthyCluster(cluster)
    }

    @Test func pythonPymemcache() throws {
        let python = try ClientRunner.require(ClientRunner.python, package: "python3")
        let cluster = try ClientRunner.cluster()
        defer { cluster.stop() }
        ClientRunner.expectSuccess(python, ["py_pymemcache.py"], cluster: cluster, timeout: 40)
        ClientRunner.expectHealthyCluster(cluster)
    }

    @Test func pythonMemcached() throws {
        let python = try ClientRunner.require(ClientRunner.python, package: "python3")
        let cluster = try ClientRunner.cluster()
        defer { cluster.stop() }
        ClientRunner.expectSuccess(python, ["py_memcache.py"], cluster: cluster, timeout: 40)
        ClientRunner.expectHealthyCluster(cluster)
    }

    /// Every test `memccapable -a` (ASCII) or `-b` (binary) passes against memcached itself
    /// passes through the proxy. Both are whole runs: memccapable's later tests depend on
    /// what its first test ("ascii version") learned, so single tests (-T) are not comparable.
    @Test(arguments: ["-a", "-b"])
    func memccapableTests(protocolOption: String) throws {
        let memccapable = try ClientRunner.require("/usr/bin/memccapable", package: "libmemcached-tools")
        let arguments = { (port: UInt16) in [protocolOption, "-v", "-h", "127.0.0.1", "-p", String(port), "-t", "5"] }

        let reference = try Memcached()
        let baseline: ClientRunner.Output
        do {
            defer { reference.stop() }
            baseline = try ClientRunner.run(memccapable, arguments(reference.port), cluster: nil, timeout: 60, separateErrors: true)
        }
        let passing = try Self.passingTests(in: baseline.text)
        #expect(passing.count >= 20, "memccapable \(protocolOption) passed only \(passing.count) tests against memcached:\n\(baseline.text)\(baseline.errorText)")

        let cluster = try ClientRunner.cluster()
        defer { cluster.stop() }
        let proxied = try ClientRunner.run(memccapable, arguments(cluster.port), cluster: cluster, timeout: 60, separateErrors: true)
        let passingThrough = try Set(Self.passingTests(in: proxied.text))
        let failed = passing.filter { !passingThrough.contains($0) }
        #expect(failed.isEmpty, """
            memccapable \(protocolOption): \(failed.count) of the \(passing.count) tests passing against memcached fail through the proxy: \
            \(failed.joined(separator: ", "))
            memccapable's output through the proxy:
            \(proxied.text)
            \(proxied.errorText)
            """)
        ClientRunner.expectHealthyCluster(cluster)
    }

    /// Names of the tests memccapable reports as passed ("ascii set noreply   [pass]", "binary getkq   [pass]").
    static func passingTests(in output: String) throws -> [String] {
        let pattern = try Regex(#"((?:ascii|binary) [a-z]+(?: noreply)?) +\[pass\]"#)
        return output.matches(of: pattern).compactMap { match in match.output[1].substring.map(String.init) }
    }

    /// memcaslap's verifying load: single and multi gets, every value checked, no error
    /// reply. Run against memcached first with the same options, as a control.
    @Test(arguments: [1, 20])
    func memcaslapVerifiedLoad(keysPerGet: Int) throws {
        let memcaslap = try ClientRunner.require("/usr/bin/memcaslap", package: "libmemcached-tools")
        // 2 threads x 8 connections, 1,000 keys each of 256 bytes (fits the test memcached's
        // 64 MB, so nothing is evicted), 40,000 operations, half the gets verified.
        let arguments = { (port: UInt16) in
            ["-s", "127.0.0.1:\(port)", "-T", "2", "-c", "8", "-w", "1k", "-X", "256", "-x", "40000",
             "-v", "0.5", "-d", String(keysPerGet), "-b"]
        }
        let reference = try Memcached()
        let control: ClientRunner.Output
        do {
            defer { reference.stop() }
            control = try ClientRunner.run(memcaslap, arguments(reference.port), cluster: nil, timeout: 30)
        }
        let controlProblems = Self.memcaslapProblems(control)
        #expect(controlProblems.isEmpty, "memcaslap against memcached itself: \(controlProblems)\n\(Self.summary(control.text))")

        // memcaslap's keys begin with raw bytes such as 0x10: memcached stores them, and so does
        // the proxy with --allow-control-keys (by default it refuses them as the protocol asks).
        let cluster = try ClientRunner.cluster(["--allow-control-keys"])
        defer { cluster.stop() }
        let result = try ClientRunner.run(memcaslap, arguments(cluster.port), cluster: cluster, timeout: 30)
        let problems = Self.memcaslapProblems(result)
        #expect(problems.isEmpty, "memcaslap through the proxy: \(problems)\n\(Self.summary(result.text))")
        ClientRunner.expectHealthyCluster(cluster)
    }

    /// memcaslap's output with its per-reply error lines ("<fd reply") cut to the first five.
    static func summary(_ output: String) -> String {
        var kept: [String] = []
        var replyLines = 0
        var dropped = 0
        for line in output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let isReplyLine = line.hasPrefix("<") && line.dropFirst().first?.isNumber == true
            if isReplyLine { replyLines += 1 }
            if isReplyLine && replyLines > 5 {
                dropped += 1
            } else {
                kept.append(line)
            }
        }
        if dropped > 0 { kept.append("(\(dropped) more error reply lines left out)") }
        return ClientRunner.tail(kept.joined(separator: "\n"), limit: 6000)
    }

    /// What is wrong with a memcaslap run: exit status, failed or missing
    /// verifications, misses, error replies, no work done.
    static func memcaslapProblems(_ run: ClientRunner.Output) -> [String] {
        var counters: [String: Int] = [:]
        var errorLines: [String] = []
        for line in run.text.split(separator: "\n").map(String.init) {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, let value = Int(parts[1]) { counters[parts[0]] = value }
            if line.contains("ERROR") && errorLines.count < 5 { errorLines.append(line) }
        }
        var problems: [String] = []
        if run.exitCode != 0 { problems.append("exit status \(run.exitCode)") }
        for name in ["verify_failed", "verify_misses", "get_misses"] where counters[name] != 0 {
            problems.append("\(name): \(counters[name].map(String.init) ?? "not reported")")
        }
        for name in ["cmd_get", "cmd_set"] where (counters[name] ?? 0) == 0 {
            problems.append("\(name): \(counters[name].map(String.init) ?? "not reported")")
        }
        if !errorLines.isEmpty { problems.append("error replies, e.g. \(errorLines)") }
        return problems
    }
}
