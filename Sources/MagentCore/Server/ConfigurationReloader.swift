// SIGHUP: reads the configuration file again (with the same command line over
// it), builds the new generation on the main thread, publishes it and tells
// every worker. An invalid file is logged and changes nothing; settings that
// need a restart are logged and kept as they are. Whatever the file did, the
// host names of the servers kept are looked up again (ServerResolver).

/// Reads the configuration again: the command line over the -c file.
public typealias ConfigurationSource = @Sendable () -> CommandLineOutcome

final class ConfigurationReloader {
    private let context: ProxyContext
    private let registry: ServerRegistry
    private let workers: [Worker]
    private let resolver: ServerResolver
    private let source: ConfigurationSource?

    init(context: ProxyContext, registry: ServerRegistry, workers: [Worker], resolver: ServerResolver,
         source: ConfigurationSource?) {
        self.context = context
        self.registry = registry
        self.workers = workers
        self.resolver = resolver
        self.source = source
    }

    private var log: Logger { context.logger }

    /// SIGHUP: the file, then the host names of the servers in use that were
    /// known before it (kept, or added back after a reload removed them; new
    /// ones were looked up just now). This runs even when the server lists did
    /// not change and the topology was kept.
    func reload() {
        let knownBefore = context.generation.topology.known.count
        reloadFile()
        let topology = context.generation.topology
        resolver.resolveNow(topology.members.filter { $0.id < knownBefore }, in: topology)
    }

    private func reloadFile() {
        guard let source, let path = context.configuration.configurationFile else {
            let names = context.generation.topology.members.contains { $0.address.isHostName }
            log.notice("SIGHUP: no configuration file (-c), nothing to reload" + (names ? "; host names looked up again" : ""))
            return
        }
        let read: Configuration
        switch source() {
        case .exit(_, let message):
            let text = message.hasSuffix("\n") ? String(message.dropLast()) : message
            log.error("reload of \(path) failed, the running configuration stays: \(text)")
            return
        case .run(let configuration):
            read = configuration
        }
        let running = context.generation
        var next = read
        var ignored: [String] = []
        for setting in ConfigurationSetting.allCases where setting.needsRestart {
            let before = setting.describe(running.configuration)
            let after = setting.describe(read)
            if before != after { ignored.append("\(setting.fileName) \(before) -> \(after)") }
        }
        Self.keepRestartSettings(of: running.configuration, in: &next)

        let topology: ServerTopology
        let sameServers = next.primaries == running.configuration.primaries && next.backups == running.configuration.backups
            && next.placement == running.configuration.placement
        if sameServers {
            topology = running.topology
        } else {
            switch registry.topology(for: next) {
            case .failure(let error):
                log.error("reload of \(path) failed, the running configuration stays: \(error.description)")
                return
            case .success(let built):
                topology = built
            }
            context.pendingDeletes.nameServers(topology.known)
        }
        let changed = ConfigurationSetting.allCases.filter { !$0.needsRestart }.compactMap { setting -> String? in
            let before = setting.describe(running.configuration)
            let after = setting.describe(next)
            return before == after ? nil : "\(setting.fileName) \(before) -> \(after)"
        }

        // Health first, so no request routed to a new server finds it unset.
        for server in topology.known { server.health.setFailureLimit(next.failureLimit) }
        for server in topology.members where !running.topology.contains(server) {
            // Keys now placed on it are still on their backup (or it held
            // stale copies while it was out): it is refilled like a restarted server.
            if topology.contains(server) && (server.role == .primary ? !topology.backups.isEmpty : !topology.primaries.isEmpty) {
                server.health.markRecovering()
            }
        }
        log.update(level: next.logLevel, syslog: next.syslog)
        context.publish(ProxyGeneration(number: running.number + 1, configuration: next, topology: topology))
        workers.forEach { $0.generationPublished() }

        if !ignored.isEmpty {
            log.notice("reload of \(path): needs a restart, not applied: " + ignored.joined(separator: "; "))
        }
        log.notice("reloaded \(path): \(topology.primaryCount) servers, \(topology.backupCount) backups; "
                   + (changed.isEmpty ? "nothing changed" : "changed: " + changed.joined(separator: "; ")))
    }

    /// Puts back what cannot change while the proxy runs.
    static func keepRestartSettings(of running: Configuration, in next: inout Configuration) {
        next.port = running.port
        next.bindAddress = running.bindAddress
        next.unixSocketPath = running.unixSocketPath
        next.maxConnections = running.maxConnections
        next.threads = running.threads
        next.user = running.user
        next.group = running.group
        next.foreground = running.foreground
        next.connectionsPerServer = running.connectionsPerServer
        next.metricsPort = running.metricsPort
        next.metricsAddress = running.metricsAddress
        next.clientTimeoutMilliseconds = running.clientTimeoutMilliseconds
        next.maxValueSize = running.maxValueSize
        next.stateDirectory = running.stateDirectory
        next.keptKeysLimit = running.keptKeysLimit
        next.configurationFile = running.configurationFile
    }
}
