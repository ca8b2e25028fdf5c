// Counters shared by every thread: connected clients (for -n), per worker and
// server the idle backend connections `stats` reports as pool size, and each
// thread's event counters (WorkerCounters).
import Glibc
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
    /// One per worker, by worker index.
    let workerCounters: [WorkerCounters]
    /// The acceptor's (the main thread's): connections accepted and refused.
    let acceptorCounters: WorkerCounters
    /// When the proxy started: wall-clock seconds, and monotonic milliseconds for uptime.
    public let startedAt: Int
    let startedAtMilliseconds: UInt64
    /// How often each limit was hit (`stats limits`).
    public let limits = LimitCounters()

    init(workers: Int, servers: Int) {
        idleConnections = (0..<workers).map { _ in (0..<servers).map { _ in Counter() } }
        workerCounters = (0..<workers).map { _ in WorkerCounters(servers: servers) }
        acceptorCounters = WorkerCounters(servers: servers)
        startedAt = time(nil)
        startedAtMilliseconds = MonotonicClock.milliseconds()
    }

    /// Every thread's counters.
    var allCounters: [WorkerCounters] { workerCounters + [acceptorCounters] }

    /// One proxy-wide counter summed over threads.
    public func total(_ counter: ProxyCounter) -> Int { allCounters.reduce(0) { $0 + $1.value(counter) } }

    /// Requests of one command, summed over threads.
    public func total(_ command: Command) -> Int { allCounters.reduce(0) { $0 + $1.value(command) } }

    /// One server's counter, summed over threads.
    public func total(server: Int, _ counter: ServerCounter) -> Int {
        allCounters.reduce(0) { $0 + $1.value(server: server, counter) }
    }

    /// Client request latency of one command family, summed over threads.
    public func requestLatency(_ family: RequestFamily) -> LatencyHistogram.Counts {
        allCounters.reduce(LatencyHistogram.Counts()) { $0 + $1.requestLatency.counts(row: Int(family.rawValue)) }
    }

    /// Round trips to one server, summed over threads.
    public func roundTrips(server: Int) -> LatencyHistogram.Counts {
        allCounters.reduce(LatencyHistogram.Counts()) { $0 + $1.serverLatency.counts(row: server) }
    }

    /// Seconds since start.
    public var uptimeSeconds: Int { Int((MonotonicClock.milliseconds() &- startedAtMilliseconds) / 1000) }

    /// Idle open connections to one server, summed over workers.
    public func idleConnections(toServer id: Int) -> Int {
        idleConnections.reduce(0) { $0 + $1[id].current }
    }
}
