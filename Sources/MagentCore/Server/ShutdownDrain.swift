// How the proxy stops, decided apart from doing it: SIGTERM and SIGUSR2 close
// the listeners and let open clients finish (a drain, bounded by
// --drain-timeout); SIGINT, or a second signal during a drain, stops at once.
// The main thread feeds signals and timer ticks in; `Shutdown` performs the actions.

/// What a stop signal asks for.
enum StopRequest: Equatable, Sendable {
    /// SIGTERM, SIGUSR2: stop accepting, finish what is open, then exit.
    case drain
    /// SIGINT: exit now.
    case immediate
}

/// The process-wide stop sequence, as a value-type state machine.
struct ShutdownDrain: Equatable, Sendable {
    enum Phase: Equatable, Sendable {
        case serving
        /// Listeners closed; exits once every client is gone, or at `deadline`
        /// (monotonic milliseconds).
        case draining(deadline: UInt64)
        case stopped
    }

    enum Event: Equatable, Sendable {
        case signal(StopRequest, now: UInt64)
        /// A look at what is left (the drain's timer): client connections
        /// still open, and whether every worker owes nothing to any server.
        case tick(now: UInt64, openClients: Int, workersIdle: Bool)
    }

    /// Why a drain ended.
    enum DrainEnd: Equatable, Sendable {
        case allClosed
        case timedOut
        /// A second stop signal came first.
        case interrupted
    }

    enum Action: Equatable, Sendable {
        /// Close the TCP and unix listeners (and remove the socket file):
        /// new connects are refused, health checks fail at once.
        case closeListeners
        /// Tell every worker: close each client once it is idle.
        case drainClients
        case logDrainStarted(timeoutMilliseconds: UInt64)
        /// Look again shortly (`tick`).
        case startTicking
        case logDrainEnded(DrainEnd)
        case logStoppingNow
        /// Leave the event loop: the process exits 0.
        case stopLoop
    }

    /// --drain-timeout at the time of the signal; 0 stops at once.
    let timeoutMilliseconds: UInt64
    private(set) var phase = Phase.serving

    init(timeoutMilliseconds: UInt64) { self.timeoutMilliseconds = timeoutMilliseconds }

    mutating func handle(_ event: Event) -> [Action] {
        switch (phase, event) {
        case (.serving, .signal(.drain, let now)) where timeoutMilliseconds > 0:
            phase = .draining(deadline: now &+ timeoutMilliseconds)
            return [.closeListeners, .drainClients, .logDrainStarted(timeoutMilliseconds: timeoutMilliseconds), .startTicking]
        case (.serving, .signal):
            phase = .stopped
            return [.closeListeners, .logStoppingNow, .stopLoop]
        case (.draining, .signal):
            phase = .stopped
            return [.logDrainEnded(.interrupted), .stopLoop]
        case (.draining(let deadline), .tick(let now, let openClients, let workersIdle)):
            if openClients == 0 && workersIdle {
                phase = .stopped
                return [.logDrainEnded(.allClosed), .stopLoop]
            }
            guard now >= deadline else { return [] }
            phase = .stopped
            return [.logDrainEnded(.timedOut), .stopLoop]
        case (.serving, .tick), (.stopped, _):
            return []
        }
    }
}
