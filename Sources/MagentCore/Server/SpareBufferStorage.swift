// A worker's spare buffer memory: client connections hand their input and
// output storage back here when it empties and borrow it again for the next
// reply, so large replies do not cost a malloc and a run of reallocs each.

import Glibc

/// At most `limit` regions of at most `largestKept` bytes are kept; anything
/// else is freed. Idle connections therefore hold no buffer memory, and the
/// busy ones reuse what the last busy one grew.
final class SpareBufferStorage {
    private var regions: [(pointer: UnsafeMutableRawPointer, capacity: Int)] = []
    let limit: Int
    let largestKept: Int

    init(limit: Int = 64, largestKept: Int = 64 * 1024) {
        self.limit = limit
        self.largestKept = largestKept
        regions.reserveCapacity(limit)
    }

    deinit {
        for region in regions { free(region.pointer) }
    }

    var count: Int { regions.count }

    /// Takes the memory of an emptied buffer (freed if the pool is full or the
    /// region too large); the buffer is left without storage.
    func reclaim(_ buffer: ByteBuffer) {
        guard buffer.isEmpty, buffer.capacity > 0 else { return }
        if regions.count < limit && buffer.capacity <= largestKept, let region = buffer.surrenderStorage() {
            regions.append(region)
        } else {
            buffer.releaseStorage()
        }
    }

    /// Gives a buffer without storage the most recently reclaimed region.
    func lend(to buffer: ByteBuffer) {
        guard buffer.capacity == 0, let region = regions.popLast() else { return }
        buffer.adoptStorage(region.pointer, capacity: region.capacity)
    }
}
