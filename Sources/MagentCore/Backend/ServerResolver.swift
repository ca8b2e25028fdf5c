// Looks the host names of -s and -b up again: every kept server's on SIGHUP
// (on the main thread), and a down server's after its probe failed, on a
// background thread (getaddrinfo blocks; never on an event loop), at most once
// per 5 s per server. Numeric addresses are never looked up again. A server
// whose name now resolves elsewhere is a new memcached as far as the proxy
// knows: its identity is doubted, it recovers like a restarted server, and
// every worker stops using connections to the old address.
import Glibc

final class ServerResolver {
    /// One lookup's answer, handed from the thread that made it to the main thread.
    private struct Answer: Sendable {
        var server: BackendServer
        var sequence: Int
        var result: Result<[SocketAddress], StartupError>
    }

    /// What a background lookup thread needs, passed to it retained.
    private final class Lookup: Sendable {
        let server: BackendServer
        let sequence: Int
        let answers: ThreadLock<[Answer]>

        init(server: BackendServer, sequence: Int, answers: ThreadLock<[Answer]>) {
            self.server = server
            self.sequence = sequence
            self.answers = answers
        }

        func run() {
            let result = SocketAddress.resolveAll(host: server.address.resolvableHost, port: server.address.port)
            let answer = Answer(server: server, sequence: sequence, result: result)
            answers.withLock { $0.append(answer) }
        }
    }

    private let context: ProxyContext
    private let workers: [Worker]
    /// Background lookups that answered, taken in by `takeAnswers` (main thread).
    private let answers = ThreadLock<[Answer]>([])
    /// By server id: when a background lookup may start (see ResolveThrottle).
    private var throttles: [ResolveThrottle]
    /// By server id: the newest lookup applied, so an older one answering late changes nothing.
    private var applied: [Int]
    /// By server id: its name did not resolve at the last background lookup (logged once).
    private var unresolvable: [Bool]
    private var nextSequence = 0

    init(context: ProxyContext, workers: [Worker]) {
        self.context = context
        self.workers = workers
        throttles = Array(repeating: ResolveThrottle(), count: ServerRegistry.capacity)
        applied = Array(repeating: -1, count: ServerRegistry.capacity)
        unresolvable = Array(repeating: false, count: ServerRegistry.capacity)
    }

    private var log: Logger { context.logger }

    /// SIGHUP: looks up each of `servers` that has a host name, now, and
    /// applies what changed.
    func resolveNow(_ servers: [BackendServer], in topology: ServerTopology) {
        for server in servers where server.address.isHostName {
            nextSequence += 1
            let result = SocketAddress.resolveAll(host: server.address.resolvableHost, port: server.address.port)
            apply(Answer(server: server, sequence: nextSequence, result: result), in: topology, background: false)
        }
    }

    /// A probe of the down `server` failed: its name is looked up again on a
    /// thread of its own, unless one is running for it or one started less
    /// than 5 s ago. The answer is applied by `takeAnswers`.
    func resolveInBackground(_ server: BackendServer, now: UInt64) {
        guard server.address.isHostName, throttles[server.id].start(now: now) else { return }
        nextSequence += 1
        let lookup = Lookup(server: server, sequence: nextSequence, answers: answers)
        var thread = pthread_t()
        let status = pthread_create(&thread, nil, { context in
            Unmanaged<Lookup>.fromOpaque(context!).takeRetainedValue().run()
            return nil
        }, Unmanaged.passRetained(lookup).toOpaque())
        guard status == 0 else {
            Unmanaged.passUnretained(lookup).release()
            throttles[server.id].finished()
            log.error("cannot start a thread to look up \(server.address.resolvableHost): \(errorText(status))")
            return
        }
        pthread_detach(thread)
    }

    /// Applies the background lookups that answered (main thread, each monitor tick).
    func takeAnswers(in topology: ServerTopology) {
        let taken = answers.withLock { list -> [Answer] in
            guard !list.isEmpty else { return [] }
            let taken = list
            list.removeAll()
            return taken
        }
        for answer in taken {
            throttles[answer.server.id].finished()
            apply(answer, in: topology, background: true)
        }
    }

    private func apply(_ answer: Answer, in topology: ServerTopology, background: Bool) {
        let server = answer.server
        // A server a reload removed meanwhile is looked up again by the SIGHUP that adds it back.
        guard topology.contains(server), answer.sequence > applied[server.id] else { return }
        applied[server.id] = answer.sequence
        let name = topology.describe(server)
        switch answer.result {
        case .failure(let error):
            // A background lookup of a server that stays down is logged once.
            if !background || !unresolvable[server.id] {
                log.error("\(name): \(error.description); keeping \(server.socketAddress.numericText)")
            }
            unresolvable[server.id] = true
        case .success(let addresses):
            unresolvable[server.id] = false
            guard let previous = server.resolved.update(toOneOf: addresses) else { return }
            moved(server, from: previous, to: server.socketAddress, in: topology, name: name)
        }
    }

    /// The name resolves to another address: whatever memcached answers
    /// there is unknown. The health monitor sees the address generation move
    /// and forgets the old identity; until a check of the new one answers,
    /// misses are asked of the other copy; where there is another copy, the
    /// server is refilled from it like a restarted one.
    private func moved(_ server: BackendServer, from previous: SocketAddress, to address: SocketAddress,
                       in topology: ServerTopology, name: String) {
        server.health.doubtIdentity()
        let hasCopy = server.role == .primary ? !topology.backups.isEmpty : !topology.primaries.isEmpty
        if hasCopy { server.health.markRecovering() }
        log.notice("\(name): \(server.address.resolvableHost) now resolves to \(address.numericText) (was \(previous.numericText))"
                   + (hasCopy ? ", recovering" : ""))
        workers.forEach { $0.serverAddressMoved() }
    }
}
