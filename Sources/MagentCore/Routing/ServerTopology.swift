// The primaries and backups with their key placements: which server holds a
// key, which one keeps its copy, and who hears a broadcast.

/// Where a key lives: ids into `ServerTopology.servers`.
public struct Route: Sendable, Equatable {
    public var primary: Int
    /// -1 when there is no backup (none configured, or it is the primary itself).
    public var backup: Int

    public var hasBackup: Bool { backup >= 0 }
}

public final class ServerTopology: Sendable {
    /// Primaries (ids 0..<primaryCount) then backups.
    public let servers: [BackendServer]
    public let primaryCount: Int
    public let backupCount: Int
    private let primaryPlacement: KeyPlacement
    private let backupPlacement: KeyPlacement?
    /// One server per distinct address, for flush_all and verbosity.
    public let broadcastTargets: [Int]

    init(servers: [BackendServer], placement: PlacementMode) {
        self.servers = servers
        let primaries = servers.filter { $0.role == .primary }
        let backups = servers.filter { $0.role == .backup }
        primaryCount = primaries.count
        backupCount = backups.count
        primaryPlacement = KeyPlacement(mode: placement, serverNames: primaries.map { $0.address.ketamaName })
        backupPlacement = backups.isEmpty ? nil : KeyPlacement(mode: placement, serverNames: backups.map { $0.address.ketamaName })
        var seen = Set<ServerAddress>()
        broadcastTargets = servers.filter { seen.insert($0.address).inserted }.map { $0.id }
    }

    /// Resolves every address; fails on the first that does not resolve.
    public static func resolve(_ configuration: Configuration) -> Result<ServerTopology, StartupError> {
        var servers: [BackendServer] = []
        for (role, list) in [(ServerRole.primary, configuration.primaries), (.backup, configuration.backups)] {
            for (listIndex, address) in list.enumerated() {
                switch SocketAddress.resolve(host: address.resolvableHost, port: address.port) {
                case .failure(let error):
                    return .failure(error)
                case .success(let socketAddress):
                    servers.append(BackendServer(id: servers.count, listIndex: listIndex, role: role, address: address,
                                                 socketAddress: socketAddress, failureLimit: configuration.failureLimit))
                }
            }
        }
        return .success(ServerTopology(servers: servers, placement: configuration.placement))
    }

    /// The key's primary and backup.
    public func route(for key: UnsafeRawBufferPointer) -> Route {
        let primary = primaryPlacement.serverIndex(for: key)
        guard let backupPlacement else { return Route(primary: primary, backup: -1) }
        let backup = primaryCount + backupPlacement.serverIndex(for: key)
        if servers[backup].address == servers[primary].address { return Route(primary: primary, backup: -1) }
        return Route(primary: primary, backup: backup)
    }
}
