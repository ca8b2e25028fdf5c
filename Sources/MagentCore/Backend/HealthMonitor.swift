// Brings servers that were marked down back into use: probes each one with
// `version` in the background, backing off while it keeps failing.
import CEventShim
import CLibEvent
import Glibc

final class HealthMonitor {
    /// First probe this long after a server goes down; doubled per failed probe.
    static let initialBackoffMilliseconds: UInt64 = 200
    static let maximumBackoffMilliseconds: UInt64 = 2000

    private struct ProbeSchedule {
        var nextProbe: UInt64
        var backoff: UInt64
    }

    private let context: ProxyContext
    private let base: OpaquePointer
    private var tick: OpaquePointer?
    private var schedules: [ProbeSchedule?]
    private var probes: [HealthProbe?]

    init(context: ProxyContext, base: OpaquePointer) {
        self.context = context
        self.base = base
        schedules = Array(repeating: nil, count: context.topology.servers.count)
        probes = Array(repeating: nil, count: context.topology.servers.count)
    }

    func start() {
        tick = event_new(base, -1, Int16(EV_PERSIST), { _, _, context in
            Unmanaged<HealthMonitor>.fromOpaque(context!).takeUnretainedValue().check()
        }, Unmanaged.passUnretained(self).toOpaque())
        var interval = MonotonicClock.timeval(milliseconds: 50)
        event_add(tick, &interval)
    }

    private func check() {
        let now = MonotonicClock.milliseconds()
        for server in context.topology.servers {
            if let probe = probes[server.id] {
                guard let succeeded = probe.outcome else { continue }
                probes[server.id] = nil
                probeFinished(server, succeeded: succeeded)
            }
            if server.health.isUp {
                schedules[server.id] = nil
                continue
            }
            guard let schedule = schedules[server.id] else {
                schedules[server.id] = ProbeSchedule(nextProbe: now &+ Self.initialBackoffMilliseconds,
                                                     backoff: Self.initialBackoffMilliseconds)
                continue
            }
            guard now >= schedule.nextProbe else { continue }
            let timeout = UInt64(context.configuration.connectTimeoutMilliseconds + context.configuration.requestTimeoutMilliseconds)
            probes[server.id] = HealthProbe(server: server, base: base, timeoutMilliseconds: timeout)
        }
    }

    private func probeFinished(_ server: BackendServer, succeeded: Bool) {
        if succeeded {
            schedules[server.id] = nil
            if server.health.markUp() {
                context.logger.error("memcached \(server.address.displayName) (\(server.role == .primary ? "primary" : "backup") \(server.listIndex + 1)) is up")
            }
            return
        }
        let backoff = Swift.min((schedules[server.id]?.backoff ?? Self.initialBackoffMilliseconds) * 2, Self.maximumBackoffMilliseconds)
        schedules[server.id] = ProbeSchedule(nextProbe: MonotonicClock.milliseconds() &+ backoff, backoff: backoff)
        context.logger.debug("memcached \(server.address.displayName): probe failed, next in \(backoff) ms")
    }
}

/// One probe: connect, send `version`, expect a VERSION line in time. The
/// monitor reads `outcome` on its next tick.
final class HealthProbe {
    private var fd: Int32 = -1
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var timer: OpaquePointer?
    private var reply: [UInt8] = []
    /// nil while the probe runs.
    private(set) var outcome: Bool?

    init(server: BackendServer, base: OpaquePointer, timeoutMilliseconds: UInt64) {
        guard case .success(let (socket, _)) = server.socketAddress.connectNonBlocking() else {
            outcome = false
            return
        }
        fd = socket
        let context = Unmanaged.passUnretained(self).toOpaque()
        writeEvent = event_new(base, fd, Int16(EV_WRITE), { _, _, context in
            Unmanaged<HealthProbe>.fromOpaque(context!).takeUnretainedValue().sendRequest()
        }, context)
        readEvent = event_new(base, fd, Int16(EV_READ | EV_PERSIST), { _, _, context in
            Unmanaged<HealthProbe>.fromOpaque(context!).takeUnretainedValue().readReply()
        }, context)
        timer = event_new(base, -1, 0, { _, _, context in
            Unmanaged<HealthProbe>.fromOpaque(context!).takeUnretainedValue().finish(false)
        }, context)
        event_add(writeEvent, nil)
        event_add(readEvent, nil)
        var interval = MonotonicClock.timeval(milliseconds: timeoutMilliseconds)
        event_add(timer, &interval)
    }

    deinit { finish(false) }

    private func sendRequest() {
        let request: StaticString = "version\r\n"
        if send(fd, request.utf8Start, request.utf8CodeUnitCount, Int32(MSG_NOSIGNAL)) != request.utf8CodeUnitCount {
            finish(false)
        }
    }

    private func readReply() {
        var chunk = [UInt8](repeating: 0, count: 256)
        let received = recv(fd, &chunk, chunk.count, 0)
        guard received > 0 else {
            if received < 0 && (errno == EAGAIN || errno == EINTR) { return }
            finish(false)
            return
        }
        reply.append(contentsOf: chunk[0..<received])
        if let newline = reply.firstIndex(of: 10) {
            finish(reply[0..<newline].starts(with: Array("VERSION ".utf8)))
        } else if reply.count > 1024 {
            finish(false)
        }
    }

    private func finish(_ succeeded: Bool) {
        for event in [readEvent, writeEvent, timer] where event != nil { event_free(event) }
        readEvent = nil
        writeEvent = nil
        timer = nil
        if fd >= 0 { close(fd) }
        fd = -1
        if outcome == nil { outcome = succeeded }
    }
}
