// flush_all broadcasts as the refill sees them: how many began, how many are
// still in flight. A refill batch read from one copy and stored in the other
// while a flush ran may have copied what the flush dropped; it is undone then.
import Synchronization

final class FlushActivity: Sendable {
    private let started = Atomic<Int>(0)
    private let inFlight = Atomic<Int>(0)

    /// What a look at the flushes saw.
    struct Snapshot: Equatable, Sendable {
        var started: Int
        var inFlight: Int
    }

    func begin() {
        inFlight.wrappingAdd(1, ordering: .sequentiallyConsistent)
        started.wrappingAdd(1, ordering: .sequentiallyConsistent)
    }

    func end() { inFlight.wrappingSubtract(1, ordering: .sequentiallyConsistent) }

    var snapshot: Snapshot {
        Snapshot(started: started.load(ordering: .sequentiallyConsistent), inFlight: inFlight.load(ordering: .sequentiallyConsistent))
    }

    /// Whether a flush may have run between two looks: one began, or one was
    /// in flight at either (begun before the first look, it may have reached
    /// the servers after it).
    static func mayHaveRun(between before: Snapshot, and after: Snapshot) -> Bool {
        before.started != after.started || before.inFlight > 0 || after.inFlight > 0
    }
}
