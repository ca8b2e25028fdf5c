// Every setting the command line and the configuration file can give, with
// its name in the file, its spelling on the command line and its validation,
// so both sources accept exactly the same values.

public enum ConfigurationSetting: String, CaseIterable, Sendable {
    case port
    case server
    case backup
    case listen
    case maxConnections = "max-connections"
    case foreground
    case ketama
    case legacyKetama = "legacy-ketama"
    case unixSocket = "unix-socket"
    case connectionsPerServer = "connections-per-server"
    case logLevel = "log-level"
    case syslog
    case user
    case group
    case threads
    case connectTimeout = "connect-timeout"
    case requestTimeout = "request-timeout"
    case failureLimit = "failure-limit"
    case missFailover = "miss-failover"
    case refillRate = "refill-rate"
    case allowControlKeys = "allow-control-keys"
    case metricsPort = "metrics-port"
    case metricsAddress = "metrics-address"
    case clientTimeout = "client-timeout"
    case maxValueSize = "max-value-size"
    case statsFormat = "stats-format"
    case drainTimeout = "drain-timeout"
    case flushAll = "flush-all"
    case stateDirectory = "state-dir"
    case keptKeysLimit = "kept-keys-limit"

    /// The name in the configuration file (`name = value`).
    public var fileName: String { rawValue }

    /// How the command line spells it, for messages: "-p", "--refill-rate".
    public var commandLineSpelling: String {
        switch self {
        case .port: "-p"
        case .server: "-s"
        case .backup: "-b"
        case .listen: "-l"
        case .maxConnections: "-n"
        case .foreground: "-D"
        case .ketama: "-k"
        case .unixSocket: "-f"
        case .connectionsPerServer: "-i"
        case .user: "-u"
        case .group: "-g"
        case .threads: "-t"
        default: "--\(rawValue)"
        }
    }

    /// A switch: no value on the command line, yes/no in the file.
    public var isSwitch: Bool {
        switch self {
        case .foreground, .ketama, .legacyKetama, .syslog, .missFailover, .allowControlKeys: true
        default: false
        }
    }

    /// Given once per server: the file keeps every line, in order.
    public var isList: Bool { self == .server || self == .backup }

    /// What the proxy cannot change while it runs: a reload that changes it
    /// only logs that a restart is needed.
    public var needsRestart: Bool {
        switch self {
        case .port, .listen, .unixSocket, .maxConnections, .threads, .user, .group, .foreground, .connectionsPerServer,
             .metricsPort, .metricsAddress, .clientTimeout, .maxValueSize, .stateDirectory, .keptKeysLimit: true
        default: false
        }
    }

