// Later requests of one client that must wait for an earlier one: a write on
// a recovering primary waits while its key is restored from the backup, and
// a request of the same connection on that key must not overtake it (the
// client would read the state before its own write). Holds are per job and
// per key; the client stops reading requests that touch a held key until the
// job is done.

/// One job's hold on one client's key.
struct OrderingHold {
    var job: JobHandle
    var keyHash: UInt32
    /// Unowned: a client drops its holds when it closes (`dropAll`).
    unowned(unsafe) var client: ClientConnection
}

final class OrderingHolds {
    private var entries: [OrderingHold] = []

    init() { entries.reserveCapacity(16) }

    var isEmpty: Bool { entries.isEmpty }

    /// `job` holds the later requests of `client` on `key`.
    func add(job: JobHandle, key: UnsafeRawBufferPointer, client: ClientConnection) {
        entries.append(OrderingHold(job: job, keyHash: Self.hash(key), client: client))
        client.orderingHolds += 1
    }

    /// The job is done: its holds go, and clients that waited on them go on.
    func release(job: JobHandle) {
        var index = 0
        while index < entries.count {
            guard entries[index].job == job else {
                index += 1
                continue
            }
            let client = entries[index].client
            entries.swapAt(index, entries.count - 1)
            entries.removeLast()
            client.orderingHolds -= 1
            client.orderMayResume()
        }
    }

    /// `child` (a job `job` started to finish its work: the read-back that
    /// copies a write to the backup) holds what `job` holds, until it is done too.
    func inherit(child: JobHandle, from job: JobHandle) {
        for index in entries.indices where entries[index].job == job {
            var held = entries[index]
            held.job = child
            entries.append(held)
            held.client.orderingHolds += 1
        }
    }

    /// Whether a request of `client` on `key` must wait.
    func blocks(_ client: ClientConnection, key: UnsafeRawBufferPointer) -> Bool {
        let hash = Self.hash(key)
        for entry in entries where entry.client === client && entry.keyHash == hash { return true }
        return false
    }

    /// The client went away: nothing waits on its holds any more.
    func dropAll(of client: ClientConnection) {
        entries.removeAll { $0.client === client }
        client.orderingHolds = 0
    }

    /// The key's placement hash: equal keys hash equal; a collision only makes a request wait.
    static func hash(_ key: UnsafeRawBufferPointer) -> UInt32 { DJBHash.hash(key) }
}
