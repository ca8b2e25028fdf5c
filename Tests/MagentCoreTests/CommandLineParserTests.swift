// CommandLineParser and UsageText tests: every option of magent 0.6 and ours, clustered
// and attached values, long options, defaults, and the original's exact messages.

import Testing
@testable import MagentCore

private let buildDate = "Nov 21 2026 18:57:48"
private let usage = UsageText.render(buildDate: buildDate)
private let firstServer = ServerAddress(host: "127.0.0.1", port: 21201)

private func parse(_ arguments: [String], programName: String = "magent") -> CommandLineOutcome {
    CommandLineParser(programName: programName, buildDate: buildDate).parse(arguments)
}

/// A configuration with the defaults and the first server every option case starts from.
private func baseConfiguration() -> Configuration {
    var configuration = Configuration()
    configuration.primaries = [firstServer]
    return configuration
}

/// One accepted command line: the arguments after `-s 127.0.0.1:21201`, and how they
/// change the default configuration.
struct AcceptedOptions: Sendable, CustomTestStringConvertible {
    let arguments: [String]
    let change: @Sendable (inout Configuration) -> Void

    init(_ arguments: [String], _ change: @escaping @Sendable (inout Configuration) -> Void) {
        self.arguments = arguments
        self.change = change
    }

    var testDescription: String { arguments.joined(separator: " ") }
}

/// One refused command line: all its arguments, the exit status and the exact message.
struct RefusedOptions: Sendable, CustomTestStringConvertible {
    let arguments: [String]
    let message: String

    init(_ arguments: [String], _ message: String) {
        self.arguments = arguments
        self.message = message
    }

    var testDescription: String { arguments.isEmpty ? "(no arguments)" : arguments.joined(separator: " ") }
}

