// Where a backend server is now: the socket address its host name last
// resolved to, shared by every thread, and a generation that moves each time
// that address changes (a connection made before a move is not reused).
import Synchronization

public final class ResolvedAddress: Sendable {
    private let current: ThreadLock<SocketAddress>
    /// Bumped after each change, under the lock; read without it on the request path.
    private let changes = Atomic<Int>(0)

    init(_ address: SocketAddress) { current = ThreadLock(address) }

    /// The address to connect to now.
    var address: SocketAddress { current.withLock { $0 } }

    /// How many times the address changed; a connection keeps the value it
    /// connected with and is stale once it differs.
    var generation: Int { changes.load(ordering: .acquiring) }

    /// The address and the generation it belongs to, read together.
    func snapshot() -> (address: SocketAddress, generation: Int) {
        current.withLock { ($0, changes.load(ordering: .relaxed)) }
    }

    /// What a new lookup of the name found (in the resolver's order): the
    /// current address stays while it is one of them, so a name with several
    /// addresses in a rotating order does not move on every lookup; otherwise
    /// the first is stored and the generation bumped. Returns the address it
    /// replaced, or nil when unchanged.
    func update(toOneOf addresses: [SocketAddress]) -> SocketAddress? {
        current.withLock { stored in
            guard let first = addresses.first, !addresses.contains(where: { $0.sameAddress(as: stored) }) else { return nil }
            let previous = stored
            stored = first
            changes.add(1, ordering: .sequentiallyConsistent)
            return previous
        }
    }
}
