// The primaries and backups with their key placements: which server holds a
// key, which one keeps its copy, and who hears a broadcast. Immutable; a
// reload builds a new one and each thread adopts it between requests.

/// Where a key lives: server ids (see ServerRegistry).
public struct Route: Sendable, Equatable {
    public var primary: Int
    /// -1 when there is no backup (none configured, or it is the primary itself).
    public var backup: Int
    /// The (primary, backup) pair's index below `ServerTopology.groupCount`,
    /// for splitting a multi-get by pair.
    public var group = 0

    public var hasBackup: Bool { backup >= 0 }
}

public final class ServerTopology: Sendable {
    /// -s, in order.
    public let primaries: [BackendServer]
    /// -b, in order.
    public let backups: [BackendServer]
    /// Every server known since start-up, by id, including servers a reload
    /// removed: requests forwarded before the reload still finish on them.
    public let known: [BackendServer]
    private let primaryPlacement: KeyPlacement
    private let backupPlacement: KeyPlacement?
    /// One server per distinct address, for flush_all and verbosity.
    public let broadcastTargets: [Int]
    /// Each server id's position in its list, -1 when not in this topology.
    private let listIndexes: [Int]

    init(primaries: [BackendServer], backups: [BackendServer], known: [BackendServer], placement: PlacementMode) {
        self.primaries = primaries
        self.backups = backups
        self.known = known
        primaryPlacement = KeyPlacement(mode: placement, serverNames: primaries.map { $0.address.ketamaName })
        backupPlacement = backups.isEmpty ? nil : KeyPlacement(mode: placement, serverNames: backups.map { $0.address.ketamaName })
        var seen = Set<ServerAddress>()
        broadcastTargets = (primaries + backups).filter { seen.insert($0.address).inserted }.map { $0.id }
        var indexes = Array(repeating: -1, count: known.count)
        for (index, server) in primaries.enumerated() { indexes[server.id] = index }
        for (index, server) in backups.enumerated() { indexes[server.id] = index }
        listIndexes = indexes
    }

    public var primaryCount: Int { primaries.count }
    public var backupCount: Int { backups.count }
    /// Primaries, then backups.
    public var members: [BackendServer] { primaries + backups }
    /// The number of distinct (primary, backup) pairs a route can name.
    public var groupCount: Int { primaries.count * (backups.count + 1) }

    /// Whether `server` is one of this topology's primaries or backups.
    public func contains(_ server: BackendServer) -> Bool { server.id < listIndexes.count && listIndexes[server.id] >= 0 }

    /// "memcached host:port (primary 2)", or "(removed)" for a server a reload took out.
    public func describe(_ server: BackendServer) -> String {
        guard contains(server) else { return "memcached \(server.address.displayName) (removed)" }
        return "memcached \(server.address.displayName) (\(server.role == .primary ? "primary" : "backup") \(listIndexes[server.id] + 1))"
    }

    /// The key's primary and backup.
    public func route(for key: UnsafeRawBufferPointer) -> Route {
        let primaryIndex = primaryPlacement.serverIndex(for: key)
        let primary = primaries[primaryIndex]
        let noBackup = Route(primary: primary.id, backup: -1, group: primaryIndex * (backups.count + 1))
        guard let backupPlacement else { return noBackup }
        let backupIndex = backupPlacement.serverIndex(for: key)
        let backup = backups[backupIndex]
        if backup.address == primary.address { return noBackup }
        return Route(primary: primary.id, backup: backup.id, group: primaryIndex * (backups.count + 1) + backupIndex + 1)
    }
}