let acceptedOptions: [AcceptedOptions] = [
    AcceptedOptions([]) { _ in },
    // Every letter of the original, and -t
    AcceptedOptions(["-p", "12000"]) { $0.port = 12000 },
    AcceptedOptions(["-p12000"]) { $0.port = 12000 },
    AcceptedOptions(["-p", "65535"]) { $0.port = 65535 },
    AcceptedOptions(["-u", "nobody"]) { $0.user = "nobody" },
    AcceptedOptions(["-u", "65534"]) { $0.user = "65534" },
    AcceptedOptions(["-g", "nogroup"]) { $0.group = "nogroup" },
    AcceptedOptions(["-g0"]) { $0.group = "0" },
    AcceptedOptions(["-s", "10.0.0.2:11212"]) { $0.primaries.append(ServerAddress(host: "10.0.0.2", port: 11212)) },
    AcceptedOptions(["-s", "cache-b", "-s", "[::1]:11213"]) {
        $0.primaries += [ServerAddress(host: "cache-b", port: 11211), ServerAddress(host: "[::1]", port: 11213)]
    },
    AcceptedOptions(["-b", "10.0.0.9:11211"]) { $0.backups = [ServerAddress(host: "10.0.0.9", port: 11211)] },
    AcceptedOptions(["-b", "b1:1", "-b", "b2:2"]) {
        $0.backups = [ServerAddress(host: "b1", port: 1), ServerAddress(host: "b2", port: 2)]
    },
    AcceptedOptions(["-l", "127.0.0.1"]) { $0.bindAddress = "127.0.0.1" },
    AcceptedOptions(["-n", "51200"]) { $0.maxConnections = 51200 },
    AcceptedOptions(["-D"]) { $0.foreground = true },
    AcceptedOptions(["-k"]) { $0.placement = .ketama },
    AcceptedOptions(["-f", "/tmp/magent.sock"]) { $0.unixSocketPath = "/tmp/magent.sock" },
    AcceptedOptions(["-p", "0", "-f", "/tmp/magent.sock"]) { $0.port = 0; $0.unixSocketPath = "/tmp/magent.sock" },
    AcceptedOptions(["-i", "5"]) { $0.connectionsPerServer = 5 },
    AcceptedOptions(["-v"]) { $0.logLevel = .info; $0.foreground = true },
    AcceptedOptions(["-v", "-v"]) { $0.logLevel = .debug; $0.foreground = true },
    AcceptedOptions(["-t", "2"]) { $0.threads = 2 },
    AcceptedOptions(["-t256"]) { $0.threads = 256 },
    // Clusters and attached values, as getopt allows
    AcceptedOptions(["-Dv"]) { $0.foreground = true; $0.logLevel = .info },
    AcceptedOptions(["-kDvv"]) { $0.placement = .ketama; $0.foreground = true; $0.logLevel = .debug },
    AcceptedOptions(["-Dp", "12000"]) { $0.foreground = true; $0.port = 12000 },
    AcceptedOptions(["-Dp12000"]) { $0.foreground = true; $0.port = 12000 },
    AcceptedOptions(["-s10.0.0.3:3"]) { $0.primaries.append(ServerAddress(host: "10.0.0.3", port: 3)) },
    // The value of an option is taken whole, even when it looks like an option
    AcceptedOptions(["-u", "-D"]) { $0.user = "-D" },
    // -- ends the options; operands are ignored wherever they are
    AcceptedOptions(["--", "-p", "5"]) { _ in },
    AcceptedOptions(["extra", "-p", "12000", "operand", "-"]) { $0.port = 12000 },
    // Long options
    AcceptedOptions(["--legacy-ketama"]) { $0.placement = .legacyKetama },
    AcceptedOptions(["-k", "--legacy-ketama"]) { $0.placement = .legacyKetama },
    AcceptedOptions(["--legacy-ketama", "-k"]) { $0.placement = .legacyKetama },
    AcceptedOptions(["--connect-timeout", "250"]) { $0.connectTimeoutMilliseconds = 250 },
    AcceptedOptions(["--connect-timeout=250"]) { $0.connectTimeoutMilliseconds = 250 },
    AcceptedOptions(["--request-timeout=300"]) { $0.requestTimeoutMilliseconds = 300 },
    AcceptedOptions(["--request-timeout", "300"]) { $0.requestTimeoutMilliseconds = 300 },
    AcceptedOptions(["--failure-limit", "3"]) { $0.failureLimit = 3 },
    AcceptedOptions(["--failure-limit=3"]) { $0.failureLimit = 3 },
    AcceptedOptions(["--log-level", "notice"]) { $0.logLevel = .notice },
    AcceptedOptions(["--log-level=debug"]) { $0.logLevel = .debug },
    AcceptedOptions(["-vvv"]) { $0.logLevel = .debug; $0.foreground = true },
    AcceptedOptions(["--log-level", "notice", "-v"]) { $0.logLevel = .info; $0.foreground = true },
    AcceptedOptions(["-v", "--log-level", "error"]) { $0.logLevel = .error; $0.foreground = true },
    AcceptedOptions(["--syslog"]) { $0.syslog = true },
    AcceptedOptions(["--metrics-port", "9150"]) { $0.metricsPort = 9150 },
    AcceptedOptions(["--metrics-port=9150", "--metrics-address", "127.0.0.1"]) {
        $0.metricsPort = 9150
        $0.metricsAddress = "127.0.0.1"
    },
    AcceptedOptions(["--client-timeout", "2500"]) { $0.clientTimeoutMilliseconds = 2500 },
    AcceptedOptions(["--client-timeout=0"]) { $0.clientTimeoutMilliseconds = 0 },
    AcceptedOptions(["--max-value-size", "1048576"]) { $0.maxValueSize = 1_048_576 },
    AcceptedOptions(["--stats-format", "memcached"]) { $0.statsFormat = .memcached },
    AcceptedOptions(["--stats-format=matrix"]) { $0.statsFormat = .matrix },
    AcceptedOptions(["--stats-format", "memcached", "--stats-format", "matrix"]) { $0.statsFormat = .matrix },
    AcceptedOptions(["--drain-timeout", "2500"]) { $0.drainTimeoutMilliseconds = 2500 },
    AcceptedOptions(["--drain-timeout=0"]) { $0.drainTimeoutMilliseconds = 0 },
    AcceptedOptions(["--flush-all", "refuse"]) { $0.flushAll = .refuse },
    AcceptedOptions(["--flush-all=all"]) { $0.flushAll = .all },
    // The command line of the seed documents
    AcceptedOptions(["-u", "root", "-n", "51200", "-l", "192.168.1.10", "-p", "12000",
                     "-s", "192.168.1.11:11211", "-b", "192.168.1.12:11211"]) {
        $0.user = "root"
        $0.maxConnections = 51200
        $0.bindAddress = "192.168.1.10"
        $0.port = 12000
        $0.primaries.append(ServerAddress(host: "192.168.1.11", port: 11211))
        $0.backups = [ServerAddress(host: "192.168.1.12", port: 11211)]
    },
]

