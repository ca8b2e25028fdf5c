// One thread's counters: proxy-wide events, requests by command, per-server
// events and the latency histograms. Written only by its own thread (a worker, or the acceptor), summed
// by whoever reads the stats.

public final class WorkerCounters: Sendable {
    private let events: CounterBlock
    private let commands: CounterBlock
    /// servers x ServerCounter.allCases.count, row by server id.
    private let servers: CounterBlock
    let serverCount: Int
    /// Client request latency, row by RequestFamily.
    let requestLatency: LatencyHistogram
    /// Backend round trips, row by server id.
    let serverLatency: LatencyHistogram

    init(servers serverCount: Int) {
        self.serverCount = serverCount
        events = CounterBlock(count: ProxyCounter.allCases.count)
        commands = CounterBlock(count: Command.allCases.count)
        servers = CounterBlock(count: serverCount * ServerCounter.allCases.count)
        requestLatency = LatencyHistogram(rows: RequestFamily.allCases.count)
        serverLatency = LatencyHistogram(rows: serverCount)
    }

    @inline(__always)
    func add(_ counter: ProxyCounter, _ delta: Int = 1) { events.add(counter.rawValue, delta) }

    @inline(__always)
    func count(_ command: Command) { commands.add(Int(command.rawValue)) }

    @inline(__always)
    func add(server: Int, _ counter: ServerCounter, _ delta: Int = 1) {
        servers.add(server * ServerCounter.allCases.count + counter.rawValue, delta)
    }

    /// A client request of `family` took `nanoseconds`, parsed to reply queued.
    @inline(__always)
    func recordRequest(_ family: RequestFamily, nanoseconds: UInt64) {
        requestLatency.record(row: Int(family.rawValue), nanoseconds: nanoseconds)
    }

    /// A request refused by the parser: every refusal, and the limits by name.
    func countClientError(_ error: ClientError) {
        add(.clientErrors)
        if error == .lineTooLong { add(.lineTooLong) }
    }

    func value(_ counter: ProxyCounter) -> Int { events.value(counter.rawValue) }
    func value(_ command: Command) -> Int { commands.value(Int(command.rawValue)) }
    func value(server: Int, _ counter: ServerCounter) -> Int {
        servers.value(server * ServerCounter.allCases.count + counter.rawValue)
    }
}
