// Turns argv into a Configuration the way the original's getopt loop did
// (same letters, messages and exit codes), plus our long options.

/// What `magent` should do with its command line.
public enum CommandLineOutcome: Sendable, Equatable {
    case run(Configuration)
    /// Print `message` to stderr and exit with `status` before doing anything else.
    case exit(status: Int32, message: String)
}

public struct CommandLineParser: Sendable {
    /// What a letter or long option does besides setting a value.
    enum Option: Sendable, Equatable {
        case setting(ConfigurationSetting)
        case help
        case verbose
        case configurationFile
    }

    /// The original's getopt string (p:u:g:s:Dhvn:l:kb:f:i:), plus -t and -c.
    static let shortOptions: [Character: Option] = [
        "p": .setting(.port), "u": .setting(.user), "g": .setting(.group), "s": .setting(.server),
        "D": .setting(.foreground), "h": .help, "v": .verbose, "n": .setting(.maxConnections),
        "l": .setting(.listen), "k": .setting(.ketama), "b": .setting(.backup), "f": .setting(.unixSocket),
        "i": .setting(.connectionsPerServer), "t": .setting(.threads), "c": .configurationFile,
    ]
    static let longOptions: [String: Option] = [
        "legacy-ketama": .setting(.legacyKetama), "connect-timeout": .setting(.connectTimeout),
        "request-timeout": .setting(.requestTimeout), "failure-limit": .setting(.failureLimit), "help": .help,
        "miss-failover": .setting(.missFailover), "refill-rate": .setting(.refillRate),
        "allow-control-keys": .setting(.allowControlKeys), "log-level": .setting(.logLevel),
        "syslog": .setting(.syslog), "config": .configurationFile,
        "metrics-port": .setting(.metricsPort), "metrics-address": .setting(.metricsAddress),
        "client-timeout": .setting(.clientTimeout), "max-value-size": .setting(.maxValueSize),
        "stats-format": .setting(.statsFormat),
        "drain-timeout": .setting(.drainTimeout),
        "flush-all": .setting(.flushAll),
        "state-dir": .setting(.stateDirectory),
        "kept-keys-limit": .setting(.keptKeysLimit),
    ]

    private static func takesValue(_ option: Option) -> Bool {
        switch option {
        case .setting(let setting): !setting.isSwitch
        case .configurationFile: true
        case .help, .verbose: false
        }
    }

    /// One option as given, replayed over the configuration file's settings.
    private enum Assignment {
        case setting(ConfigurationSetting, String)
        case verbose
    }

    let programName: String
    let usage: String

    public init(programName: String, buildDate: String) {
        self.programName = programName
        self.usage = UsageText.render(buildDate: buildDate)
    }

    /// The command line, over the configuration file it names (-c): what the
    /// file sets is the default for what the command line does not say; a
    /// server list on the command line replaces the file's list.
    public func parse(_ arguments: [String]) -> CommandLineOutcome {
        parse(arguments, configurationFile: nil)
    }

    /// As `parse`, reading `configurationFile` instead of the -c argument's
    /// file: a reload reads the absolute path found at start-up.
    public func parse(_ arguments: [String], configurationFile override: String?) -> CommandLineOutcome {
        var assignments: [Assignment] = []
        var configurationPath: String? = nil
        // Every value is checked here, in command-line order, so the first bad
        // option wins as in the original.
        var scratch = Configuration()
        func take(_ option: Option, _ spelling: String, _ value: String?) -> CommandLineOutcome? {
            let value = value ?? ""
            switch option {
            case .help:
                return .exit(status: 1, message: usage)
            case .verbose:
                assignments.append(.verbose)
            case .configurationFile:
                guard !value.isEmpty else { return invalid(spelling, value, "a configuration file path") }
                configurationPath = value
            case .setting(let setting):
                if let expected = setting.apply(value, to: &scratch) { return invalid(spelling, value, expected) }
                assignments.append(.setting(setting, value))
            }
            return nil
        }
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
                guard let option = Self.longOptions[name] else {
                    return .exit(status: 1, message: "\(programName): unrecognized option '\(argument)'\n" + usage)
                }
                let takesValue = Self.takesValue(option)
                if takesValue && value == nil {
                    guard index < arguments.count else {
                        return .exit(status: 1, message: "\(programName): option '--\(name)' requires an argument\n" + usage)
                    }
                    value = arguments[index]
                    index += 1
                } else if !takesValue && value != nil {
                    return .exit(status: 1, message: "\(programName): option '--\(name)' doesn't allow an argument\n" + usage)
                }
                if let failure = take(option, "--\(name)", value) { return failure }
                continue
            }
            guard argument.hasPrefix("-"), argument.count > 1 else { continue }  // getopt permutes operands; magent ignores them
            var letters = Substring(argument.dropFirst())
            while let letter = letters.first {
                letters = letters.dropFirst()
                guard let option = Self.shortOptions[letter] else {
                    return .exit(status: 1, message: "\(programName): invalid option -- '\(letter)'\n" + usage)
                }
                var value: String? = nil
                if Self.takesValue(option) {
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
                if let failure = take(option, "-\(letter)", value) { return failure }
            }
        }

        var configuration = Configuration()
        if let path = override ?? configurationPath {
            switch ConfigurationFile.load(path: path) {
            case .failure(let error):
                return .exit(status: 1, message: "\(error)\n")
            case .success(let file):
                file.apply(to: &configuration)
            }
            configuration.configurationFile = ConfigurationFile.absolutePath(path)
        }
        var replacedPrimaries = false
        var replacedBackups = false
        var verboseCount = 0
        for assignment in assignments {
            switch assignment {
            case .verbose:
                verboseCount += 1
                configuration.logLevel = verboseCount >= 2 ? .debug : .info
                configuration.foreground = true
            case .setting(let setting, let value):
                if setting == .server && !replacedPrimaries {
                    configuration.primaries = []
                    replacedPrimaries = true
                }
                if setting == .backup && !replacedBackups {
                    configuration.backups = []
                    replacedBackups = true
                }
                _ = setting.apply(value, to: &configuration)
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
}
