// Start-up and shutdown: resolve servers, bind listeners, drop privileges, go
// to the background, start the workers, then serve until SIGTERM or SIGUSR2
// (a drain, see Shutdown) or SIGINT (at once); SIGHUP reloads the
// configuration file and looks the servers' host names up again. Every start-up error is reported before the process detaches.
import CEventShim
import CLibEvent
import Glibc

public enum ProxyServer {
    /// Runs the proxy; returns the process exit status. `reload`, when the
    /// configuration came with a file, reads it again on SIGHUP.
    public static func run(_ configuration: Configuration, reload: ConfigurationSource? = nil) -> Int32 {
        magent_ignore_sigpipe()
        // SIGTERM, SIGINT, SIGUSR2 and SIGHUP stay blocked until the event loop handles
        // them: one arriving while the proxy starts (its port may already
        // accept) waits instead of killing it. Every thread started meanwhile
        // inherits the mask, so only the main thread's loop ever sees them.
        _ = magent_block_termination_signals(1)
        let registry = ServerRegistry()
        switch prepare(configuration, registry: registry) {
        case .failure(let error):
            writeStderr("magent: \(error.description)\n")
            return 1
        case .success(let (topology, listeners, unixPath, metricsListener)):
            // After the privilege drop: the journal is the running user's to rewrite.
            var journal: (KeptKeysJournal, KeptKeysReplay)? = nil
            if let directory = configuration.stateDirectory {
                switch KeptKeysJournal.open(directory: directory) {
                case .failure(let error):
                    writeStderr("magent: \(error.description)\n")
                    if let unixPath { unlink(unixPath) }
                    return 1
                case .success(let opened): journal = opened
                }
            }
            if !configuration.foreground && magent_daemonize() != 0 {
                writeStderr("magent: cannot go to the background: \(errorText(errno))\n")
                return 1
            }
            let context = ProxyContext(configuration: configuration,
                                       generation: ProxyGeneration(number: 0, configuration: configuration, topology: topology))
            context.pendingDeletes.nameServers(topology.known)
            if let (journal, replay) = journal { restore(replay, into: journal, context: context) }
            if let metricsListener { MetricsServer(context: context, listener: metricsListener).start() }
            serve(context: context, registry: registry, listeners: listeners, unixPath: unixPath, reload: reload)
            context.logger.info("magent stopped")
            return 0
        }
    }

    private static func prepare(_ configuration: Configuration, registry: ServerRegistry) -> Result<(ServerTopology, [Int32], String?, Int32?), StartupError> {
        let topology: ServerTopology
        switch registry.topology(for: configuration) {
        case .failure(let error): return .failure(error)
        case .success(let resolved): topology = resolved
        }
        var listeners: [Int32] = []
        if configuration.port != 0 {
            let address: SocketAddress
            switch SocketAddress.resolve(host: configuration.bindAddress, port: configuration.port, passive: true) {
            case .failure(let error): return .failure(StartupError("bad listen address -l \(configuration.bindAddress): \(error.description)"))
            case .success(let resolved): address = resolved
            }
            switch address.listen(reuseAddress: true) {
            case .failure(let error):
                return .failure(StartupError("cannot listen on \(configuration.bindAddress):\(configuration.port): \(errorText(error.code))"))
            case .success(let fd): listeners.append(fd)
            }
        }
        var unixPath: String? = nil
        if let path = configuration.unixSocketPath {
            let absolute = path.hasPrefix("/") ? path : currentDirectory() + "/" + path
            var status = stat()
            if lstat(absolute, &status) == 0 {
                guard (status.st_mode & S_IFMT) == S_IFSOCK else {
                    return .failure(StartupError("\(path) exists and is not a socket; not removing it"))
                }
                unlink(absolute)
            }
            guard let address = SocketAddress.unix(path: absolute) else {
                return .failure(StartupError("unix socket path too long: \(path)"))
            }
            switch address.listen(reuseAddress: false) {
            case .failure(let error): return .failure(StartupError("cannot listen on unix socket \(path): \(errorText(error.code))"))
            case .success(let fd): listeners.append(fd)
            }
            chmod(absolute, 0o644)
            unixPath = absolute
        }
        var metricsListener: Int32? = nil
        if let port = configuration.metricsPort {
            switch listenForMetrics(configuration.metricsAddress ?? configuration.bindAddress, port: port) {
            case .failure(let error):
                if let unixPath { unlink(unixPath) }
                return .failure(error)
            case .success(let fd): metricsListener = fd
            }
        }
        if case .failure(let error) = PrivilegeDrop.apply(user: configuration.user, group: configuration.group) {
            if let unixPath { unlink(unixPath) }
            return .failure(error)
        }
        return .success((topology, listeners, unixPath, metricsListener))
    }