    /// Applies `value` (ignored by switches, which `on` sets) to `configuration`.
    /// Returns what was expected when the value is refused.
    func apply(_ value: String, on: Bool = true, to configuration: inout Configuration) -> String? {
        switch self {
        case .port:
            guard let port = Int(value), port >= 0, port <= 65535 else { return "a port number from 0 to 65535" }
            configuration.port = port
        case .server, .backup:
            guard let address = ServerAddress.parse(value) else { return "host:port with a port from 1 to 65535" }
            if self == .server { configuration.primaries.append(address) } else { configuration.backups.append(address) }
        case .listen:
            guard !value.isEmpty else { return "an address to bind" }
            configuration.bindAddress = value
        case .maxConnections:
            guard let count = Int(value), count > 0 else { return "a positive number" }
            configuration.maxConnections = count
        case .connectionsPerServer:
            guard let count = Int(value), count > 0, count <= 1000 else { return "a number from 1 to 1000" }
            configuration.connectionsPerServer = count
        case .threads:
            guard let count = Int(value), count > 0, count <= 256 else { return "a number from 1 to 256" }
            configuration.threads = count
        case .user:
            guard !value.isEmpty else { return "a user name or number" }
            configuration.user = value
        case .group:
            guard !value.isEmpty else { return "a group name or number" }
            configuration.group = value
        case .unixSocket:
            guard !value.isEmpty else { return "a socket path" }
            configuration.unixSocketPath = value
        case .logLevel:
            guard let level = LogLevel(name: value) else { return "error, notice, info or debug" }
            configuration.logLevel = level
        case .connectTimeout, .requestTimeout:
            guard let milliseconds = Int(value), milliseconds > 0, milliseconds <= 3_600_000 else {
                return "milliseconds from 1 to 3600000"
            }
            if self == .connectTimeout {
                configuration.connectTimeoutMilliseconds = milliseconds
            } else {
                configuration.requestTimeoutMilliseconds = milliseconds
            }
        case .failureLimit:
            guard let count = Int(value), count > 0, count <= 1000 else { return "a number from 1 to 1000" }
            configuration.failureLimit = count
        case .refillRate:
            guard let rate = Int(value), rate > 0, rate <= 10_000_000 else { return "keys per second from 1 to 10000000" }
            configuration.refillRate = rate
        case .foreground:
            configuration.foreground = on
        case .ketama:
            // -k never downgrades --legacy-ketama, wherever each was given.
            if on && configuration.placement == .modulo { configuration.placement = .ketama }
            if !on && configuration.placement == .ketama { configuration.placement = .modulo }
        case .legacyKetama:
            if on { configuration.placement = .legacyKetama } else if configuration.placement == .legacyKetama { configuration.placement = .modulo }
        case .syslog:
            configuration.syslog = on
        case .missFailover:
            configuration.missFailoverAlways = on
        case .allowControlKeys:
            configuration.allowControlKeys = on
        case .metricsPort:
            guard let port = Int(value), port > 0, port <= 65535 else { return "a port number from 1 to 65535" }
            configuration.metricsPort = port
        case .metricsAddress:
            guard !value.isEmpty else { return "an address to bind" }
            configuration.metricsAddress = value
        case .clientTimeout:
            guard let milliseconds = Int(value), milliseconds >= 0, milliseconds <= 3_600_000 else {
                return "milliseconds from 0 (never) to 3600000"
            }
            configuration.clientTimeoutMilliseconds = milliseconds
        case .maxValueSize:
            guard let size = Int(value), size > 0, size <= Int(Int32.max) - 2 else { return "bytes from 1 to \(Int(Int32.max) - 2)" }
            configuration.maxValueSize = size
        case .statsFormat:
            guard let format = StatsFormat(name: value) else { return "matrix or memcached" }
            configuration.statsFormat = format
        case .drainTimeout:
            guard let milliseconds = Int(value), milliseconds >= 0, milliseconds <= 3_600_000 else {
                return "milliseconds from 0 (exit at once) to 3600000"
            }
            configuration.drainTimeoutMilliseconds = milliseconds
        case .flushAll:
            guard let mode = FlushAllMode(rawValue: value) else { return "all or refuse" }
            configuration.flushAll = mode
        case .stateDirectory:
            guard !value.isEmpty else { return "a directory" }
            configuration.stateDirectory = value
        case .keptKeysLimit:
            guard let count = Int(value), count > 0, count <= 100_000_000 else { return "a number from 1 to 100000000" }
            configuration.keptKeysLimit = count
        }
        return nil
    }

    /// The setting's value in `configuration`, as the file would write it
    /// (lists joined by ", "), to tell what a reload changed.
    func describe(_ configuration: Configuration) -> String {
        switch self {
        case .port: "\(configuration.port)"
        case .server: configuration.primaries.map(\.displayName).joined(separator: ", ")
        case .backup: configuration.backups.map(\.displayName).joined(separator: ", ")
        case .listen: configuration.bindAddress
        case .maxConnections: "\(configuration.maxConnections)"
        case .foreground: configuration.foreground ? "yes" : "no"
        case .ketama: configuration.placement == .ketama ? "yes" : "no"
        case .legacyKetama: configuration.placement == .legacyKetama ? "yes" : "no"
        case .unixSocket: configuration.unixSocketPath ?? "(none)"
        case .connectionsPerServer: "\(configuration.connectionsPerServer)"
        case .logLevel: configuration.logLevel.name
        case .syslog: configuration.syslog ? "yes" : "no"
        case .user: configuration.user ?? "(none)"
        case .group: configuration.group ?? "(none)"
        case .threads: "\(configuration.threads)"
        case .connectTimeout: "\(configuration.connectTimeoutMilliseconds)"
        case .requestTimeout: "\(configuration.requestTimeoutMilliseconds)"
        case .failureLimit: "\(configuration.failureLimit)"
        case .missFailover: configuration.missFailoverAlways ? "yes" : "no"
        case .refillRate: "\(configuration.refillRate)"
        case .allowControlKeys: configuration.allowControlKeys ? "yes" : "no"
        case .metricsPort: configuration.metricsPort.map { "\($0)" } ?? "(none)"
        case .metricsAddress: configuration.metricsAddress ?? "(none)"
        case .clientTimeout: "\(configuration.clientTimeoutMilliseconds)"
        case .maxValueSize: "\(configuration.maxValueSize)"
        case .statsFormat: configuration.statsFormat.name
        case .drainTimeout: "\(configuration.drainTimeoutMilliseconds)"
        case .flushAll: configuration.flushAll.rawValue
        case .stateDirectory: configuration.stateDirectory ?? "(none)"
        case .keptKeysLimit: "\(configuration.keptKeysLimit)"
        }
    }
}
