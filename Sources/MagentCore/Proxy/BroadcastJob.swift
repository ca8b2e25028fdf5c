// flush_all and verbosity: sent to every distinct server in use; the client
// hears OK only if every server said OK (a server that is down counts as a
// refusal).

struct BroadcastJob: Equatable, Sendable {
    /// Replies still expected.
    private(set) var outstanding: Int
    /// Servers that did not answer OK, or were not asked because they are down.
    private(set) var refusals: Int
    private(set) var isFinished = false

    /// `sent`: the servers the line goes to; `down`: those left out.
    init(sent: Int, down: Int) {
        outstanding = sent
        refusals = down
    }

    mutating func handle(_ event: JobEvent) -> JobActions {
        var actions = JobActions()
        switch event {
        case .start:
            if outstanding > 0 { actions.append(.send(.everyServer, to: .primary)) }
        case .line(_, let line, _):
            outstanding -= 1
            if line != .ok { refusals += 1 }
        case .failed:
            outstanding -= 1
            refusals += 1
        default:
            return actions
        }
        if outstanding == 0 && !isFinished {
            isFinished = true
            actions.append(.passBroadcastResult(allOK: refusals == 0))
            actions.append(.completeReply)
        }
        return actions
    }
}