    /// Takes what the journal kept from the last run and writes to it from now on.
    private static func restore(_ replay: KeptKeysReplay, into journal: KeptKeysJournal, context: ProxyContext) {
        let log = context.logger
        if replay.foreign {
            log.error("\(journal.path) was not a kept-keys journal: moved aside to \(journal.path).unreadable, starting empty")
        }
        if replay.damagedLines > 0 { log.error("\(journal.path): \(replay.damagedLines) damaged lines skipped") }
        if replay.tornLastLine { log.notice("\(journal.path): its last line was cut short (a crash while writing it); skipped") }
        let (restored, dropped, overflowed) = context.pendingDeletes.attach(journal, replay: replay, logger: log)
        let topology = context.generation.topology
        for id in overflowed {
            topology.known[id].health.markKeptKeysOverflowed()
            log.notice("\(topology.describe(topology.known[id])): missed more keys than its list holds; flushed and refilled before use")
        }
        journal.startSyncing()
        if let failure = journal.failure { log.error("kept-keys journal off: \(failure)") }
        log.notice("\(journal.path): \(restored) keys kept for their servers restored"
                   + (dropped > 0 ? ", \(dropped) dropped (servers no longer configured, or past the limit)" : ""))
    }

    /// Runs until the shutdown ends the loop (SIGTERM, SIGUSR2, SIGINT).
    private static func serve(context: ProxyContext, registry: ServerRegistry, listeners: [Int32], unixPath: String?,
                              reload: ConfigurationSource?) {
        let workers = (0..<context.configuration.threads).map { Worker(index: $0, context: context) }
        workers.forEach { $0.start() }

        guard let base = event_base_new() else {
            context.logger.error("event_base_new failed")
            listeners.forEach { close($0) }
            if let unixPath { unlink(unixPath) }
            return
        }
        let acceptor = Acceptor(context: context, base: base, workers: workers)
        listeners.forEach { acceptor.listen(on: $0) }
        let resolver = ServerResolver(context: context, workers: workers)
        let monitor = HealthMonitor(context: context, base: base, resolver: resolver)
        monitor.start()
        let refiller = ServerRefiller(context: context)
        refiller.start()
        let shutdown = Shutdown(context: context, base: base, acceptor: acceptor, workers: workers, unixPath: unixPath)
        var signalEvents = shutdown.listenForSignals()
        let reloader = ConfigurationReloader(context: context, registry: registry, workers: workers,
                                             resolver: resolver, source: reload)
        if let event = event_new(base, SIGHUP, Int16(EV_SIGNAL | EV_PERSIST), { _, _, reloader in
            Unmanaged<ConfigurationReloader>.fromOpaque(reloader!).takeUnretainedValue().reload()
        }, Unmanaged.passUnretained(reloader).toOpaque()) {
            event_add(event, nil)
            signalEvents.append(event)
        }
        // Handled from here on (a signal that came during start-up is delivered now).
        _ = magent_block_termination_signals(0)
        let topology = context.generation.topology
        context.logger.info("\(MagentVersion.banner) listening: \(listenDescription(context.configuration)); " +
                            "\(topology.primaryCount) servers, \(topology.backupCount) backups, \(workers.count) threads")
        event_base_dispatch(base)
        acceptor.stopListening()
        shutdown.removeUnixSocket()
        withExtendedLifetime((acceptor, monitor, resolver, refiller, workers, reloader, shutdown, signalEvents)) {}
    }

    /// The --metrics-port listener, bound before privileges are dropped.
    private static func listenForMetrics(_ host: String, port: Int) -> Result<Int32, StartupError> {
        switch SocketAddress.resolve(host: host, port: port, passive: true) {
        case .failure(let error):
            return .failure(StartupError("bad metrics address \(host): \(error.description)"))
        case .success(let address):
            switch address.listen(reuseAddress: true) {
            case .failure(let error): return .failure(StartupError("cannot listen on \(host):\(port) for metrics: \(errorText(error.code))"))
            case .success(let fd): return .success(fd)
            }
        }
    }

    private static func listenDescription(_ configuration: Configuration) -> String {
        var parts: [String] = []
        if configuration.port != 0 { parts.append("\(configuration.bindAddress):\(configuration.port)") }
        if let path = configuration.unixSocketPath { parts.append(path) }
        if let port = configuration.metricsPort { parts.append("metrics http://\(configuration.metricsAddress ?? configuration.bindAddress):\(port)/metrics") }
        return parts.joined(separator: ", ")
    }

    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func writeStderr(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }
}
