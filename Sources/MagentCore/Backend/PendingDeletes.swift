// Deletes a server missed while it was unreachable, kept until it is back,
// so a deleted key never returns through a stale copy. Bounded per server.

public final class PendingDeletes: Sendable {
    /// Keys kept per server; past this, deletes are dropped and counted.
    public let limitPerServer: Int
    private let keys: ThreadLock<[Set<[UInt8]>]>
    /// Keys kept per server, readable without the lock (the request path
    /// looks here first, so a server with nothing kept costs one load).
    private let counts: [Counter]
    /// Deletes dropped because a server's list was full.
    public let overflows = Counter()

    init(servers: Int, limitPerServer: Int = 100_000) {
        self.limitPerServer = limitPerServer
        keys = ThreadLock(Array(repeating: [], count: servers))
        counts = (0..<servers).map { _ in Counter() }
    }

    func add(server: Int, key: UnsafeRawBufferPointer) {
        let stored = keys.withLock { lists -> Bool in
            guard lists[server].count < limitPerServer else { return false }
            if lists[server].insert(Array(key)).inserted { counts[server].add(1) }
            return true
        }
        if !stored { overflows.add(1) }
    }

    func contains(server: Int, key: UnsafeRawBufferPointer) -> Bool {
        guard counts[server].current > 0 else { return false }
        return keys.withLock { lists in lists[server].contains(Array(key)) }
    }

    func count(server: Int) -> Int { counts[server].current }

    /// The keys to delete on `server`, which are forgotten here once each is applied.
    func keys(for server: Int) -> [[UInt8]] { keys.withLock { Array($0[server]) } }

    func remove(server: Int, key: [UInt8]) {
        keys.withLock { lists in
            if lists[server].remove(key) != nil { counts[server].add(-1) }
        }
    }

    /// A newer write reached `server`: a delete kept for it must not undo it.
    func forget(server: Int, key: UnsafeRawBufferPointer) {
        guard counts[server].current > 0 else { return }
        remove(server: server, key: Array(key))
    }
}
