// Failures that client threads collect while a test's main thread waits.
import MagentCore

/// Failures collected from several threads, checked once they are done.
public final class FailureLog: Sendable {
    private let list = ThreadLock<[String]>([])
    public init() {}
    public func add(_ entry: String) { list.withLock { $0.append(entry) } }
    public var entries: [String] { list.withLock { $0 } }
}
