// A first-in first-out queue over a power-of-two circular array: the pending
// replies of a backend connection and the reply order of a client connection.

/// Never shifts elements (no `removeFirst()`); grows by doubling and keeps its
/// capacity, so steady-state appends and pops do not allocate.
public struct RingBuffer<Element> {
    private var slots: [Element?]
    private var head = 0
    public private(set) var count = 0

    public init(initialCapacity: Int = 16) {
        var capacity = 1
        while capacity < Swift.max(initialCapacity, 2) { capacity <<= 1 }
        slots = Array(repeating: nil, count: capacity)
    }

    public var isEmpty: Bool { count == 0 }
    private var mask: Int { slots.count - 1 }

    public var first: Element? { count == 0 ? nil : slots[head] }

    public subscript(offset: Int) -> Element {
        get { slots[(head + offset) & mask]! }
        set { slots[(head + offset) & mask] = newValue }
    }

    public mutating func append(_ element: Element) {
        if count == slots.count { grow() }
        slots[(head + count) & mask] = element
        count += 1
    }

    @discardableResult
    public mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = slots[head]
        slots[head] = nil
        head = (head + 1) & mask
        count -= 1
        return element
    }

    /// Changes the oldest element in place.
    public mutating func modifyFirst(_ body: (inout Element) -> Void) {
        precondition(count > 0)
        body(&slots[head]!)
    }

    private mutating func grow() {
        var larger: [Element?] = Array(repeating: nil, count: slots.count * 2)
        for offset in 0..<count { larger[offset] = slots[(head + offset) & mask] }
        slots = larger
        head = 0
    }
}
