// How much the proxy logs: errors only by default, server state changes and
// reloads at `notice`, the original's -v messages at `info`, detail at `debug`.

public enum LogLevel: Int, Sendable, Comparable, CaseIterable {
    /// The default: errors the operator must see (a worker that stopped, accept failures).
    case error = 0
    /// `--log-level notice`: also every server state change (down, up, recovering,
    /// refilled) and every reload, without the per-connection messages.
    case notice = 1
    /// `-v`: also the original's kinds of messages (connections, failed requests).
    case info = 2
    /// `-vv`: also connection and probe detail.
    case debug = 3

    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The name `--log-level` and the configuration file use.
    public var name: String {
        switch self {
        case .error: "error"
        case .notice: "notice"
        case .info: "info"
        case .debug: "debug"
        }
    }

    public init?(name: String) {
        guard let level = LogLevel.allCases.first(where: { $0.name == name }) else { return nil }
        self = level
    }
}
