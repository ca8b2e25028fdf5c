// Processes seen through /proc: daemons the test did not parent (found by
// their command line), and the state, memory and CPU time of any PID.
import Foundation
import Glibc

public enum ProcessTable {
    /// PIDs whose argv contains every one of `arguments` in order as consecutive entries.
    public static func pids(withArguments arguments: [String], executable: String) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var result: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != getpid() else { continue }
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { continue }
            let argv = data.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard argv.first == executable, argv.count >= arguments.count else { continue }
            let matches = (0...(argv.count - arguments.count)).contains { start in
                Array(argv[start..<(start + arguments.count)]) == arguments
            }
            if matches && isAlive(pid) { result.append(pid) }
        }
        return result
    }

    /// The fields of /proc/PID/stat after the command name: [0] is the state
    /// (proc(5) field 3), [11] utime and [12] stime (fields 14 and 15).
    private static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }

    /// The one-letter state ("R", "S", "T" stopped, "Z" zombie...).
    public static func state(_ pid: pid_t) -> String? { statFields(pid)?.first.map(String.init) }

    /// Alive and not a zombie.
    public static func isAlive(_ pid: pid_t) -> Bool {
        guard let state = state(pid) else { return false }
        return state != "Z" && state != "X"
    }

    /// SIGTERM, then SIGKILL after a bound, for a process we did not start as a child.
    public static func stop(_ pid: pid_t, grace: Double = 3) {
        guard isAlive(pid) else { return }
        kill(pid, SIGTERM)
        if waitUntil(timeout: grace, { !isAlive(pid) }) { return }
        kill(pid, SIGKILL)
        waitUntil(timeout: 3) { !isAlive(pid) }
    }

    /// Resident memory in KiB.
    public static func residentKiB(_ pid: pid_t) -> Int? {
        statusField(pid, "VmRSS")?.first.flatMap { Int($0) }
    }

    /// The `Key:` line of /proc/PID/status, fields split on whitespace.
    public static func statusField(_ pid: pid_t, _ key: String) -> [String]? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(key + ":") {
            return line.dropFirst(key.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        return nil
    }

    /// Clock ticks (user + system) the process has used.
    public static func cpuTicks(_ pid: pid_t) -> Int? {
        guard let fields = statFields(pid), fields.count > 13, let user = Int(fields[11]), let system = Int(fields[12]) else {
            return nil
        }
        return user + system
    }

    /// CPU seconds (user + system) the process has used.
    public static func cpuSeconds(_ pid: pid_t) -> Double? {
        cpuTicks(pid).map { Double($0) / Double(sysconf(Int32(_SC_CLK_TCK))) }
    }
}
