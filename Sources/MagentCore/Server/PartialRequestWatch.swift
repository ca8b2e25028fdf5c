// --client-timeout: one timer per worker that closes clients which began a
// request and stopped making progress on it (slowloris). Idle clients between
// requests are never watched: memcached keeps them forever, and so do we.
import CLibEvent

/// The clients of one worker with an unfinished request, swept a few times per
/// timeout. Only clients whose request spans reads are here, so the common
/// case (a whole request in one read) costs nothing.
final class PartialRequestWatch {
    /// Sent before closing a client whose command line never ended in time.
    static let timeoutReply: StaticString = "CLIENT_ERROR request not completed in time\r\n"
    /// A value this much nearer its end counts as progress.
    static let progressBytes = 64 * 1024

    let timeoutMilliseconds: UInt64
    private var clients: [ObjectIdentifier: ClientConnection] = [:]
    private var timer: OpaquePointer?
    private var timerActive = false
    private var expired: [ClientConnection] = []

    init(base: OpaquePointer, timeoutMilliseconds: Int) {
        self.timeoutMilliseconds = UInt64(timeoutMilliseconds)
        timer = event_new(base, -1, Int16(EV_PERSIST), { _, _, context in
            Unmanaged<PartialRequestWatch>.fromOpaque(context!).takeUnretainedValue().sweep()
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { event_free(timer) }

    func watch(_ client: ClientConnection) {
        clients[ObjectIdentifier(client)] = client
        guard !timerActive else { return }
        // A few sweeps per timeout: a client is closed at most a quarter late.
        var interval = MonotonicClock.timeval(milliseconds: Swift.max(50, Swift.min(1000, timeoutMilliseconds / 4)))
        event_add(timer, &interval)
        timerActive = true
    }

    func unwatch(_ client: ClientConnection) {
        guard clients.removeValue(forKey: ObjectIdentifier(client)) != nil, clients.isEmpty, timerActive else { return }
        event_del(timer)
        timerActive = false
    }

    private func sweep() {
        let now = MonotonicClock.milliseconds()
        for client in clients.values where client.partialRequestExpired(now: now, timeout: timeoutMilliseconds) {
            expired.append(client)
        }
        for client in expired {
            unwatch(client)
            client.partialRequestTimedOut()
        }
        expired.removeAll(keepingCapacity: true)
    }
}
