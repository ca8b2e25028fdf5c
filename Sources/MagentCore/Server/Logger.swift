// Timestamped messages to stderr (and syslog with --syslog) at the level
// -v, -vv or --log-level asked for; the text is only built when the level
// lets it through. A reload may change the level and the syslog switch.
import Glibc
import Synchronization

public final class Logger: Sendable {
    private let level: Atomic<Int>
    private let toSyslog: Atomic<Bool>
    private let syslogOpened = Atomic<Bool>(false)

    public init(level: LogLevel, syslog: Bool = false) {
        self.level = Atomic(level.rawValue)
        toSyslog = Atomic(false)
        update(level: level, syslog: syslog)
    }

    /// The level and syslog switch of a new configuration.
    public func update(level newLevel: LogLevel, syslog: Bool) {
        level.store(newLevel.rawValue, ordering: .relaxed)
        if syslog && !syslogOpened.exchange(true, ordering: .relaxed) {
            openlog("magent", LOG_PID | LOG_NDELAY, LOG_DAEMON)
        }
        toSyslog.store(syslog, ordering: .relaxed)
    }

    public var currentLevel: LogLevel { LogLevel(rawValue: level.load(ordering: .relaxed)) ?? .error }

    @inline(__always)
    public func enabled(_ wanted: LogLevel) -> Bool { wanted.rawValue <= level.load(ordering: .relaxed) }

    public func error(_ message: @autoclosure () -> String) { log(.error, message) }
    /// Server state changes and reloads.
    public func notice(_ message: @autoclosure () -> String) { log(.notice, message) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message) }

    private func log(_ wanted: LogLevel, _ message: () -> String) {
        guard enabled(wanted) else { return }
        let text = message()
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var stamp = [CChar](repeating: 0, count: 32)
        strftime(&stamp, stamp.count, "%Y-%m-%d %H:%M:%S", &parts)
        let line = "[\(String(decoding: stamp.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))] \(text)\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
        if toSyslog.load(ordering: .relaxed) {
            let priority: Int32
            switch wanted {
            case .error: priority = LOG_ERR
            case .notice: priority = LOG_NOTICE
            case .info: priority = LOG_INFO
            case .debug: priority = LOG_DEBUG
            }
            text.withCString { message in
                withVaList([message]) { vsyslog(priority, "%s", $0) }
            }
        }
    }
}
