// A fixed row of integers any thread may add to and read, in one allocation:
// reading one is an indexed relaxed load (no array of objects to retain, as
// a `[Counter]` costs on every access from the request path).
import Synchronization

public final class AtomicCounterRow: @unchecked Sendable {
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

    /// Safe from any thread (an atomic add).
    @inline(__always)
    public func add(_ index: Int, _ delta: Int) {
        precondition(index >= 0 && index < count)
        slots[index].wrappingAdd(delta, ordering: .relaxed)
    }

    @inline(__always)
    public func value(_ index: Int) -> Int {
        precondition(index >= 0 && index < count)
        return slots[index].load(ordering: .relaxed)
    }
}
