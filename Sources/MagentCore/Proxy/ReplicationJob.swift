// Copies a key from the primary to the backup after a write the backup
// cannot simply repeat (append, incr, touch, the meta writes, mg with T):
// the item is read back on the write's own connection (so after the write)
// and set on the backup, or deleted there when the primary no longer has it.
// After a write it answers the client: the primary's reply is kept until the
// copy is sent, and becomes an error if the read-back fails.

struct ReplicationJob: Equatable, Sendable {
    enum State: UInt8, Equatable, Sendable {
        case idle, reading, done
    }

    private(set) var state = State.idle
    /// The primary returned the item (its copy is being kept).
    private(set) var found = false
    /// It holds the write's reply (see `JobAction.startReplication`).
    let answersClient: Bool

    init(answersClient: Bool = false) { self.answersClient = answersClient }

    var isFinished: Bool { state == .done }

    mutating func handle(_ event: JobEvent) -> JobActions {
        var actions = JobActions()
        switch (state, event) {
        case (.idle, .start):
            state = .reading
            actions.append(.send(.lookupKey, to: .primary))
        case (.reading, .itemStarted):
            found = true
            actions.append(.keepCopy(.set))
        case (.reading, .itemBytes):
            actions.append(.keepCopy(.set))
        case (.reading, .ended(_, let status)):
            state = .done
            if status.backupUsable {
                // Written or deleted there now: a delete kept for the backup is
                // forgotten (the copy is the newer state) or stays true.
                if found { actions.append(.keptKeyWritten(.backup)) }
                actions.append(.send(found ? .keptCopy : .deleteKey, to: .backup))
            } else if status.hasBackup {
                // The backup is away: it must not bring back the key the primary
                // lost, nor serve its older value.
                actions.append(found ? .keepMissedWrite(.backup) : .keepDelete(.backup))
            }
            if answersClient {
                actions.append(.passKeptReply)
                actions.append(.completeReply)
            }
        case (.reading, .line(_, _, let status)):
            // The primary could not say: the backup's copy may be older.
            state = .done
            if status.hasBackup { actions.append(.keepMissedWrite(.backup)) }
            if answersClient { failClient(.protocolError, into: &actions) }
        case (.reading, .failed(_, let reason, let status, _)):
            state = .done
            if status.hasBackup { actions.append(.keepMissedWrite(.backup)) }
            if answersClient { failClient(reason, into: &actions) }
        default:
            break
        }
        return actions
    }

    /// The write may be gone with the primary and is not on the backup: the
    /// client hears an error instead of the primary's reply.
    private func failClient(_ reason: BackendFailure, into actions: inout JobActions) {
        actions.append(.passFailure(reason))
        actions.append(.completeReply)
    }
}