let refusedOptions: [RefusedOptions] = [
    RefusedOptions(["-h"], usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "-h"], usage),
    RefusedOptions(["-Dh"], usage),
    RefusedOptions(["--help"], usage),
    RefusedOptions([], "please provide -s \"ip:port\" argument\n\n" + usage),
    RefusedOptions(["-p", "12000", "-b", "127.0.0.1:21201"], "please provide -s \"ip:port\" argument\n\n" + usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "-p", "0"], "magent must listen on tcp or unix domain socket\n"),
    RefusedOptions(["-s", "127.0.0.1:21201", "-x"], "magent: invalid option -- 'x'\n" + usage),
    RefusedOptions(["-Dx", "-s", "127.0.0.1:21201"], "magent: invalid option -- 'x'\n" + usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "-p"], "magent: option requires an argument -- 'p'\n" + usage),
    RefusedOptions(["-s"], "magent: option requires an argument -- 's'\n" + usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "-Dn"], "magent: option requires an argument -- 'n'\n" + usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "--bogus"], "magent: unrecognized option '--bogus'\n" + usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "--bogus=1"], "magent: unrecognized option '--bogus=1'\n" + usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "--connect-timeout"],
                   "magent: option '--connect-timeout' requires an argument\n" + usage),
    RefusedOptions(["-s", "127.0.0.1:21201", "--legacy-ketama=yes"],
                   "magent: option '--legacy-ketama' doesn't allow an argument\n" + usage),
]

/// Values out of range: exit status 1 with a one-line message naming the value.
let badValues: [[String]] = [
    ["-p", "70000"], ["-p", "-1"], ["-p", "abc"], ["-p", ""],
    ["-n", "0"], ["-n", "x"], ["-n", "-5"],
    ["-t", "0"], ["-t", "257"], ["-t", "many"],
    ["-i", "0"], ["-i", "1001"],
    ["-s", "host:70000"], ["-s", ""], ["-b", "[::1"],
    ["-l", ""], ["-u", ""], ["-g", ""], ["-f", ""],
    ["--connect-timeout", "0"], ["--request-timeout=abc"], ["--failure-limit", "0"], ["--failure-limit=1001"],
    ["--log-level", "loud"], ["--log-level=quiet"],
    ["--metrics-port", "0"], ["--metrics-port=65536"], ["--metrics-port", "x"], ["--metrics-address", ""],
    ["--client-timeout", "-1"], ["--client-timeout=x"], ["--max-value-size", "0"], ["--max-value-size=2147483646"],
    ["--stats-format", "json"], ["--stats-format=MEMCACHED"], ["--stats-format", ""],
    ["--drain-timeout", "-1"], ["--drain-timeout=3600001"], ["--drain-timeout", "5s"],
    ["--flush-all", "none"], ["--flush-all=REFUSE"], ["--flush-all", ""],
]

@Suite struct CommandLineParserTests {
    @Test("accepted options change the default configuration", arguments: acceptedOptions)
    func accepted(_ options: AcceptedOptions) {
        var expected = baseConfiguration()
        options.change(&expected)
        #expect(parse(["-s", "127.0.0.1:21201"] + options.arguments) == .run(expected))
    }

    @Test("refused command lines exit 1 with the original's message", arguments: refusedOptions)
    func refused(_ options: RefusedOptions) {
        #expect(parse(options.arguments) == .exit(status: 1, message: options.message))
    }

    @Test("values out of range exit 1 with a message naming the value", arguments: badValues)
    func badValue(_ arguments: [String]) {
        let outcome = parse(["-s", "127.0.0.1:21201"] + arguments)
        guard case .exit(let status, let message) = outcome else {
            Issue.record("\(arguments) was accepted: \(outcome)")
            return
        }
        #expect(status == 1)
        #expect(message.hasPrefix("magent: "))
        #expect(message.hasSuffix("\n"))
        let value = arguments.count == 2 ? arguments[1] : String(arguments[0].split(separator: "=", maxSplits: 1).last ?? "")
        #expect(message.contains("'\(value)'"), "message: \(message)")
    }

