// The configuration file: every setting, comments and layout, errors naming
// the file and line, the command line over the file, and conf/magent.conf.

import Foundation
import Testing
@testable import MagentCore

private let buildDate = "Nov 21 2026 18:57:48"
private let usage = UsageText.render(buildDate: buildDate)

private func parseFile(_ text: String, path: String = "magent.conf") -> Result<ConfigurationFile, ConfigurationFileError> {
    ConfigurationFile.parse(text, path: path)
}

private func configuration(from text: String) throws -> Configuration {
    var configuration = Configuration()
    switch parseFile(text) {
    case .failure(let error):
        throw error
    case .success(let file):
        file.apply(to: &configuration)
    }
    return configuration
}

/// Writes `text` to a fresh file in a temporary directory; returns its path.
private func temporaryFile(_ text: String, name: String = "magent.conf") throws -> String {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("magent-conf-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent(name).path
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

private func parseCommandLine(_ arguments: [String]) -> CommandLineOutcome {
    CommandLineParser(programName: "magent", buildDate: buildDate).parse(arguments)
}

/// A file and the error it must produce.
struct RefusedFile: Sendable, CustomTestStringConvertible {
    let text: String
    let error: String
    init(_ text: String, _ error: String) {
        self.text = text
        self.error = error
    }
    var testDescription: String { error }
}

let refusedFiles: [RefusedFile] = [
    RefusedFile("port = 70000\n", "magent.conf:1: invalid value '70000' for port: a port number from 0 to 65535"),
    RefusedFile("# servers\n\nserver = 127.0.0.1:1\nserver = host:99999\n",
                "magent.conf:4: invalid value 'host:99999' for server: host:port with a port from 1 to 65535"),
    RefusedFile("server = 127.0.0.1:1\nprt = 1\n", "magent.conf:2: unknown setting 'prt'"),
    RefusedFile("server 127.0.0.1:1\n", "magent.conf:1: expected 'name = value', found 'server 127.0.0.1:1'"),
    RefusedFile("= 1\n", "magent.conf:1: a name is missing before '='"),
    RefusedFile("port = 1\nthreads = 2\nport = 2\n", "magent.conf:3: 'port' is set twice (first on line 1)"),
    RefusedFile("ketama = maybe\n", "magent.conf:1: invalid value 'maybe' for ketama: yes or no"),
    RefusedFile("log-level = loud\n", "magent.conf:1: invalid value 'loud' for log-level: error, notice, info or debug"),
    RefusedFile("threads = 0\n", "magent.conf:1: invalid value '0' for threads: a number from 1 to 256"),
    RefusedFile("request-timeout =\n", "magent.conf:1: invalid value '' for request-timeout: milliseconds from 1 to 3600000"),
    RefusedFile("refill-rate = 10000001\n", "magent.conf:1: invalid value '10000001' for refill-rate: keys per second from 1 to 10000000"),
    RefusedFile("listen =\n", "magent.conf:1: invalid value '' for listen: an address to bind"),
    RefusedFile("-s = 127.0.0.1:1\n", "magent.conf:1: unknown setting '-s'"),
    RefusedFile("stats-format = telnet\n", "magent.conf:1: invalid value 'telnet' for stats-format: matrix or memcached"),
    RefusedFile("stats-format =\n", "magent.conf:1: invalid value '' for stats-format: matrix or memcached"),
]

@Suite struct ConfigurationFileTests {
    /// A file with every setting, each changed from its default.
    static let everySettingText = """
        port = 12000
        server = 127.0.0.1:21201
        server = cache-b
        backup = [::1]:21311
        listen = 127.0.0.1
        max-connections = 51200
        foreground = yes
        ketama = yes
        unix-socket = /tmp/magent.sock
        connections-per-server = 5
        log-level = notice
        syslog = on
        user = nobody
        group = nogroup
        threads = 2
        connect-timeout = 250
        request-timeout = 300
        failure-limit = 3
        miss-failover = true
        refill-rate = 100
        allow-control-keys = 1
        metrics-port = 9150
        metrics-address = 127.0.0.2
        client-timeout = 2500
        max-value-size = 1048576
        stats-format = memcached
        drain-timeout = 2000
        flush-all = refuse
        state-dir = /var/lib/magent
        kept-keys-limit = 5000
        """

    /// A reload puts back every setting that needs a restart (the log says
    /// which were not applied; none may take effect behind that).
    @Test func aReloadKeepsEverySettingThatNeedsARestart() throws {
        let running = Configuration()
        var next = try configuration(from: Self.everySettingText)
        ConfigurationReloader.keepRestartSettings(of: running, in: &next)
        for setting in ConfigurationSetting.allCases where setting.needsRestart {
            #expect(setting.describe(next) == setting.describe(running), "\(setting.fileName) changed by a reload")
        }
    }

    @Test("every setting, as the command line gives it")
    func everySetting() throws {
        let text = Self.everySettingText
        var expected = Configuration()
        expected.port = 12000
        expected.primaries = [ServerAddress(host: "127.0.0.1", port: 21201), ServerAddress(host: "cache-b", port: 11211)]
        expected.backups = [ServerAddress(host: "[::1]", port: 21311)]
        expected.bindAddress = "127.0.0.1"
        expected.maxConnections = 51200
        expected.foreground = true
        expected.placement = .ketama
        expected.unixSocketPath = "/tmp/magent.sock"
        expected.connectionsPerServer = 5
        expected.logLevel = .notice
        expected.syslog = true
        expected.user = "nobody"
        expected.group = "nogroup"
        expected.threads = 2
        expected.connectTimeoutMilliseconds = 250
        expected.requestTimeoutMilliseconds = 300
        expected.failureLimit = 3
        expected.missFailoverAlways = true
        expected.refillRate = 100
        expected.allowControlKeys = true
        expected.metricsPort = 9150
        expected.metricsAddress = "127.0.0.2"
        expected.clientTimeoutMilliseconds = 2500
        expected.maxValueSize = 1_048_576
        expected.statsFormat = .memcached
        expected.drainTimeoutMilliseconds = 2000
        expected.flushAll = .refuse
        expected.stateDirectory = "/var/lib/magent"
        expected.keptKeysLimit = 5000
        #expect(try configuration(from: text) == expected)
        // Every setting the table knows appears above.
        let names = Set(text.split(separator: "\n").map { String($0.split(separator: " ")[0]) })
        #expect(names == Set(ConfigurationSetting.allCases.filter { $0 != .legacyKetama }.map(\.fileName)))
        #expect(try configuration(from: "legacy-ketama = yes\nketama = yes\n").placement == .legacyKetama)
    }

    @Test("comments, blank lines, spaces, tabs and CRLF line ends")
    func layout() throws {
        let text = "# magent\r\n\r\n   port=12000   # the port\r\n\tserver\t=\t127.0.0.1:1#2\r\nbackup = b:2 #\r\n  # indented comment\r\nunix-socket = /tmp/a#b.sock"
        let parsed = try configuration(from: text)
        #expect(parsed.port == 12000)
        // A # inside a value (no space before it) is part of the value.
        #expect(parsed.primaries == [ServerAddress(host: "127.0.0.1", port: 1)])
        #expect(parsed.backups == [ServerAddress(host: "b", port: 2)])
        #expect(parsed.unixSocketPath == "/tmp/a#b.sock")
        #expect(try configuration(from: "") == Configuration())
        #expect(try configuration(from: "\n\n# nothing\n") == Configuration())
    }

    @Test("switches take yes or no, and no undoes")
    func switches() throws {
        #expect(try configuration(from: "ketama = no\n").placement == .modulo)
        #expect(try configuration(from: "miss-failover = off\n").missFailoverAlways == false)
        #expect(try configuration(from: "foreground = YES\n").foreground == true)
    }

    @Test("stats-format from the file, and the command line over it")
    func statsFormat() throws {
        #expect(try configuration(from: "stats-format = memcached\n").statsFormat == .memcached)
        #expect(try configuration(from: "stats-format = matrix\n").statsFormat == .matrix)
        #expect(try configuration(from: "").statsFormat == .matrix)
        let path = try temporaryFile("server = 127.0.0.1:1\nstats-format = memcached\n")
        guard case .run(let fromFile) = parseCommandLine(["-c", path]),
              case .run(let overridden) = parseCommandLine(["-c", path, "--stats-format", "matrix"]) else {
            Issue.record("refused: \(parseCommandLine(["-c", path]))")
            return
        }
        #expect(fromFile.statsFormat == .memcached)
        #expect(overridden.statsFormat == .matrix)
        // A reload applies it: it is not one of the settings that need a restart.
        #expect(!ConfigurationSetting.statsFormat.needsRestart)
    }

    @Test("servers and backups keep their order")
    func serverOrder() throws {
        let parsed = try configuration(from: "server = c:3\nbackup = z:9\nserver = a:1\nserver = b:2\nbackup = y:8\n")
        #expect(parsed.primaries.map(\.displayName) == ["c:3", "a:1", "b:2"])
        #expect(parsed.backups.map(\.displayName) == ["z:9", "y:8"])
    }

    @Test("a refused file names the file and the line", arguments: refusedFiles)
    func refused(_ file: RefusedFile) {
        switch parseFile(file.text) {
        case .success:
            Issue.record("accepted: \(file.text)")
        case .failure(let error):
            #expect(error.description == file.error)
        }
    }

    @Test("-c reads the file; the command line overrides it; its server lists replace the file's")
    func commandLineOverFile() throws {
        let path = try temporaryFile("""
            port = 12000
            server = 10.0.0.1:1
            server = 10.0.0.2:2
            backup = 10.0.0.9:9
            request-timeout = 300
            log-level = notice
            """)
        guard case .run(let fromFile) = parseCommandLine(["-c", path]) else {
            Issue.record("refused: \(parseCommandLine(["-c", path]))")
            return
        }
        #expect(fromFile.port == 12000)
        #expect(fromFile.primaries.map(\.displayName) == ["10.0.0.1:1", "10.0.0.2:2"])
        #expect(fromFile.backups.map(\.displayName) == ["10.0.0.9:9"])
        #expect(fromFile.requestTimeoutMilliseconds == 300)
        #expect(fromFile.logLevel == .notice)
        #expect(fromFile.configurationFile == path)

        guard case .run(let overridden) = parseCommandLine(["-p", "13000", "-s", "10.0.0.5:5", "--config", path, "-s", "10.0.0.6:6", "-v"]) else {
            Issue.record("refused")
            return
        }
        #expect(overridden.port == 13000)
        #expect(overridden.primaries.map(\.displayName) == ["10.0.0.5:5", "10.0.0.6:6"])
        #expect(overridden.backups.map(\.displayName) == ["10.0.0.9:9"])
        #expect(overridden.requestTimeoutMilliseconds == 300)
        #expect(overridden.logLevel == .info)
        #expect(overridden.foreground)

        guard case .run(let backupsReplaced) = parseCommandLine(["--config=\(path)", "-b", "10.0.0.8:8", "--log-level", "debug"]) else {
            Issue.record("refused")
            return
        }
        #expect(backupsReplaced.primaries.count == 2)
        #expect(backupsReplaced.backups.map(\.displayName) == ["10.0.0.8:8"])
        #expect(backupsReplaced.logLevel == .debug)
    }

    @Test("the file's errors and a missing file exit 1 like other option errors")
    func fileErrorsExit() throws {
        let path = try temporaryFile("server = 127.0.0.1:1\n\nport = x\n")
        #expect(parseCommandLine(["-c", path]) == .exit(status: 1, message: "\(path):3: invalid value 'x' for port: a port number from 0 to 65535\n"))
        let missing = path + ".missing"
        #expect(parseCommandLine(["-c", missing, "-s", "127.0.0.1:1"])
            == .exit(status: 1, message: "\(missing): cannot read: No such file or directory\n"))
        let directory = (path as NSString).deletingLastPathComponent
        #expect(parseCommandLine(["-c", directory, "-s", "127.0.0.1:1"]) == .exit(status: 1, message: "\(directory): is a directory\n"))
        #expect(parseCommandLine(["-s", "127.0.0.1:1", "-c", ""])
            == .exit(status: 1, message: "magent: invalid argument '' for -c: a configuration file path\n"))
        #expect(parseCommandLine(["-s", "127.0.0.1:1", "-c"]) == .exit(status: 1, message: "magent: option requires an argument -- 'c'\n" + usage))
        // Command-line errors come first, in order, before the file is read.
        #expect(parseCommandLine(["-c", missing, "-p", "99999"])
            == .exit(status: 1, message: "magent: invalid argument '99999' for -p: a port number from 0 to 65535\n"))
        // A file without servers, and no -s: the original's message.
        let noServers = try temporaryFile("port = 12000\n")
        #expect(parseCommandLine(["-c", noServers]) == .exit(status: 1, message: "please provide -s \"ip:port\" argument\n\n" + usage))
    }

    @Test("a relative path is kept absolute, for a reload after going to the background")
    func relativePath() {
        let directory = FileManager.default.currentDirectoryPath
        #expect(ConfigurationFile.absolutePath("conf/magent.conf") == directory + "/conf/magent.conf")
        #expect(ConfigurationFile.absolutePath("/etc/magent.conf") == "/etc/magent.conf")
    }

    @Test("a reload reads the given file again, under the same command line")
    func reloadReadsTheFileAgain() throws {
        let path = try temporaryFile("server = 127.0.0.1:1\nrequest-timeout = 300\n")
        let parser = CommandLineParser(programName: "magent", buildDate: buildDate)
        try "server = 127.0.0.1:1\nserver = 127.0.0.1:2\nrequest-timeout = 400\n".write(toFile: path, atomically: true, encoding: .utf8)
        guard case .run(let reloaded) = parser.parse(["-c", "ignored-on-reload.conf", "--connect-timeout", "50"], configurationFile: path) else {
            Issue.record("refused")
            return
        }
        #expect(reloaded.primaries.count == 2)
        #expect(reloaded.requestTimeoutMilliseconds == 400)
        #expect(reloaded.connectTimeoutMilliseconds == 50)
    }

    @Test("a reload puts back every setting that needs a restart, and only those")
    func restartSettingsAreKept() throws {
        let running = Configuration()
        let read = try configuration(from: """
            port = 1
            listen = 127.0.0.9
            unix-socket = /tmp/x.sock
            max-connections = 7
            threads = 9
            connections-per-server = 3
            user = nobody
            group = nogroup
            foreground = yes
            request-timeout = 5
            server = 10.0.0.1:1
            """)
        var next = read
        ConfigurationReloader.keepRestartSettings(of: running, in: &next)
        for setting in ConfigurationSetting.allCases {
            let kept = setting.needsRestart ? running : read
            #expect(setting.describe(next) == setting.describe(kept), "\(setting.fileName)")
        }
    }

    @Test("conf/magent.conf is valid and shows every setting")
    func exampleFile() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("conf/magent.conf").path
        let text = try String(contentsOfFile: path, encoding: .utf8)
        guard case .success(let file) = ConfigurationFile.parse(text, path: path) else {
            Issue.record("\(ConfigurationFile.parse(text, path: path))")
            return
        }
        #expect(file.entries.contains { $0.setting == .server })
        // Every setting is shown, set or commented out as "# name = value".
        for setting in ConfigurationSetting.allCases {
            let shown = text.split(separator: "\n").contains { line in
                let trimmed = line.drop { $0 == "#" || $0 == " " }
                return trimmed.hasPrefix("\(setting.fileName) =")
            }
            #expect(shown, "\(setting.fileName) is not in conf/magent.conf")
        }
    }
}
