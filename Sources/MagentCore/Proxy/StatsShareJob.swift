// One primary's share of memcached-format `stats`: the server's own `stats`
// reply, its STAT lines kept in the share's slot for the merge to sum; a
// server down, failing or answering an error leaves the slot empty.

struct StatsShareJob: Equatable, Sendable {
    private(set) var isFinished = false

    mutating func handle(_ event: JobEvent) -> JobActions {
        guard !isFinished else { return JobActions() }
        switch event {
        case .start(let status):
            if status.primaryUp { return JobActions(.send(.stats, to: .primary)) }
            // Marked down: not asked, and left out of the sums.
            isFinished = true
            return JobActions(.completeReply)
        case .statLine(.primary):
            return JobActions(.pass)
        case .ended(.primary, _):
            isFinished = true
            return JobActions(.completeReply)
        case .line(.primary, _, _), .failed(.primary, _, _, _):
            // An error line, or no whole reply: none of it is summed.
            isFinished = true
            return JobActions(.restartReply, .completeReply)
        default:
            return JobActions()  // a share asks its primary only; items and client events are not its
        }
    }
}