    @Test("a bad --stats-format names the two formats")
    func badStatsFormat() {
        #expect(parse(["-s", "127.0.0.1:21201", "--stats-format", "json"])
            == .exit(status: 1, message: "magent: invalid argument 'json' for --stats-format: matrix or memcached\n"))
        #expect(parse(["-s", "127.0.0.1:21201", "--stats-format"])
            == .exit(status: 1, message: "magent: option '--stats-format' requires an argument\n" + usage))
    }

    @Test("the defaults are magent 0.6's, with ours")
    func defaults() {
        let configuration = Configuration()
        #expect(configuration.port == 11211)
        #expect(configuration.bindAddress == "0.0.0.0")
        #expect(configuration.maxConnections == 4096)
        #expect(configuration.connectionsPerServer == 20)
        #expect(configuration.foreground == false)
        #expect(configuration.placement == .modulo)
        #expect(configuration.unixSocketPath == nil)
        #expect(configuration.logLevel == .error)
        #expect(configuration.user == nil)
        #expect(configuration.group == nil)
        #expect(configuration.connectTimeoutMilliseconds == 1000)
        #expect(configuration.requestTimeoutMilliseconds == 1000)
        #expect(configuration.failureLimit == 2)
        #expect(configuration.statsFormat == .matrix)
        #expect((1...4).contains(configuration.threads))
        #expect(configuration.primaries.isEmpty)
        #expect(configuration.backups.isEmpty)
    }

    @Test("the program name is printed as given")
    func programNameAsGiven() {
        #expect(parse(["-x"], programName: "/usr/local/bin/magent")
            == .exit(status: 1, message: "/usr/local/bin/magent: invalid option -- 'x'\n" + usage))
    }

    @Test("the first bad option wins, in command-line order")
    func firstErrorWins() {
        #expect(parse(["-x", "-h"]) == .exit(status: 1, message: "magent: invalid option -- 'x'\n" + usage))
        #expect(parse(["-h", "-x"]) == .exit(status: 1, message: usage))
    }
}

@Suite struct UsageTextTests {
    /// The original's option lines, exactly (compat §1).
    static let originalOptionLines = [
        "  -h this message",
        "  -u uid",
        "  -g gid",
        "  -p port, default is 11211. (0 to disable tcp support)",
        "  -s ip:port, set memcached server ip and port",
        "  -b ip:port, set backup memcached server ip and port",
        "  -l ip, local bind ip address, default is 0.0.0.0",
        "  -n number, set max connections, default is 4096",
        "  -D don't go to background",
        "  -k use ketama key allocation algorithm",
        "  -f file, unix socket path to listen on. default is off",
        "  -i number, set max keep alive connections for one memcached server, default is 20",
        "  -v verbose",
    ]

    @Test("the usage starts with the banner and build date, then the original's lines in order")
    func originalLines() {
        let lines = usage.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.first == "memcached agent v1.0.0 Build-Date: \(buildDate)")
        #expect(usage.hasPrefix("memcached agent v\(MagentVersion.number) Build-Date: \(buildDate)\nUsage:\n"))
        #expect(lines.count > 15)
        #expect(Array(lines.dropFirst(2).prefix(13)) == Self.originalOptionLines)
    }

    @Test("our options follow in the same style, and the text ends with one newline")
    func ourLines() {
        let lines = usage.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(usage.hasSuffix("\n"))
        #expect(!usage.hasSuffix("\n\n"))
        let ours = Array(lines.dropFirst(15).dropLast())
        #expect(!ours.isEmpty)
        for line in ours {
            #expect(line.hasPrefix("  -"), "\(line)")
        }
        for option in ["-t", "--legacy-ketama", "--connect-timeout", "--request-timeout", "--failure-limit",
                       "--metrics-port", "--metrics-address", "--stats-format"] {
            #expect(ours.contains { $0.hasPrefix("  \(option) ") }, "\(option) is not listed")
        }
    }
}
