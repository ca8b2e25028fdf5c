// How a job names the reply slot it answers into: a table index and the
// generation the slot had, so a reply for a slot recycled since (its client
// went away, or its merge finished) is dropped, never delivered to another.

struct SlotHandle: Equatable, Sendable {
    var index: UInt32
    var generation: UInt32

    /// A job with nobody to answer (noreply, internal requests).
    static let none = SlotHandle(index: .max, generation: 0)

    var isNone: Bool { index == .max }
}
