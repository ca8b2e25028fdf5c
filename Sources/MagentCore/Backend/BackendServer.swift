// One memcached server from -s or -b: where it is, how it is named, and its
// shared health. Every worker keeps its own connections to it. A server keeps
// its id for the life of the process, through reloads (see ServerRegistry);
// its socket address may change when its host name is resolved again.

public enum ServerRole: UInt8, Sendable {
    case primary
    case backup
}

public final class BackendServer: Sendable {
    /// Its index in every per-server table; never reused.
    public let id: Int
    public let role: ServerRole
    public let address: ServerAddress
    /// Where its host name resolves now (see ServerResolver).
    let resolved: ResolvedAddress
    public let health: ServerHealth

    /// The address connections open to now.
    var socketAddress: SocketAddress { resolved.address }

    init(id: Int, role: ServerRole, address: ServerAddress, socketAddress: SocketAddress, failureLimit: Int) {
        self.id = id
        self.role = role
        self.address = address
        self.resolved = ResolvedAddress(socketAddress)
        self.health = ServerHealth(failureLimit: failureLimit)
    }
}
