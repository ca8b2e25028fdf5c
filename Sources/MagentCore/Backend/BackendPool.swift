// One worker's connections to one server: at most -i of them, each carrying
// many requests at once. A reload that removes the server retires the pool:
// its connections close once they owe nothing; so do the connections to a
// server's old address when its host name resolves to a new one.

final class BackendPool {
    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    let server: BackendServer
    private var slots: [BackendConnection?]
    /// Connections to an address the server moved from, out of their slots:
    /// they finish what they owe and close (held here until then).
    private var moved: [BackendConnection] = []
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
        if let connection = slots[slot] {
            if connection.isUsable { return connection }
            if connection.hasMoved { setAside(connection) }
        }
        let connection = BackendConnection(worker: worker, server: server, slot: slot)
        slots[slot] = connection
        return connection
    }

    /// Closes the connections that owe nothing now; the others close when
    /// their last reply arrives (BackendConnection.updateIdleCount).
    func retire() {
        retired = true
        for connection in slots { connection?.closeIfRetiredOrMovedAndIdle() }
    }

    /// The server's address changed: connections to the old one leave their
    /// slots (new requests open new connections), idle ones close now.
    func setAsideMovedConnections() {
        for case let connection? in slots where connection.hasMoved { setAside(connection) }
    }

    private func setAside(_ connection: BackendConnection) {
        slots[connection.slot] = nil
        moved.append(connection)
        connection.closeIfRetiredOrMovedAndIdle()
    }

    /// Some connection here still owes a reply (a drain waits for it).
    var owesReplies: Bool { slots.contains { $0?.owesReplies ?? false } || moved.contains { $0.owesReplies } }

    /// A closed connection leaves its slot (or the set-aside list).
    func remove(_ connection: BackendConnection) {
        if slots[connection.slot] === connection {
            slots[connection.slot] = nil
        } else if let index = moved.firstIndex(where: { $0 === connection }) {
            moved.remove(at: index)
        }
    }
}
