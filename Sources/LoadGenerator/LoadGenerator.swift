// Drives the load: opens the connections, preloads every key, sends requests
// closed-loop (a fixed number in flight) or at a fixed rate, checks every
// reply and reports throughput and latency percentiles.
import CEventShim
import CLibEvent
import Glibc
import MagentCore

final class LoadGenerator {
    let options: LoadOptions
    let keySpace: KeySpace
    private let base: OpaquePointer
    private var connections: [LoadConnection] = []
    private var active: [LoadConnection] = []
    private var random: FastRandom
    private var latencies: [UInt32] = []
    private var completedRequests = 0
    private var completedKeys = 0
    private var sentRequests = 0
    private var measuring = false
    private var startedAt: UInt64 = 0
    private var failure: String?
    private var rateTimer: OpaquePointer?
    private var nextActive = 0

    init(options: LoadOptions) {
        self.options = options
        keySpace = KeySpace(count: options.keys, valueMin: options.valueMin, valueMax: options.valueMax)
        // Precise timers: libevent's default coarse clock ticks every 4 ms,
        // which would delay a fixed-rate schedule and inflate its latencies.
        let config = event_config_new()
        event_config_set_flag(config, Int32(EVENT_BASE_FLAG_PRECISE_TIMER.rawValue))
        base = event_base_new_with_config(config)
        event_config_free(config)
        random = FastRandom(seed: options.seed)
        latencies.reserveCapacity(1 << 20)
    }

    static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    func fail(_ message: String) {
        if failure == nil { failure = message }
        event_base_loopbreak(base)
    }

    /// Runs everything; returns the process exit status.
    func run() -> Int32 {
        do {
            try connect()
        } catch {
            print("error: \(error)")
            return 2
        }
        if !options.skipPreload { preload() }
        if let failure { print("error: \(failure)"); return 1 }
        measure()
        if let failure { print("error: \(failure)"); return 1 }
        if options.holdSeconds > 0 {
            print("holding \(connections.count) connections")
            fflush(nil)
            usleep(UInt32(options.holdSeconds * 1_000_000))
        }
        let idleChecked = checkIdleConnections()
        if let failure { print("error: \(failure)"); return 1 }
        report(idleChecked: idleChecked)
        return 0
    }

    /// The connections that sat idle through the run (and the hold) must
    /// still be served: one get on each, its reply checked like any other.
    /// Returns how many were checked.
    private func checkIdleConnections() -> Int {
        let idle = connections.dropFirst(active.count)
        var checked = 0
        let batch = 500
        var start = idle.startIndex
        while start < idle.endIndex && failure == nil {
            let end = min(start + batch, idle.endIndex)
            for connection in idle[start..<end] {
                connection.sendGet(keys: keySpace, first: checked % keySpace.keys.count, count: 1, stride: 1, startedAt: 0)
                connection.flush()
                checked += 1
            }
            let deadline = Self.nanoseconds() + 5_000_000_000
            while failure == nil && idle[start..<end].contains(where: { !$0.outstanding.isEmpty }) && Self.nanoseconds() < deadline {
                event_base_loop(base, EVLOOP_ONCE)
            }
            if failure == nil && idle[start..<end].contains(where: { !$0.outstanding.isEmpty }) {
                failure = "an idle connection got no reply within 5 s"
            }
            start = end
        }
        return checked
    }

    private struct ConnectError: Error, CustomStringConvertible { let description: String }

