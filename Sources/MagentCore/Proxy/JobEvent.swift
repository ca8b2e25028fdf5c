// Everything that can happen to a job: its start, a piece of a backend's
// reply (a value, a line, a STAT line), a backend failure, the client
// finishing (or abandoning) a value the job keeps, a merge share completing.
// The executor turns socket activity into these; the jobs' decisions are
// functions of them.

enum JobEvent: Equatable, Sendable {
    /// The job was created; its first requests are to be sent.
    case start(RouteStatus)
    /// A VALUE or VA line from the server in `role`; its value bytes follow.
    /// `keptDelete`: the key has a delete kept for that server (it was away
    /// when the key was deleted), so what it holds is not to be believed.
    /// Only computed for jobs that ask (`checksKeptDeletes`).
    case itemStarted(ServerRole, keptDelete: Bool)
    /// Bytes of the current value; `endsItem` when they end it.
    case itemBytes(ServerRole, endsItem: Bool)
    /// A reply is over: END of a retrieval, EN of a proxy's own meta get, or
    /// the end of a meta reply's value.
    case ended(ServerRole, RouteStatus)
    /// A one-line reply.
    case line(ServerRole, ReplyLine, RouteStatus)
    /// A STAT line of a `stats` reply (END comes as `ended`).
    case statLine(ServerRole)
    /// The request got no reply (connection failed, timed out, value abandoned).
    /// `replyStarted`: some of the client's reply already left the proxy, so
    /// it can no longer be answered afresh.
    case failed(ServerRole, BackendFailure, RouteStatus, replyStarted: Bool)
    /// The client finished the value this job keeps a copy of.
    case valueCaptured
    /// The client went away in the middle of that value: it is never sent.
    case valueAbandoned
    /// One share of a merge completed.
    case shareCompleted
}

extension JobEvent {
    /// The servers' state carried by the event, if it carries one.
    var routeStatus: RouteStatus? {
        switch self {
        case .start(let status), .ended(_, let status), .line(_, _, let status), .failed(_, _, let status, _): return status
        case .itemStarted, .itemBytes, .statLine, .valueCaptured, .valueAbandoned, .shareCompleted: return nil
        }
    }
}
