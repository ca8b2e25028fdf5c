// How a pending backend reply, a client's value capture or a merge share
// names the job it belongs to: a table index and the generation it had, so an
// event for a job that has finished and been recycled can be recognised.

/// A job's place in its worker's `JobTable` and the generation it had when
/// the handle was made. A handle outlives nothing: once the job finishes,
/// every handle to it is stale and the table drops (and counts) what arrives.
struct JobHandle: Equatable, Sendable {
    var index: UInt32
    var generation: UInt32

    /// For requests whose reply nobody waits for (write-backs, copies to the
    /// backup): the reply is read and dropped, by design, uncounted.
    static let detached = JobHandle(index: .max, generation: 0)

    /// Detached, or a silent write (`SilentWrites`): no job record.
    var isDetached: Bool { index >= Self.silentWriteBase }

    /// Silent writes tracked by `SilentWrites` use the top half of the index range.
    private static let silentWriteBase: UInt32 = 0x8000_0000

    static func silentWrite(_ index: UInt32, generation: UInt32) -> JobHandle {
        JobHandle(index: silentWriteBase + index, generation: generation)
    }

    /// The `SilentWrites` slot this handle names, if it is one.
    var silentWriteIndex: UInt32? {
        index >= Self.silentWriteBase && index != .max ? index - Self.silentWriteBase : nil
    }
}
