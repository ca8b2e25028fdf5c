// Counters shared by every thread: connected clients (for -n) and, per
// worker and server, the idle backend connections `stats` reports as pool size.
import Synchronization

/// One relaxed atomic integer; each is written by one thread at a time.
public final class Counter: Sendable {
    private let value = Atomic<Int>(0)
    public init() {}
    public var current: Int { value.load(ordering: .relaxed) }
    public func add(_ delta: Int) { value.wrappingAdd(delta, ordering: .relaxed) }
    /// Adds one unless that would pass `limit`; returns whether it did.
    public func increment(upTo limit: Int) -> Bool {
        var current = value.load(ordering: .relaxed)
        while current < limit {
            let (exchanged, original) = value.compareExchange(expected: current, desired: current + 1, ordering: .relaxed)
            if exchanged { return true }
            current = original
        }
        return false
    }
}

public final class ProxyStats: Sendable {
    /// Client connections open now, TCP and unix together.
    public let clientConnections = Counter()
    /// [worker][server id]: idle open connections.
    let idleConnections: [[Counter]]

    init(workers: Int, servers: Int) {
        idleConnections = (0..<workers).map { _ in (0..<servers).map { _ in Counter() } }
    }

    /// Idle open connections to one server, summed over workers.
    public func idleConnections(toServer id: Int) -> Int {
        idleConnections.reduce(0) { $0 + $1[id].current }
    }
}
