// Messages to stderr at the level -v asked for; the text is only built when
// the level lets it through.
import Glibc

public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable {
        case error = 0
        /// -v: the original's kinds of messages (connections, servers).
        case info = 1
        /// -vv: every server state change, with more detail.
        case debug = 2

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public let verbosity: Int

    public init(verbosity: Int) { self.verbosity = verbosity }

    @inline(__always)
    public func enabled(_ level: Level) -> Bool { level.rawValue <= verbosity }

    public func error(_ message: @autoclosure () -> String) { log(.error, message) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message) }
    public func debug(_ message: @autoclosure () -> String) { log(.debug, message) }

    private func log(_ level: Level, _ message: () -> String) {
        guard enabled(level) else { return }
        var now = time(nil)
        var parts = tm()
        localtime_r(&now, &parts)
        var stamp = [CChar](repeating: 0, count: 32)
        strftime(&stamp, stamp.count, "%Y-%m-%d %H:%M:%S", &parts)
        let line = "[\(String(decoding: stamp.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))] \(message())\n"
        var bytes = Array(line.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
