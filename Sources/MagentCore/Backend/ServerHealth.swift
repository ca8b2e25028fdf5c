// Whether a backend server is in use: consecutive failures mark it down, and
// only the health monitor's probe marks it up again. Shared by all threads.
import Synchronization

public final class ServerHealth: Sendable {
    private let down = Atomic<Bool>(false)
    private let consecutiveFailures = Atomic<Int>(0)
    let failureLimit: Int

    init(failureLimit: Int) { self.failureLimit = failureLimit }

    public var isUp: Bool { !down.load(ordering: .relaxed) }

    /// A reply arrived: the failure streak ends (no write when there is none).
    func recordSuccess() {
        if consecutiveFailures.load(ordering: .relaxed) != 0 { consecutiveFailures.store(0, ordering: .relaxed) }
    }

    /// A connect, reply or timeout failed. Returns true for the one call that
    /// marks the server down.
    func recordFailure() -> Bool {
        let failures = consecutiveFailures.wrappingAdd(1, ordering: .relaxed).newValue
        guard failures >= failureLimit else { return false }
        return down.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged
    }

    /// The probe got an answer. Returns true if the server was down.
    func markUp() -> Bool {
        consecutiveFailures.store(0, ordering: .relaxed)
        return down.compareExchange(expected: true, desired: false, ordering: .relaxed).exchanged
    }
}
