// Watches every server from the main thread: probes the ones marked down
// until they answer (backing off while they fail), and asks the ones in use
// for their pid and uptime, so a memcached that restarted empty, seen down or
// not, is known to be recovering and gets refilled. A server down because it
// missed a flush_all is given that flush by its probe before it is used again.
// A down server with a host name that fails its probe has the name looked up
// again (ServerResolver); a server whose address changed is a stranger: its
// last identity is forgotten and a down one is probed at once.
// Watches the servers of the current generation; tables are by server id.
import CEventShim
import CLibEvent
import Glibc

final class HealthMonitor {
    /// First probe this long after a server goes down; doubled per failed probe.
    static let initialBackoffMilliseconds: UInt64 = 200
    static let maximumBackoffMilliseconds: UInt64 = 2000
    /// How often a server in use is asked who it is.
    static let identityIntervalMilliseconds: UInt64 = 1000
    /// A server in doubt (a connection failed or closed) is asked again this soon.
    static let doubtRetryMilliseconds: UInt64 = 100

    private struct ProbeSchedule {
        var nextProbe: UInt64
        var backoff: UInt64
    }

    /// Which memcached process answered, and since when it has run.
    struct Identity: Equatable {
        var pid: Int
        var uptimeSeconds: Int
        var observedAt: UInt64
        /// `STAT version` is 1.6 or later: meta commands are understood.
        var speaksMeta = false
    }

    private let context: ProxyContext
    private let base: OpaquePointer
    private let resolver: ServerResolver
    private var tick: OpaquePointer?
    private var schedules: [ProbeSchedule?]
    private var probes: [HealthProbe?]
    private var identities: [Identity?]
    private var nextIdentityCheck: [UInt64]
    /// The server's doubt count when its running probe started.
    private var probeDoubts: [Int]
    /// A refusal of the flush a server missed was logged (once until it takes one).
    private var flushRefusalLogged: [Bool]
    /// The generation whose servers are watched.
    private var watched: ProxyGeneration?
    /// The address generation each server's identity belongs to (see ResolvedAddress).
    private var addressGenerations: [Int]

    init(context: ProxyContext, base: OpaquePointer, resolver: ServerResolver) {
        self.context = context
        self.base = base
        self.resolver = resolver
        let count = ServerRegistry.capacity
        addressGenerations = Array(repeating: 0, count: count)
        schedules = Array(repeating: nil, count: count)
        probes = Array(repeating: nil, count: count)
        identities = Array(repeating: nil, count: count)
        nextIdentityCheck = Array(repeating: 0, count: count)
        probeDoubts = Array(repeating: 0, count: count)
        flushRefusalLogged = Array(repeating: false, count: count)
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
        let generation = context.generation
        let topology = generation.topology
        let settings = generation.configuration
        let timeout = UInt64(settings.connectTimeoutMilliseconds + settings.requestTimeoutMilliseconds)
        if generation !== watched {
            // Servers a reload removed are forgotten: if one comes back, its
            // earlier pid says nothing about what it holds now.
            for server in topology.known where !topology.contains(server) {
                probes[server.id] = nil
                schedules[server.id] = nil
                identities[server.id] = nil
                nextIdentityCheck[server.id] = 0
            }
            watched = generation
        }
        resolver.takeAnswers(in: topology)
        for server in topology.members {
            let addressGeneration = server.resolved.generation
            if addressGeneration != addressGenerations[server.id] {
                // Another memcached, or the same one elsewhere: its pid says nothing
                // about the old one's. Asked who it is (or probed, if down) at once.
                addressGenerations[server.id] = addressGeneration
                identities[server.id] = nil
                nextIdentityCheck[server.id] = 0
                if schedules[server.id] != nil {
                    schedules[server.id] = ProbeSchedule(nextProbe: now, backoff: Self.initialBackoffMilliseconds)
                }
            }
            if let probe = probes[server.id] {
                guard probe.finished else { continue }
                probes[server.id] = nil
                // A probe of the old address says nothing about the new one.
                guard probe.addressGeneration == addressGeneration else { continue }
                probeFinished(server, probe: probe, topology: topology)
                // A doubt probe that failed is tried again soon, not at once.
                if probe.identity == nil && server.health.mayHaveRestarted {
                    nextIdentityCheck[server.id] = Swift.min(nextIdentityCheck[server.id], now &+ Self.doubtRetryMilliseconds)
                }
            }
            if server.health.isUp {
                schedules[server.id] = nil
                // A connection that failed or closed may mean a restart: asked at once.
                let doubted = server.health.mayHaveRestarted && nextIdentityCheck[server.id] > now &+ Self.doubtRetryMilliseconds
                if now >= nextIdentityCheck[server.id] || doubted {
                    nextIdentityCheck[server.id] = now &+ Self.identityIntervalMilliseconds
                    probeDoubts[server.id] = server.health.doubtCount
                    probes[server.id] = HealthProbe(server: server, base: base, timeoutMilliseconds: timeout)
                }
                continue
            }
            guard let schedule = schedules[server.id] else {
                schedules[server.id] = ProbeSchedule(nextProbe: now &+ Self.initialBackoffMilliseconds,
                                                     backoff: Self.initialBackoffMilliseconds)
                continue
            }
            guard now >= schedule.nextProbe else { continue }
            probeDoubts[server.id] = server.health.doubtCount
            let missed = server.health.missedFlushDeadline
            probes[server.id] = HealthProbe(server: server, base: base, timeoutMilliseconds: timeout,
                                            flush: missed == 0 ? nil : MissedFlush(deadline: missed))
        }
    }

