// Copies the proxy sends without waiting for the reply (a write's value set
// on the backup, a read-back copy, a restore's add, a delete): each is named
// here by a handle, so if its connection fails the key is kept as a write
// the server may have missed (the copy may still run there late, after newer
// writes) and the refiller gives it the other copy's state. Recycled slots,
// no allocation once warm. One per worker.

final class SilentWrites {
    private struct Entry {
        var server = -1
        let key = ByteBuffer()
        var generation: UInt32 = 0
    }

    private var entries: [Entry] = []
    private var free: [UInt32] = []

    init() {
        entries.reserveCapacity(64)
        free.reserveCapacity(64)
    }

    /// A handle for a silent write of `key` to `server`.
    func track(server: Int, key: UnsafeRawBufferPointer) -> JobHandle {
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
        } else {
            index = UInt32(entries.count)
            entries.append(Entry())
        }
        entries[Int(index)].server = server
        entries[Int(index)].key.clear()
        entries[Int(index)].key.append(key)
        return JobHandle.silentWrite(index, generation: entries[Int(index)].generation)
    }

    /// The write was answered (or failed): its slot is freed. On failure,
    /// `missed` is given the server and key first.
    func finish(_ handle: JobHandle, failed: Bool, missed: (Int, UnsafeRawBufferPointer) -> Void) {
        guard let index = handle.silentWriteIndex, Int(index) < entries.count,
              entries[Int(index)].generation == handle.generation else { return }
        if failed { missed(entries[Int(index)].server, entries[Int(index)].key.readableBytes) }
        entries[Int(index)].generation &+= 1
        free.append(index)
    }

    /// Copies not yet answered.
    var pendingCount: Int { entries.count - free.count }
}
