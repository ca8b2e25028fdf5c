// A fixed row of counters in one allocation, read by any thread. Counters
// with one writer thread increment with a relaxed load and store (no locked
// instruction, no lock); counters any thread changes (kept keys per server)
// use `addFromAnyThread`, an atomic add.
import Synchronization

/// `add` is for a block's one writer thread (from two at once an increment
/// could be lost); `addFromAnyThread` and `value` are safe from any thread.
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

    /// Safe from any thread (an atomic add).
    @inline(__always)
    public func addFromAnyThread(_ index: Int, _ delta: Int) {
        precondition(index >= 0 && index < count)
        slots[index].wrappingAdd(delta, ordering: .relaxed)
    }

    @inline(__always)
    public func value(_ index: Int) -> Int {
        precondition(index >= 0 && index < count)
        return slots[index].load(ordering: .relaxed)
    }
}
