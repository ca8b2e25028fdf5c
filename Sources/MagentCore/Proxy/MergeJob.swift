// A get whose keys live on several servers: each server's share arrives in
// its own time; once every share is in, the VALUE blocks go out in the order
// the client asked for its keys (memcached's order), which clients such as
// memcaslap rely on.

struct MergeJob: Equatable, Sendable {
    /// Shares still incomplete.
    private(set) var sharesPending: Int
    private(set) var isFinished = false

    init(shares: Int) { sharesPending = shares }

    mutating func handle(_ event: JobEvent) -> JobActions {
        guard case .shareCompleted = event, !isFinished else { return JobActions() }
        sharesPending -= 1
        guard sharesPending == 0 else { return JobActions() }
        isFinished = true
        return JobActions(.assembleMerge, .completeReply)
    }
}
