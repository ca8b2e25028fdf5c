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

    var isDetached: Bool { index == .max }
}
