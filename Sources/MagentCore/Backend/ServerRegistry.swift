// Every backend server the proxy has been configured with since it started,
// each with an id that never changes or gets reused: a reload keeps the
// server objects (health, connections, counters) of the addresses it keeps.
// Used by the main thread only.

final class ServerRegistry {
    /// Ids are indexes into fixed per-server tables (counters, kept deletes,
    /// monitor state), so the number of distinct servers over the process's
    /// life is bounded; a reload past it is refused.
    static let capacity = 1024

    /// Identifies a server across configurations: its list, its address as
    /// typed, and which occurrence of that address in its list it is.
    private struct Key: Hashable {
        var role: ServerRole
        var address: ServerAddress
        var occurrence: Int
    }

    private(set) var servers: [BackendServer] = []
    private var ids: [Key: Int] = [:]

    /// The servers of `configuration` (existing ones reused, new ones
    /// resolved) as a topology. Fails on an address that does not resolve,
    /// or past `capacity`; nothing is registered then.
    func topology(for configuration: Configuration) -> Result<ServerTopology, StartupError> {
        var resolved: [(Key, BackendServer?, SocketAddress?)] = []
        var added = 0
        for (role, list) in [(ServerRole.primary, configuration.primaries), (.backup, configuration.backups)] {
            var seen: [ServerAddress: Int] = [:]
            for address in list {
                let key = Key(role: role, address: address, occurrence: seen[address, default: 0])
                seen[address, default: 0] += 1
                if let id = ids[key] {
                    resolved.append((key, servers[id], nil))
                    continue
                }
                switch SocketAddress.resolve(host: address.resolvableHost, port: address.port) {
                case .failure(let error):
                    return .failure(error)
                case .success(let socketAddress):
                    resolved.append((key, nil, socketAddress))
                    added += 1
                }
            }
        }
        guard servers.count + added <= Self.capacity else {
            return .failure(StartupError("more than \(Self.capacity) distinct servers since start-up; restart magent"))
        }
        var primaries: [BackendServer] = []
        var backups: [BackendServer] = []
        for (key, existing, socketAddress) in resolved {
            let server: BackendServer
            if let existing {
                server = existing
            } else {
                server = BackendServer(id: servers.count, role: key.role, address: key.address,
                                       socketAddress: socketAddress!, failureLimit: configuration.failureLimit)
                ids[key] = server.id
                servers.append(server)
            }
            if key.role == .primary { primaries.append(server) } else { backups.append(server) }
        }
        return .success(ServerTopology(primaries: primaries, backups: backups, known: servers, placement: configuration.placement))
    }
}