    private func connect() throws {
        guard case .success(let address) = SocketAddress.resolve(host: options.host, port: options.port) else {
            throw ConnectError(description: "cannot resolve \(options.host)")
        }
        for _ in 0..<options.connections {
            guard case .success(let (fd, connected)) = address.connectNonBlocking() else {
                throw ConnectError(description: "connect failed: \(String(cString: strerror(errno)))")
            }
            if !connected {
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                guard poll(&descriptor, 1, 5000) == 1 else { throw ConnectError(description: "connect timed out") }
                var error: Int32 = 0
                var length = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
                guard error == 0 else { throw ConnectError(description: "connect failed: \(String(cString: strerror(error)))") }
            }
            // Closed with a reset, not a FIN: thousands of connections per run
            // would otherwise pile up in TIME_WAIT and exhaust the local ports.
            var reset = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, socklen_t(MemoryLayout<linger>.size))
            let connection = LoadConnection(generator: self, fd: fd)
            connection.start(base: base)
            connections.append(connection)
        }
        active = Array(connections.prefix(options.active ?? options.connections))
    }

    /// Sets every key once, pipelined over the active connections.
    private func preload() {
        var next = 0
        let batch = 64
        while next < keySpace.keys.count && failure == nil {
            for connection in active where next < keySpace.keys.count {
                for _ in 0..<batch where next < keySpace.keys.count {
                    connection.send(keySpace.setRequests[next], expecting: .init(kind: .set, firstKey: next, keyCount: 1, stride: 1, startedAt: 0))
                    next += 1
                }
                connection.flush()
            }
            while failure == nil && active.contains(where: { !$0.outstanding.isEmpty }) {
                event_base_loop(base, EVLOOP_ONCE)
            }
        }
    }

    private func measure() {
        measuring = true
        completedRequests = 0
        completedKeys = 0
        startedAt = Self.nanoseconds()
        let end = UInt64(options.durationSeconds * 1_000_000_000)
        if let rate = options.rate {
            startRateTimer(rate: rate)
        } else {
            for connection in active {
                for _ in 0..<options.pipeline { sendNext(on: connection, startedAt: Self.nanoseconds()) }
                connection.flush()
            }
        }
        while failure == nil && Self.nanoseconds() - startedAt < end {
            event_base_loop(base, EVLOOP_ONCE)
        }
        measuring = false
        if let rateTimer { event_free(rateTimer) }
        rateTimer = nil
        // Let what is in flight finish, bounded.
        let drainEnd = Self.nanoseconds() + 5_000_000_000
        while failure == nil && active.contains(where: { !$0.outstanding.isEmpty }) && Self.nanoseconds() < drainEnd {
            event_base_loop(base, EVLOOP_ONCE)
        }
        if failure == nil && active.contains(where: { !$0.outstanding.isEmpty }) { failure = "replies still missing 5 s after the run" }
    }

    /// Open loop: every 100 µs, sends what the rate says is due, each
    /// request's latency counted from when it was due.
    private func startRateTimer(rate: Double) {
        rateTimer = event_new(base, -1, Int16(EV_PERSIST), { _, _, context in
            Unmanaged<LoadGenerator>.fromOpaque(context!).takeUnretainedValue().sendDue(rate: nil)
        }, Unmanaged.passUnretained(self).toOpaque())
        self.rateValue = rate
        var interval = timeval(tv_sec: 0, tv_usec: 100)
        event_add(rateTimer, &interval)
    }

    private var rateValue = 0.0

    private func sendDue(rate: Double?) {
        let now = Self.nanoseconds()
        let elapsed = Double(now - startedAt) / 1e9
        let due = Int(elapsed * rateValue) - sentRequests
        guard due > 0 else { return }
        let interval = 1e9 / rateValue
        for index in 0..<due {
            let scheduled = startedAt + UInt64(Double(sentRequests + 1) * interval)
            var tried = 0
            while tried < active.count && active[nextActive].outstanding.count >= options.pipeline {
                nextActive = (nextActive + 1) % active.count
                tried += 1
            }
            guard tried < active.count else { break }  // every connection is full: the server is behind
            _ = index
            sendNext(on: active[nextActive], startedAt: min(scheduled, now))
            active[nextActive].flush()
            nextActive = (nextActive + 1) % active.count
        }
    }

    private func sendNext(on connection: LoadConnection, startedAt: UInt64) {
        sentRequests += 1
        if random.unit() < options.getRatio {
            let count = options.keysPerGetMin == options.keysPerGetMax
                ? options.keysPerGetMin
                : options.keysPerGetMin + random.below(options.keysPerGetMax - options.keysPerGetMin + 1)
            let first = random.below(keySpace.keys.count)
            // Distinct keys: a stride that cannot wrap onto itself within `count`.
            let stride = max(1, keySpace.keys.count / max(count, 1))
            connection.sendGet(keys: keySpace, first: first, count: min(count, keySpace.keys.count), stride: stride, startedAt: startedAt)
        } else {
            let key = random.below(keySpace.keys.count)
            connection.send(keySpace.setRequests[key], expecting: .init(kind: .set, firstKey: key, keyCount: 1, stride: 1, startedAt: startedAt))
        }
    }

    /// A reply checked: record it, and in closed loop send the next request.
    func completed(_ expectation: LoadConnection.Expectation) {
        guard measuring else { return }
        completedRequests += 1
        completedKeys += expectation.kind == .get ? expectation.keyCount : 1
        if latencies.count < 50_000_000 {
            latencies.append(UInt32(min((Self.nanoseconds() - expectation.startedAt) / 1000, UInt64(UInt32.max))))
        }
    }

    func repliesChecked(on connection: LoadConnection) {
        guard measuring, options.rate == nil else { return }
        while connection.outstanding.count < options.pipeline {
            sendNext(on: connection, startedAt: Self.nanoseconds())
        }
        connection.flush()
    }

    private func report(idleChecked: Int) {
        let seconds = Double(Self.nanoseconds() - startedAt) / 1e9
        latencies.sort()
        func percentile(_ fraction: Double) -> UInt32 {
            latencies.isEmpty ? 0 : latencies[min(latencies.count - 1, Int(Double(latencies.count) * fraction))]
        }
        let line = "result requests=\(completedRequests) keys=\(completedKeys) seconds=\(String(format3(seconds)))"
            + " requests_per_sec=\(Int(Double(completedRequests) / seconds)) keys_per_sec=\(Int(Double(completedKeys) / seconds))"
            + " p50_us=\(percentile(0.5)) p99_us=\(percentile(0.99)) p999_us=\(percentile(0.999)) idle_checked=\(idleChecked) errors=0"
        print(line)
    }

    private func format3(_ value: Double) -> String {
        let scaled = Int((value * 1000).rounded())
        return "\(scaled / 1000).\(String(scaled % 1000).leftPadded(to: 3))"
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
