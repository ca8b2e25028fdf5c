// Turns argv into a Configuration the way the original's getopt loop did
// (same letters, messages and exit codes), plus our long options.

/// What `magent` should do with its command line.
public enum CommandLineOutcome: Sendable, Equatable {
    case run(Configuration)
    /// Print `message` to stderr and exit with `status` before doing anything else.
    case exit(status: Int32, message: String)
}

public struct CommandLineParser {
    /// The original's getopt string, plus -t.
    static let shortOptions: [Character: Bool] = [
        "p": true, "u": true, "g": true, "s": true, "D": false, "h": false, "v": false,
        "n": true, "l": true, "k": false, "b": true, "f": true, "i": true, "t": true,
    ]
    static let longOptions: [String: Bool] = [
        "legacy-ketama": false, "connect-timeout": true, "request-timeout": true, "failure-limit": true, "help": false,
        "miss-failover": false, "refill-rate": true, "allow-control-keys": false,
        "metrics-port": true, "metrics-address": true,
    ]

    let programName: String
    let usage: String

    public init(programName: String, buildDate: String) {
        self.programName = programName
        self.usage = UsageText.render(buildDate: buildDate)
    }

    public func parse(_ arguments: [String]) -> CommandLineOutcome {
        var configuration = Configuration()
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if argument == "--" { break }
            if argument.hasPrefix("--") {
                var name = String(argument.dropFirst(2))
                var value: String? = nil
                if let equals = name.firstIndex(of: "=") {
                    value = String(name[name.index(after: equals)...])
                    name = String(name[..<equals])
                }
                guard let takesValue = Self.longOptions[name] else {
                    return .exit(status: 1, message: "\(programName): unrecognized option '\(argument)'\n" + usage)
                }
                if takesValue && value == nil {
                    guard index < arguments.count else {
                        return .exit(status: 1, message: "\(programName): option '--\(name)' requires an argument\n" + usage)
                    }
                    value = arguments[index]
                    index += 1
                } else if !takesValue && value != nil {
                    return .exit(status: 1, message: "\(programName): option '--\(name)' doesn't allow an argument\n" + usage)
                }
                if let failure = applyLong(name, value, to: &configuration) { return failure }
                continue
            }
            guard argument.hasPrefix("-"), argument.count > 1 else { continue }  // getopt permutes operands; magent ignores them
            var letters = Substring(argument.dropFirst())
            while let letter = letters.first {
                letters = letters.dropFirst()
                guard let takesValue = Self.shortOptions[letter] else {
                    return .exit(status: 1, message: "\(programName): invalid option -- '\(letter)'\n" + usage)
                }
                var value: String? = nil
                if takesValue {
                    if !letters.isEmpty {
                        value = String(letters)
                        letters = ""
                    } else if index < arguments.count {
                        value = arguments[index]
                        index += 1
                    } else {
                        return .exit(status: 1, message: "\(programName): option requires an argument -- '\(letter)'\n" + usage)
                    }
                }
                if let failure = applyShort(letter, value, to: &configuration) { return failure }
            }
        }
        if configuration.primaries.isEmpty {
            return .exit(status: 1, message: "please provide -s \"ip:port\" argument\n\n" + usage)
        }
        if configuration.port == 0 && configuration.unixSocketPath == nil {
            return .exit(status: 1, message: "magent must listen on tcp or unix domain socket\n")
        }
        return .run(configuration)
    }

    private func invalid(_ option: String, _ value: String, _ expected: String) -> CommandLineOutcome {
        .exit(status: 1, message: "\(programName): invalid argument '\(value)' for \(option): \(expected)\n")
    }

    private func applyShort(_ letter: Character, _ value: String?, to configuration: inout Configuration) -> CommandLineOutcome? {
        let value = value ?? ""
        switch letter {
        case "h":
            return .exit(status: 1, message: usage)
        case "p":
            guard let port = Int(value), port >= 0, port <= 65535 else { return invalid("-p", value, "a port number from 0 to 65535") }
            configuration.port = port
        case "s", "b":
            guard let address = ServerAddress.parse(value) else {
                return invalid("-\(letter)", value, "host:port with a port from 1 to 65535")
            }
            if letter == "s" { configuration.primaries.append(address) } else { configuration.backups.append(address) }
        case "l":
            guard !value.isEmpty else { return invalid("-l", value, "an address to bind") }
            configuration.bindAddress = value
        case "n":
            guard let count = Int(value), count > 0 else { return invalid("-n", value, "a positive number") }
            configuration.maxConnections = count
        case "i":
            guard let count = Int(value), count > 0, count <= 1000 else { return invalid("-i", value, "a number from 1 to 1000") }
            configuration.connectionsPerServer = count
        case "t":
            guard let count = Int(value), count > 0, count <= 256 else { return invalid("-t", value, "a number from 1 to 256") }
            configuration.threads = count
        case "u":
            guard !value.isEmpty else { return invalid("-u", value, "a user name or number") }
            configuration.user = value
        case "g":
            guard !value.isEmpty else { return invalid("-g", value, "a group name or number") }
            configuration.group = value
        case "f":
            guard !value.isEmpty else { return invalid("-f", value, "a socket path") }
            configuration.unixSocketPath = value
        case "D":
            configuration.foreground = true
        case "v":
            configuration.verbosity += 1
            configuration.foreground = true
        case "k":
            if configuration.placement == .modulo { configuration.placement = .ketama }
        default:
            break
        }
        return nil
    }

    private func applyLong(_ name: String, _ value: String?, to configuration: inout Configuration) -> CommandLineOutcome? {
        let value = value ?? ""
        switch name {
        case "help":
            return .exit(status: 1, message: usage)
        case "legacy-ketama":
            configuration.placement = .legacyKetama
        case "connect-timeout", "request-timeout":
            guard let milliseconds = Int(value), milliseconds > 0, milliseconds <= 3_600_000 else {
                return invalid("--\(name)", value, "milliseconds from 1 to 3600000")
            }
            if name == "connect-timeout" {
                configuration.connectTimeoutMilliseconds = milliseconds
            } else {
                configuration.requestTimeoutMilliseconds = milliseconds
            }
        case "miss-failover":
            configuration.missFailoverAlways = true
        case "allow-control-keys":
            configuration.allowControlKeys = true
        case "refill-rate":
            guard let rate = Int(value), rate > 0, rate <= 10_000_000 else { return invalid("--refill-rate", value, "keys per second from 1 to 10000000") }
            configuration.refillRate = rate
        case "metrics-port":
            guard let port = Int(value), port > 0, port <= 65535 else { return invalid("--metrics-port", value, "a port number from 1 to 65535") }
            configuration.metricsPort = port
        case "metrics-address":
            guard !value.isEmpty else { return invalid("--metrics-address", value, "an address to bind") }
            configuration.metricsAddress = value
        case "failure-limit":
            guard let count = Int(value), count > 0, count <= 1000 else { return invalid("--failure-limit", value, "a number from 1 to 1000") }
            configuration.failureLimit = count
        default:
            break
        }
        return nil
    }
}
