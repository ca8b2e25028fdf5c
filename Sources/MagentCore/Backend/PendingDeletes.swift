// Deletes a server missed while it was unreachable, kept until it is back,
// so a deleted key never returns through a stale copy. Bounded per server.
import Synchronization

public final class PendingDeletes: Sendable {
    /// Keys kept per server; past this, deletes are dropped and counted.
    public let limitPerServer: Int
    private let keys: Mutex<[Set<[UInt8]>]>
    /// Deletes dropped because a server's list was full.
    public let overflows = Counter()

    init(servers: Int, limitPerServer: Int = 100_000) {
        self.limitPerServer = limitPerServer
        keys = Mutex(Array(repeating: [], count: servers))
    }

    func add(server: Int, key: UnsafeRawBufferPointer) {
        let stored = keys.withLock { lists -> Bool in
            guard lists[server].count < limitPerServer else { return false }
            lists[server].insert(Array(key))
            return true
        }
        if !stored { overflows.add(1) }
    }

    func contains(server: Int, key: UnsafeRawBufferPointer) -> Bool {
        keys.withLock { lists in lists[server].isEmpty ? false : lists[server].contains(Array(key)) }
    }

    func count(server: Int) -> Int { keys.withLock { $0[server].count } }

    /// The keys to delete on `server`, which are forgotten here once `apply` succeeds for each.
    func keys(for server: Int) -> [[UInt8]] { keys.withLock { Array($0[server]) } }

    func remove(server: Int, key: [UInt8]) { _ = keys.withLock { $0[server].remove(key) } }
}
