// The keys the refiller is copying to a recovering server right now. Between
// its `add` and its check that the source still has each key, a key a client
// deleted meanwhile may sit on the server for a moment: reads of these keys
// go to the other copy until the batch is done.

public final class KeysBeingCopied: Sendable {
    private let batches: ThreadLock<[Set<[UInt8]>]>
    /// Keys published per server, readable without the lock (a read looks
    /// here first only while its primary recovers).
    private let counts: CounterBlock

    init(servers: Int) {
        batches = ThreadLock(Array(repeating: [], count: servers))
        counts = CounterBlock(count: servers)
    }

    /// The refiller starts copying `keys` to `server`.
    func publish(_ keys: [[UInt8]], server: Int) {
        batches.withLock { $0[server] = Set(keys) }
        counts.addFromAnyThread(server, keys.count - counts.value(server))
    }

    /// The batch for `server` is stored and checked.
    func clear(server: Int) {
        guard counts.value(server) > 0 else { return }
        batches.withLock { $0[server] = [] }
        counts.addFromAnyThread(server, -counts.value(server))
    }

    func contains(server: Int, key: UnsafeRawBufferPointer) -> Bool {
        guard counts.value(server) > 0 else { return false }
        return batches.withLock { $0[server].contains(Array(key)) }
    }
}