    private func probeFinished(_ server: BackendServer, probe: HealthProbe, topology: ServerTopology) {
        let name = topology.describe(server)
        if let refusal = probe.flushRefusal, !flushRefusalLogged[server.id] {
            flushRefusalLogged[server.id] = true
            context.logger.error("\(name) answered '\(refusal)' to the flush_all it missed: kept out of use until a flush_all succeeds on it")
        }
        guard probe.flushRefusal == nil, let identity = probe.identity else {
            if server.health.isUp { return }  // workers decide when a server in use is down
            // No answer: it may have moved; its name is looked up again (throttled, in the background).
            if probe.flushRefusal == nil { resolver.resolveInBackground(server, now: MonotonicClock.milliseconds()) }
            let backoff = Swift.min((schedules[server.id]?.backoff ?? Self.initialBackoffMilliseconds) * 2, Self.maximumBackoffMilliseconds)
            schedules[server.id] = ProbeSchedule(nextProbe: MonotonicClock.milliseconds() &+ backoff, backoff: backoff)
            context.logger.debug("\(name): probe failed, next in \(backoff) ms")
            return
        }
        let previous = identities[server.id]
        identities[server.id] = identity
        server.health.setAnswersMetaGets(identity.speaksMeta)
        if !server.health.isUp {
            // It missed a flush another server took: used again only once it took it too.
            if server.health.missedFlushDeadline != 0 {
                guard let given = probe.flush, server.health.flushGiven(given) else {
                    // A probe without it, or a newer flush missed meanwhile: probe again now.
                    schedules[server.id] = ProbeSchedule(nextProbe: 0, backoff: Self.initialBackoffMilliseconds)
                    return
                }
                flushRefusalLogged[server.id] = false
                context.logger.notice("\(name) took the flush_all it missed")
            }
            schedules[server.id] = nil
            // It was down: whatever it held may be gone, so it is refilled; and
            // if it kept its data, what it missed meanwhile is dropped from it
            // before it serves a read (ServerRefiller).
            server.health.markRecovering()
            if context.pendingDeletes.count(server: server.id) > 0 { server.health.markResyncing() }
            if server.health.markUp() { context.logger.notice("\(name) is up, recovering") }
            server.health.noteProcess(identity.pid)
            server.health.identityConfirmed(upTo: probeDoubts[server.id])
            return
        }
        if let previous, Self.restarted(previous, identity) {
            if server.health.markRecovering() {
                context.logger.notice("\(name) restarted (pid \(previous.pid) -> \(identity.pid)), recovering")
            }
        } else if previous == nil && probeDoubts[server.id] > 0 {
            // A connection failed or closed before its first identity check:
            // nothing to compare with, so it is taken as restarted (the refill
            // only adds what it lacks).
            if server.health.markRecovering() {
                context.logger.notice("\(name) may have restarted before its first identity check, recovering")
            }
        }
        server.health.noteProcess(identity.pid)
        server.health.identityConfirmed(upTo: probeDoubts[server.id])
        // It answers: a failure streak ends here too, so a server that failed
        // once and then got no requests (every key it missed goes to the other
        // copy) settles, and what is kept for it is applied.
        server.health.recordSuccess()
    }

    /// A new pid, or an uptime that did not advance with the clock.
    static func restarted(_ previous: Identity, _ current: Identity) -> Bool {
        if previous.pid != current.pid { return true }
        let elapsedSeconds = Int((current.observedAt &- previous.observedAt) / 1000)
        return current.uptimeSeconds + 2 < previous.uptimeSeconds + elapsedSeconds
    }
}

