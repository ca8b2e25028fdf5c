// Keys a server missed while it was unreachable or failing: a delete, or a
// write (its copy there is older than the other copy). Kept until the server
// is reachable again, so a deleted key never returns and an old value is
// never served through a stale copy. Bounded per server.

public final class PendingDeletes: Sendable {
    /// Keys kept per server; past this, entries are dropped and counted.
    public let limitPerServer: Int
    /// Per server: key → whether the missed request was a write (else a delete).
    private let keys: ThreadLock<[[[UInt8]: Bool]]>
    /// Keys kept per server, readable without the lock (the request path
    /// looks here first, so a server with nothing kept costs one load), and
    /// how many of them are missed writes.
    private let counts: [Counter]
    private let writeCounts: [Counter]
    /// Entries dropped because a server's list was full.
    public let overflows = Counter()

    init(servers: Int, limitPerServer: Int = 100_000) {
        self.limitPerServer = limitPerServer
        keys = ThreadLock(Array(repeating: [:], count: servers))
        counts = (0..<servers).map { _ in Counter() }
        writeCounts = (0..<servers).map { _ in Counter() }
    }

    /// `server` missed a delete (`missedWrite` false) or a write of `key`; the
    /// latest one it missed is what is kept.
    func add(server: Int, key: UnsafeRawBufferPointer, missedWrite: Bool = false) {
        let stored = keys.withLock { lists -> Bool in
            let owned = Array(key)
            if let kept = lists[server][owned] {
                // The latest request it missed decides what it must be given.
                if kept != missedWrite {
                    lists[server][owned] = missedWrite
                    writeCounts[server].add(missedWrite ? 1 : -1)
                }
                return true
            }
            guard lists[server].count < limitPerServer else { return false }
            lists[server][owned] = missedWrite
            counts[server].add(1)
            if missedWrite { writeCounts[server].add(1) }
            return true
        }
        if !stored { overflows.add(1) }
    }

    func contains(server: Int, key: UnsafeRawBufferPointer) -> Bool {
        guard counts[server].current > 0 else { return false }
        return keys.withLock { lists in lists[server][Array(key)] != nil }
    }

    /// Whether `key` is kept for `server` as a missed write; nil when not kept.
    func missedWrite(server: Int, key: [UInt8]) -> Bool? {
        guard counts[server].current > 0 else { return nil }
        return keys.withLock { lists in lists[server][key] }
    }

    /// Every key kept for `server`.
    func count(server: Int) -> Int { counts[server].current }

    /// Kept deletes and kept missed writes, apart (for stats).
    func deleteCount(server: Int) -> Int { counts[server].current - writeCounts[server].current }

    func missedWriteCount(server: Int) -> Int { writeCounts[server].current }

    /// The keys kept for `server`, which are forgotten here once each is applied.
    func keys(for server: Int) -> [[UInt8]] { keys.withLock { Array($0[server].keys) } }

    func remove(server: Int, key: [UInt8]) {
        keys.withLock { lists in
            guard let missedWrite = lists[server].removeValue(forKey: key) else { return }
            counts[server].add(-1)
            if missedWrite { writeCounts[server].add(-1) }
        }
    }

    /// A newer write reached `server`: what was kept for it must not undo it.
    func forget(server: Int, key: UnsafeRawBufferPointer) {
        guard counts[server].current > 0 else { return }
        remove(server: server, key: Array(key))
    }
}
