// The main thread's listeners: accepts clients on TCP and the unix socket,
// enforces -n, and deals each new connection to a worker in turn. Owns the
// listening sockets: a drain closes them at once (new connects are refused).
import CEventShim
import CLibEvent
import Glibc

final class Acceptor {
    private let context: ProxyContext
    private let base: OpaquePointer
    private let workers: [Worker]
    private var nextWorker = 0
    private var events: [OpaquePointer] = []
    private var listeners: [Int32] = []
    /// Out of descriptors: listening pauses briefly instead of spinning on a
    /// listener that stays readable.
    private var resumeTimer: OpaquePointer?
    static let pauseOnDescriptorShortageMilliseconds: UInt64 = 100

    init(context: ProxyContext, base: OpaquePointer, workers: [Worker]) {
        self.context = context
        self.base = base
        self.workers = workers
    }

    func listen(on fd: Int32) {
        listeners.append(fd)
        guard let event = event_new(base, fd, Int16(EV_READ | EV_PERSIST), { fd, _, context in
            Unmanaged<Acceptor>.fromOpaque(context!).takeUnretainedValue().acceptAll(fd)
        }, Unmanaged.passUnretained(self).toOpaque()) else { return }
        event_add(event, nil)
        events.append(event)
    }

    /// Closes every listener: the kernel refuses new connections from now on
    /// (and resets those not accepted yet). Idempotent.
    func stopListening() {
        events.forEach { event_free($0) }
        events.removeAll()
        if let resumeTimer { event_free(resumeTimer) }
        resumeTimer = nil
        listeners.forEach { close($0) }
        listeners.removeAll()
    }

    private func pauseListening() {
        events.forEach { event_del($0) }
        if resumeTimer == nil {
            resumeTimer = event_new(base, -1, 0, { _, _, context in
                let acceptor = Unmanaged<Acceptor>.fromOpaque(context!).takeUnretainedValue()
                acceptor.events.forEach { event_add($0, nil) }
            }, Unmanaged.passUnretained(self).toOpaque())
        }
        var interval = MonotonicClock.timeval(milliseconds: Self.pauseOnDescriptorShortageMilliseconds)
        event_add(resumeTimer, &interval)
    }

    private func acceptAll(_ listener: Int32) {
        for _ in 0..<64 {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                let error = errno
                if error == EINTR || error == ECONNABORTED { continue }
                if error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM {
                    context.logger.error("accept failed: \(errorText(error)); not accepting for \(Self.pauseOnDescriptorShortageMilliseconds) ms")
                    context.stats.limits.acceptPausedNoDescriptors.add(1)
                    pauseListening()
                } else if error != EAGAIN && error != EWOULDBLOCK {
                    context.logger.error("accept failed: \(errorText(error))")
                }
                return
            }
            _ = magent_set_nonblocking(fd)
            guard context.stats.clientConnections.increment(upTo: context.configuration.maxConnections) else {
                // Counted before the client hears it: a stats read after the refusal sees it.
                context.stats.acceptorCounters.add(.rejectedConnections)
                context.stats.limits.connectionsRefused.add(1)
                let refusal: StaticString = "SERVER_ERROR OUT OF CONNECTION\r\n"
                _ = send(fd, refusal.utf8Start, refusal.utf8CodeUnitCount, Int32(MSG_NOSIGNAL))
                close(fd)
                context.logger.info("refused a client: \(context.configuration.maxConnections) connections open (-n)")
                continue
            }
            context.stats.acceptorCounters.add(.totalConnections)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            workers[nextWorker].hand(fd)
            nextWorker = (nextWorker + 1) % workers.count
        }
    }
}
