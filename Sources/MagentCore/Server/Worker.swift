// One worker thread: its own event loop, client connections and backend
// pools. Nothing on the request path is shared with other workers. A reload
// reaches it through the same pipe as new clients: it adopts the new
// generation between two events; so does a drain (SIGTERM): each client is
// then closed once it is idle; and so does a server's move to a new address.
import CEventShim
import CLibEvent
import Glibc
import Synchronization

final class Worker: @unchecked Sendable {
    let index: Int
    let context: ProxyContext
    /// Created on the worker's own thread's behalf before it starts; used only there after.
    let base: OpaquePointer
    /// By server id; a pool of a server no longer configured is retired.
    private(set) var pools: [BackendPool] = []
    /// The generation this worker routes with, and its settings.
    private(set) var generation: ProxyGeneration
    private(set) var topology: ServerTopology
    private(set) var settings: Configuration
    /// Client input and output memory between uses.
    let spareBuffers = SpareBufferStorage()
    private(set) var forwarder: RequestForwarder!
    /// Runs the jobs' decisions: the one place requests to memcached leave from.
    private(set) var executor: JobExecutor!
    /// This worker's idle-connection counters, by server id.
    let idleCounters: [Counter]
    /// This worker's event counters (stats proxy, stats servers, /metrics).
    let counters: WorkerCounters
    /// Every read lands here first; only unfinished input is copied out.
    let readScratch: UnsafeMutableRawBufferPointer

    /// Work for the end of the current loop pass (see finishIteration).
    var dirtyClients: [ClientConnection] = []
    var dirtyBackends: [BackendConnection] = []
    var failingBackends: [BackendConnection] = []
    var closingClients: [ClientConnection] = []
    /// Connections to removed servers, or to an old address, that may have become idle.
    var retiringBackends: [BackendConnection] = []
    /// Clients whose request waited for an earlier one that is now done.
    var resumingClients: [ClientConnection] = []
    private var resumingNow: [ClientConnection] = []
    private var flushingClients: [ClientConnection] = []
    private var flushingBackends: [BackendConnection] = []
    private var failingNow: [BackendConnection] = []
    private var closingNow: [ClientConnection] = []

    /// Clients with a request left unfinished (--client-timeout); nil when off.
    private(set) var partialRequests: PartialRequestWatch?

    /// Every client adopted and not closed yet (each knows its index), for the drain.
    private(set) var clients: [ClientConnection] = []
    /// The main thread asked for a drain (SIGTERM); taken in through the pipe.
    private let drainRequested = Atomic<Bool>(false)
    /// Draining: each client closes at its first idle moment (ClientDrain).
    private(set) var isDraining = false
    /// Draining and nothing left here: no client, no job, no reply owed by a
    /// server. Set on this thread, read by the main thread.
    private let drainedFlag = Atomic<Bool>(false)
    private var drainTimer: OpaquePointer?
    /// How often a draining worker looks at its clients (replies sent in the
    /// meantime close theirs at once, see ClientConnection.flush).
    static let drainCheckMilliseconds: UInt64 = 10

    /// A server's host name resolved to a new address (ServerResolver); taken in through the pipe.
    private let addressMoved = Atomic<Bool>(false)

    /// Accepted sockets handed over by the acceptor thread.
    private let incoming = ThreadLock<[Int32]>([])
    private var notifyPipe: (read: Int32, write: Int32) = (-1, -1)
    private var notifyEvent: OpaquePointer?
    private var nextClientID = 0
    private var thread = pthread_t()

