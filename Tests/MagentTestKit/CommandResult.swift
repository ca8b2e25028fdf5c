// A command run to completion with a bound: its exit, signal, output and time.
import Foundation

/// How a command run by `runToCompletion` ended.
public struct CommandResult: Sendable {
    public var exitCode: Int32?
    public var signal: Int32?
    public var standardOutput: String
    public var standardError: String
    public var seconds: Double
}

/// Runs a command to completion (killed by PID and an error thrown after `timeout`)
/// and returns its exit code and output.
public func runToCompletion(_ executable: String, _ arguments: [String], timeout: Double = 10) throws -> CommandResult {
    let directory = try Environment.temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let started = now()
    let child = try ChildProcess(executable: executable, arguments: arguments, directory: directory)
    if !child.waitForExit(timeout: timeout) {
        child.stop(grace: 1)
        throw HarnessError("\(executable) \(arguments.joined(separator: " ")) did not exit within \(timeout) s; "
                           + "stderr: \(child.standardError)")
    }
    return CommandResult(exitCode: child.exitCode, signal: child.terminatingSignal, standardOutput: child.standardOutput,
                         standardError: child.standardError, seconds: now() - started)
}
