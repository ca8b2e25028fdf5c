// Which servers missed a flush_all broadcast: one that did not take it (down,
// failed, timed out, or answered anything but OK) is kept out of use until
// it takes it, but only once some server did take it. When none did, every
// copy is as it was, and nothing is marked (a flush_all every server refuses,
// memcached -F or a bad argument, must not take every server out of use).

struct FlushBroadcast: Equatable, Sendable {
    /// What to mark after one server's outcome.
    enum Marking: Equatable, Sendable {
        case nothing
        /// This server missed the flush.
        case this
        /// Every server in `waiting` missed it (then `forgetWaiting`).
        case waiting
    }

    /// Some server answered OK.
    private(set) var taken = false
    /// Servers that did not take it, before any server did.
    private(set) var waiting: [Int32] = []

    mutating func outcome(server: Int, took: Bool) -> Marking {
        if took {
            guard !taken else { return .nothing }
            taken = true
            return waiting.isEmpty ? .nothing : .waiting
        }
        if taken { return .this }
        waiting.append(Int32(server))
        return .nothing
    }

    mutating func forgetWaiting() {
        if !waiting.isEmpty { waiting.removeAll(keepingCapacity: true) }
    }

    /// Ready for the next broadcast, keeping capacity.
    mutating func reset() {
        taken = false
        forgetWaiting()
    }
}
