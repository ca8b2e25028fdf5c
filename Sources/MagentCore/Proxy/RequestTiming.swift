// Which reply slot times a client request: the request's latency runs from
// when it was parsed until its last reply slot leaves for the client.

struct RequestTiming {
    /// When the request was parsed; 0 while no request is being forwarded.
    var parsedAt: UInt64 = 0
    var family = RequestFamily.other
    /// The newest slot the request enqueued, which carries the timing;
    /// `.none` when it enqueued none, or that slot left while the request
    /// was still being forwarded (it was answered at once).
    var lastSlot = SlotHandle.none

    /// The request enqueued `slot`: it carries the timing now, and an
    /// earlier slot of the same request (a multi-get's share, before its
    /// END) no longer does.
    mutating func stamp(_ slot: ReplySlot, _ handle: SlotHandle, slots: ReplySlotTable) {
        if !lastSlot.isNone, let earlier = slots.slot(lastSlot) { earlier.requestStart = 0 }
        slot.requestStart = parsedAt
        slot.requestFamily = family
        lastSlot = handle
    }
}
