// One memcached server from -s or -b: where it is, how it is named, and its
// shared health. Every worker keeps its own connections to it.

public enum ServerRole: UInt8, Sendable {
    case primary
    case backup
}

public final class BackendServer: Sendable {
    /// Position in the topology's `servers` (primaries first, then backups).
    public let id: Int
    /// Position in its own list (-s or -b), as `stats` and placement count.
    public let listIndex: Int
    public let role: ServerRole
    public let address: ServerAddress
    let socketAddress: SocketAddress
    public let health: ServerHealth

    init(id: Int, listIndex: Int, role: ServerRole, address: ServerAddress, socketAddress: SocketAddress, failureLimit: Int) {
        self.id = id
        self.listIndex = listIndex
        self.role = role
        self.address = address
        self.socketAddress = socketAddress
        self.health = ServerHealth(failureLimit: failureLimit)
    }
}
