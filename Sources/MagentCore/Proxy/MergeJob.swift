// A request answered from several servers' shares, each arriving in its own
// time: once every share is in, the reply is assembled. A get's VALUE blocks
// go out in the order the client asked for its keys (memcached's order),
// which clients such as memcaslap rely on; memcached-format `stats` sums the
// primaries' STAT lines.

struct MergeJob: Equatable, Sendable {
    /// What the shares are put together into.
    enum Assembly: UInt8, Equatable, Sendable {
        /// A get's VALUE blocks, in key order.
        case items
        /// Plain `stats` under `stats-format = memcached`: one share per primary.
        case statsTotals
    }

    /// Shares still incomplete.
    private(set) var sharesPending: Int
    private(set) var isFinished = false
    let assembly: Assembly

    init(shares: Int, assembly: Assembly = .items) {
        sharesPending = shares
        self.assembly = assembly
    }

    mutating func handle(_ event: JobEvent) -> JobActions {
        guard case .shareCompleted = event, !isFinished else { return JobActions() }
        sharesPending -= 1
        guard sharesPending == 0 else { return JobActions() }
        isFinished = true
        return JobActions(assembly == .items ? .assembleMerge : .assembleStatsTotals, .completeReply)
    }
}
