// A fixed row of event counters written by one thread and read by any: each
// increment is a relaxed load and store (no locked instruction, no lock).
import Synchronization

/// One writer thread per block: `add` is not safe from two threads at once
/// (an increment could be lost), `value` is safe from any thread.
public final class CounterBlock: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Atomic<Int>>
    public let count: Int

    public init(count: Int) {
        self.count = count
        slots = .allocate(capacity: Swift.max(count, 1))
        for index in 0..<count { (slots + index).initialize(to: Atomic<Int>(0)) }
    }

    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }

    /// Called only by the block's own thread.
    @inline(__always)
    public func add(_ index: Int, _ delta: Int = 1) {
        let slot = slots + index
        slot.pointee.store(slot.pointee.load(ordering: .relaxed) &+ delta, ordering: .relaxed)
    }

    @inline(__always)
    public func value(_ index: Int) -> Int { slots[index].load(ordering: .relaxed) }
}
