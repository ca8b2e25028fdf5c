// One worker's connections to one server: at most -i of them, each carrying
// many requests at once. A reload that removes the server retires the pool:
// its connections close once they owe nothing.

final class BackendPool {
    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    let server: BackendServer
    private var slots: [BackendConnection?]
    /// The server is not in the worker's topology any more.
    var retired = false

    init(worker: Worker, server: BackendServer, size: Int) {
        self.worker = worker
        self.server = server
        slots = Array(repeating: nil, count: size)
    }

    /// Clients sharing one connection before the next one is opened: shared
    /// connections carry many clients' requests in each write and read, which
    /// costs far fewer system calls than a connection per client.
    static let clientsPerConnection = 64

    /// The connection a client's requests to this server use. A client always
    /// gets the same slot, so its requests reach the server in the order it
    /// sent them, as on a direct connection.
    func connection(forClient clientID: Int) -> BackendConnection {
        let slot = (clientID / Self.clientsPerConnection) % slots.count
        if let connection = slots[slot], connection.isUsable { return connection }
        let connection = BackendConnection(worker: worker, server: server, slot: slot)
        slots[slot] = connection
        return connection
    }

    /// Closes the connections that owe nothing now; the others close when
    /// their last reply arrives (BackendConnection.updateIdleCount).
    func retire() {
        retired = true
        for connection in slots { connection?.closeIfRetiredAndIdle() }
    }

    /// Some connection here still owes a reply (a drain waits for it).
    var owesReplies: Bool { slots.contains { $0?.owesReplies ?? false } }

    /// A closed connection leaves its slot.
    func remove(_ connection: BackendConnection) {
        if slots[connection.slot] === connection { slots[connection.slot] = nil }
    }
}
