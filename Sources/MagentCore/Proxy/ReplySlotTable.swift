// A worker's reply slots, recycled: a slot is named by a `SlotHandle`
// (index, generation) so that a job answering after its client went away
// finds the slot recycled and its bytes go nowhere.

final class ReplySlotTable {
    private var slots: [ReplySlot] = []
    private var free: [UInt32] = []

    init(reserve: Int = 256) {
        slots.reserveCapacity(reserve)
        free.reserveCapacity(reserve)
    }

    /// A fresh slot and its handle.
    func acquire() -> (SlotHandle, ReplySlot) {
        let index: UInt32
        if let reused = free.popLast() {
            index = reused
        } else {
            index = UInt32(slots.count)
            slots.append(ReplySlot())
        }
        let slot = slots[Int(index)]
        return (SlotHandle(index: index, generation: slot.generation), slot)
    }

    /// The slot `handle` names, or nil when it was recycled since (or is `.none`).
    @inline(__always)
    func slot(_ handle: SlotHandle) -> ReplySlot? {
        guard !handle.isNone else { return nil }
        let slot = slots[Int(handle.index)]
        return slot.generation == handle.generation ? slot : nil
    }

    /// Recycles the slot: every handle to it goes stale.
    func release(_ slot: ReplySlot, index: UInt32) {
        slot.reset()
        free.append(index)
    }

    func release(_ handle: SlotHandle) {
        guard let slot = slot(handle) else { return }
        release(slot, index: handle.index)
    }
}
