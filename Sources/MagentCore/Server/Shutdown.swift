// Carries out ShutdownDrain's decisions on the main thread: SIGTERM and
// SIGUSR2 close the listeners and drain the workers' clients, a timer watches
// what is left, and the event loop ends when the drain does (or at once on
// SIGINT or a second signal). The process then exits 0.
import CLibEvent
import Glibc

final class Shutdown {
    private let context: ProxyContext
    private let base: OpaquePointer
    private let acceptor: Acceptor
    private let workers: [Worker]
    /// The -f socket file: removed with the listeners, so a proxy started in
    /// this one's place meanwhile keeps its own.
    private let unixPath: String?
    private(set) var unixSocketRemoved = false
    /// Created by the first signal, with --drain-timeout as it is then.
    private var machine: ShutdownDrain?
    private var timer: OpaquePointer?
    private var signalName = ""
    private var drainStartedAt: UInt64 = 0
    /// How often the main thread looks at what the drain has left.
    static let tickMilliseconds: UInt64 = 10

    init(context: ProxyContext, base: OpaquePointer, acceptor: Acceptor, workers: [Worker], unixPath: String?) {
        self.context = context
        self.base = base
        self.acceptor = acceptor
        self.workers = workers
        self.unixPath = unixPath
    }

    deinit { if let timer { event_free(timer) } }

    /// The signals this answers, and what each asks for.
    static let signals: [(number: Int32, name: String, request: StopRequest)] = [
        (SIGTERM, "SIGTERM", .drain), (SIGUSR2, "SIGUSR2", .drain), (SIGINT, "SIGINT", .immediate),
    ]

    /// Registers the signal events on the main loop.
    func listenForSignals() -> [OpaquePointer] {
        Self.signals.compactMap { entry in
            guard let event = event_new(base, entry.number, Int16(EV_SIGNAL | EV_PERSIST), { number, _, context in
                Unmanaged<Shutdown>.fromOpaque(context!).takeUnretainedValue().received(signal: number)
            }, Unmanaged.passUnretained(self).toOpaque()) else { return nil }
            event_add(event, nil)
            return event
        }
    }

    private func received(signal number: Int32) {
        guard let entry = Self.signals.first(where: { $0.number == number }) else { return }
        signalName = entry.name
        if machine == nil {
            machine = ShutdownDrain(timeoutMilliseconds: UInt64(context.generation.configuration.drainTimeoutMilliseconds))
        }
        perform(machine!.handle(.signal(entry.request, now: MonotonicClock.milliseconds())))
    }

    private func tick() {
        guard machine != nil else { return }
        let idle = workers.allSatisfy(\.isDrained)
        perform(machine!.handle(.tick(now: MonotonicClock.milliseconds(), openClients: openClients, workersIdle: idle)))
    }

    /// Client connections accepted and not closed (those handed to a worker
    /// that has not taken them in yet included).
    private var openClients: Int { context.stats.clientConnections.current }

    private func perform(_ actions: [ShutdownDrain.Action]) {
        for action in actions {
            switch action {
            case .closeListeners:
                acceptor.stopListening()
                removeUnixSocket()
            case .drainClients:
                drainStartedAt = MonotonicClock.milliseconds()
                workers.forEach { $0.requestDrain() }
            case .logDrainStarted(let timeout):
                context.logger.notice("\(signalName): draining: listeners closed, \(openClients) client connections open; " +
                                      "exiting once they are done, in at most \(timeout) ms")
            case .startTicking:
                timer = event_new(base, -1, Int16(EV_PERSIST), { _, _, context in
                    Unmanaged<Shutdown>.fromOpaque(context!).takeUnretainedValue().tick()
                }, Unmanaged.passUnretained(self).toOpaque())
                var interval = MonotonicClock.timeval(milliseconds: Self.tickMilliseconds)
                event_add(timer, &interval)
            case .logDrainEnded(let end):
                let elapsed = MonotonicClock.milliseconds() &- drainStartedAt
                switch end {
                case .allClosed:
                    context.logger.notice("drain done in \(elapsed) ms: every client connection closed")
                case .timedOut:
                    context.logger.notice("drain timed out after \(elapsed) ms: \(openClients) client connections still open, closed now")
                case .interrupted:
                    context.logger.notice("\(signalName) during the drain (\(elapsed) ms): stopping now, " +
                                          "\(openClients) client connections still open")
                }
            case .logStoppingNow:
                context.logger.notice("\(signalName): stopping now, \(openClients) client connections open")
            case .stopLoop:
                if let timer { event_del(timer) }
                event_base_loopbreak(base)
            }
        }
    }

    /// Removes the -f socket file once (its listener is closed).
    func removeUnixSocket() {
        guard let unixPath, !unixSocketRemoved else { return }
        unixSocketRemoved = true
        unlink(unixPath)
    }
}