    init(index: Int, context: ProxyContext) {
        self.index = index
        self.context = context
        guard let base = event_base_new() else { fatalError("event_base_new failed") }
        self.base = base
        generation = context.generation
        topology = generation.topology
        settings = generation.configuration
        idleCounters = context.stats.idleConnections[index]
        counters = context.stats.workerCounters[index]
        readScratch = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 16)
        pools = topology.known.map {
            BackendPool(worker: self, server: $0, size: context.configuration.connectionsPerServer)
        }
        forwarder = RequestForwarder(worker: self)
        executor = JobExecutor(worker: self)
        if context.configuration.clientTimeoutMilliseconds > 0 {
            partialRequests = PartialRequestWatch(base: base, timeoutMilliseconds: context.configuration.clientTimeoutMilliseconds)
        }
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { fatalError("pipe failed: \(errorText(errno))") }
        _ = magent_set_nonblocking(fds[0])
        _ = magent_set_nonblocking(fds[1])
        notifyPipe = (fds[0], fds[1])
        notifyEvent = event_new(base, notifyPipe.read, Int16(EV_READ | EV_PERSIST), { _, _, context in
            let worker = Unmanaged<Worker>.fromOpaque(context!).takeUnretainedValue()
            worker.adoptIncoming()
        }, Unmanaged.passUnretained(self).toOpaque())
        event_add(notifyEvent, nil)
    }

    /// Runs the event loop on a new thread, forever.
    func start() {
        let context = Unmanaged.passRetained(self).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            let worker = Unmanaged<Worker>.fromOpaque(context!).takeUnretainedValue()
            // One pass handles every event epoll reported; what they produced is
            // written after all of them, so requests from many clients to one
            // server leave in one write, and replies to a client in one write.
            while event_base_loop(worker.base, EVLOOP_ONCE) == 0 {
                worker.finishIteration()
            }
            worker.context.logger.error("worker \(worker.index): event loop stopped")
            return nil
        }, context)
        if status != 0 { fatalError("cannot start worker thread: \(errorText(status))") }
    }

    func isUp(_ server: Int) -> Bool { topology.known[server].health.isUp }

    func isRecovering(_ server: Int) -> Bool { topology.known[server].health.isRecovering }

    /// When a reply sent now becomes late.
    func replyDeadline() -> UInt64 {
        MonotonicClock.milliseconds() &+ UInt64(settings.requestTimeoutMilliseconds)
    }

    // MARK: - Reloads

    /// Called on the main thread after a new generation was published.
    func generationPublished() {
        var byte: UInt8 = 2
        _ = write(notifyPipe.write, &byte, 1)
    }

    /// Routes with the published generation from now on. Requests already
    /// sent finish where they went; connections to servers that stay are
    /// kept; those to removed servers close once they owe nothing.
    private func adoptGeneration() {
        let published = context.generation
        guard published !== generation else { return }
        generation = published
        topology = published.topology
        settings = published.configuration
        while pools.count < topology.known.count {
            pools.append(BackendPool(worker: self, server: topology.known[pools.count], size: context.configuration.connectionsPerServer))
        }
        for pool in pools {
            let retired = !topology.contains(pool.server)
            if retired && !pool.retired { pool.retire() }
            pool.retired = retired
        }
    }

    /// Called on the main thread after a server's address changed: idle
    /// connections to the old address close, busy ones once they owe nothing.
    func serverAddressMoved() {
        addressMoved.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 4
        _ = write(notifyPipe.write, &byte, 1)
    }

    // MARK: - Draining

    /// Called on the main thread: stop taking requests from idle clients.
    func requestDrain() {
        drainRequested.store(true, ordering: .sequentiallyConsistent)
        var byte: UInt8 = 3
        _ = write(notifyPipe.write, &byte, 1)
    }

    /// Whether the drain left nothing here (read by the main thread).
    var isDrained: Bool { drainedFlag.load(ordering: .sequentiallyConsistent) }

    private func beginDrain() {
        isDraining = true
        for client in clients { client.drainBegan() }
        drainTimer = event_new(base, -1, Int16(EV_PERSIST), { _, _, context in
            Unmanaged<Worker>.fromOpaque(context!).takeUnretainedValue().drainTick()
        }, Unmanaged.passUnretained(self).toOpaque())
        var interval = MonotonicClock.timeval(milliseconds: Self.drainCheckMilliseconds)
        event_add(drainTimer, &interval)
        noteDrainProgress()
    }

    private func drainTick() {
        for client in clients { client.checkDrain() }
        noteDrainProgress()
    }

    /// Publishes whether anything is left: clients, jobs, replies owed by
    /// servers (a backup's copy still on its way counts).
    private func noteDrainProgress() {
        let drained = clients.isEmpty && executor.jobs.liveCount == 0 && !pools.contains { $0.owesReplies }
        if drained != drainedFlag.load(ordering: .relaxed) { drainedFlag.store(drained, ordering: .sequentiallyConsistent) }
    }

    /// A client closed: it leaves the list (the last one takes its place).
    func unregister(_ client: ClientConnection) {
        let index = client.registryIndex
        guard index >= 0, index < clients.count, clients[index] === client else { return }
        let last = clients.removeLast()
        if last !== client {
            clients[index] = last
            last.registryIndex = index
        }
        client.registryIndex = -1
    }

    // MARK: - New clients

    /// Called on the acceptor's thread.
    func hand(_ fd: Int32) {
        incoming.withLock { $0.append(fd) }
        var byte: UInt8 = 1
        _ = write(notifyPipe.write, &byte, 1)
    }

    private func adoptIncoming() {
        var drain = [UInt8](repeating: 0, count: 64)
        while read(notifyPipe.read, &drain, drain.count) > 0 {}
        adoptGeneration()
        if addressMoved.exchange(false, ordering: .sequentiallyConsistent) {
            for pool in pools { pool.setAsideMovedConnections() }
        }
        let fds = incoming.withLock { list -> [Int32] in
            let taken = list
            list.removeAll(keepingCapacity: true)
            return taken
        }
        for fd in fds {
            nextClientID &+= 1
            let client = ClientConnection(worker: self, id: nextClientID & Int.max, fd: fd)
            context.logger.debug("client \(client.id) connected (worker \(index), fd \(fd))")
            client.registryIndex = clients.count
            clients.append(client)
            client.start()
            // Accepted before the listeners closed: served if it sent a request.
            if isDraining { client.drainBegan() }
        }
        if !isDraining && drainRequested.load(ordering: .sequentiallyConsistent) { beginDrain() }
    }

    // MARK: - End of a loop pass

    /// Runs after each pass of the event loop: fails the backend connections
    /// that broke, writes what requests and replies produced (one write per
    /// connection per pass), and closes the clients that were aborted. Repeats
    /// while that work makes more (a failure can send a request to the backup).
    func finishIteration() {
        for _ in 0..<64 {
            if !failingBackends.isEmpty {
                swap(&failingBackends, &failingNow)
                for connection in failingNow { connection.runScheduledFailure() }
                failingNow.removeAll(keepingCapacity: true)
            }
            if !dirtyBackends.isEmpty {
                swap(&dirtyBackends, &flushingBackends)
                for connection in flushingBackends {
                    connection.isDirty = false
                    connection.flush()
                }
                flushingBackends.removeAll(keepingCapacity: true)
            }
            if !dirtyClients.isEmpty {
                swap(&dirtyClients, &flushingClients)
                for client in flushingClients {
                    client.isDirty = false
                    client.flush()
                }
                flushingClients.removeAll(keepingCapacity: true)
            }
            if !closingClients.isEmpty {
                swap(&closingClients, &closingNow)
                for client in closingNow { client.close() }
                closingNow.removeAll(keepingCapacity: true)
            }
            if !resumingClients.isEmpty {
                swap(&resumingClients, &resumingNow)
                for client in resumingNow { client.resumeAfterOrder() }
                resumingNow.removeAll(keepingCapacity: true)
            }
            if !retiringBackends.isEmpty {
                let retiring = retiringBackends
                retiringBackends.removeAll()
                for connection in retiring { connection.closeIfRetiredOrMovedAndIdle() }
            }
            if failingBackends.isEmpty && dirtyBackends.isEmpty && dirtyClients.isEmpty && closingClients.isEmpty
                && resumingClients.isEmpty { return }
        }
    }
}