/// One probe: connect, send `stats` (after the flush_all the server missed,
/// if any), read its pid and uptime in time. The monitor reads the outcome
/// on its next tick.
final class HealthProbe {
    /// The flush it gives the server first, if any; the identity then counts
    /// only when the server answered OK to it.
    let flush: MissedFlush?
    private var request: [UInt8]
    /// The server's answer to the flush, when it was not OK.
    private(set) var flushRefusal: String?
    private var flushAnswered: Bool
    private var fd: Int32 = -1
    private var readEvent: OpaquePointer?
    private var writeEvent: OpaquePointer?
    private var timer: OpaquePointer?
    private var reply: [UInt8] = []
    /// The server's address generation it connected with: an answer from an
    /// address the server has since moved from is not used.
    let addressGeneration: Int
    private(set) var finished = false
    /// The identity read, or nil when the probe failed; meaningful once `finished`.
    private(set) var identity: HealthMonitor.Identity?

    init(server: BackendServer, base: OpaquePointer, timeoutMilliseconds: UInt64, flush: MissedFlush? = nil) {
        self.flush = flush
        request = Array((flush.map { $0.line(now: Int(time(nil))) } ?? "").utf8) + Array("stats\r\n".utf8)
        flushAnswered = flush == nil
        let (address, generation) = server.resolved.snapshot()
        addressGeneration = generation
        guard case .success(let (socket, _)) = address.connectNonBlocking() else {
            finished = true
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
            Unmanaged<HealthProbe>.fromOpaque(context!).takeUnretainedValue().finish(nil)
        }, context)
        event_add(writeEvent, nil)
        event_add(readEvent, nil)
        var interval = MonotonicClock.timeval(milliseconds: timeoutMilliseconds)
        event_add(timer, &interval)
    }

    deinit { finish(nil) }

    private func sendRequest() {
        if send(fd, request, request.count, Int32(MSG_NOSIGNAL)) != request.count {
            finish(nil)
        }
    }

    private func readReply() {
        var chunk = [UInt8](repeating: 0, count: 4096)
        let received = recv(fd, &chunk, chunk.count, 0)
        guard received > 0 else {
            if received < 0 && (errno == EAGAIN || errno == EINTR) { return }
            finish(nil)
            return
        }
        reply.append(contentsOf: chunk[0..<received])
        if !flushAnswered {
            // The flush's one line comes before the stats.
            guard let end = reply.firstIndex(of: 10) else {
                if reply.count > 1024 { finish(nil) }
                return
            }
            let line = reply[..<end].filter { $0 != 13 }
            guard line.elementsEqual("OK".utf8) else {
                flushRefusal = String(decoding: line.prefix(200), as: UTF8.self)
                finish(nil)
                return
            }
            flushAnswered = true
            reply.removeFirst(end + 1)
            if reply.isEmpty { return }
        }
        if reply.count > 64 * 1024 {
            finish(nil)
        } else if reply.count >= 5 && reply.suffix(5).elementsEqual("END\r\n".utf8) {
            finish(Self.identity(fromStats: reply))
        } else if reply.first != UInt8(ascii: "S") {
            finish(nil)
        }
    }

    /// pid and uptime from a `stats` reply.
    static func identity(fromStats reply: [UInt8]) -> HealthMonitor.Identity? {
        var pid: Int? = nil
        var uptime: Int? = nil
        var speaksMeta = false
        for line in reply.split(separator: 10) {
            let fields = line.split(separator: 32)
            guard fields.count >= 3, fields[0].elementsEqual("STAT".utf8) else { continue }
            let text = String(decoding: fields[2].filter { $0 != 13 }, as: UTF8.self)
            if fields[1].elementsEqual("pid".utf8) { pid = Int(text) }
            if fields[1].elementsEqual("uptime".utf8) { uptime = Int(text) }
            if fields[1].elementsEqual("version".utf8) { speaksMeta = Self.versionSpeaksMeta(text) }
        }
        guard let pid, let uptime else { return nil }
        return HealthMonitor.Identity(pid: pid, uptimeSeconds: uptime, observedAt: MonotonicClock.milliseconds(), speaksMeta: speaksMeta)
    }

    /// 1.6.10 and later: the meta protocol as the proxy uses it (stable since
    /// 1.6.10, with HD and base64 keys); earlier ones differ or have none.
    static func versionSpeaksMeta(_ version: String) -> Bool {
        let numbers = version.split(separator: ".", maxSplits: 3).map { Int($0.prefix { $0.isNumber }) ?? -1 }
        guard numbers.count >= 3, numbers[0] >= 0 else { return false }
        return (numbers[0], numbers[1], numbers[2]) >= (1, 6, 10)
    }

    private func finish(_ identity: HealthMonitor.Identity?) {
        for event in [readEvent, writeEvent, timer] where event != nil { event_free(event) }
        readEvent = nil
        writeEvent = nil
        timer = nil
        if fd >= 0 { close(fd) }
        fd = -1
        if !finished {
            finished = true
            self.identity = identity
        }
    }
}
