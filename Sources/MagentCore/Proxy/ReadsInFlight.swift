// The reads one client has in flight, by key, while a backup exists: a read
// its primary fails is asked of the backup later, after the client's next
// requests went out. A write of the same key sent meanwhile would reach the
// backup first, and the read would see the write that came after it (or miss
// a key the write deleted). So a later write of a key a read still waits for
// waits too, until that read's reply slot has left.

struct ReadsInFlight: Equatable {
    private struct Entry: Equatable {
        var keyHash: UInt32
        var slot: SlotHandle
    }

    private var entries: [Entry] = []

    var isEmpty: Bool { entries.isEmpty }

    /// A read of `key` answered in `slot` went out.
    mutating func add(key: UnsafeRawBufferPointer, slot: SlotHandle) {
        entries.append(Entry(keyHash: OrderingHolds.hash(key), slot: slot))
    }

    /// Whether a read of `key` is still in flight (a hash collision only makes a write wait).
    func contains(key: UnsafeRawBufferPointer) -> Bool {
        guard !entries.isEmpty else { return false }
        let hash = OrderingHolds.hash(key)
        return entries.contains { $0.keyHash == hash }
    }

    /// `slot` left for the client: its reads are over. Returns whether any were.
    mutating func slotLeft(_ slot: SlotHandle) -> Bool {
        let before = entries.count
        entries.removeAll { $0.slot == slot }
        return entries.count != before
    }

    mutating func removeAll() { entries.removeAll() }
}
