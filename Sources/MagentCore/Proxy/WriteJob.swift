// A keyed write, text, meta or binary alike: set and plain deletes go to the
// primary and the backup at once; a write that depends on the stored item
// goes to the primary first and reaches the backup as the primary's result.
// The client hears the primary's reply, else the backup's, else an error.

struct WriteJob: Equatable, Sendable {
    /// How the backup gets a write the primary applied first.
    enum Replication: Equatable, Sendable {
        /// add, replace, cas: the kept value, as a set.
        case keptValueAsSet
        /// append, prepend, incr, decr, touch and the meta writes: the item
        /// read back from the primary, as a set (or a delete if it is gone).
        case readBack
    }

    enum Strategy: Equatable, Sendable {
        /// Both servers at once (set, delete, plain ms and md).
        case parallel
        /// The primary first; the backup then gets its result.
        case primaryFirst(Replication)
    }

    /// Where one server stands with this write.
    enum Leg: UInt8, Equatable, Sendable {
        case unused, pending, replied, failed
        /// Not sent yet: waits for the key's restore, or for the client's
        /// value to be complete.
        case held
    }

    enum State: Equatable, Sendable {
        case idle
        /// The primary may lack the key (it recovers): its copy is restored
        /// from the backup before the write goes to the primary.
        case restoring(KeyRestore)
        case writing
    }

    let strategy: Strategy
    /// A delete (text delete, md): a server that misses it gets it kept.
    let isDelete: Bool
    /// A store (text writes but delete, ms, ma): a delete kept for a server
    /// that takes it is forgotten (the key is written again there).
    let forgetsDeleteOnSuccess: Bool
    /// The client is still to send the value (a text data block). A binary
    /// request's value came with it and is kept from the start.
    let valueFollows: Bool

    private(set) var state = State.idle
    private(set) var primary = Leg.unused
    private(set) var backup = Leg.unused
    /// The client has heard its reply (or nobody waits for one).
    private(set) var resolved = false
    /// A copy of the value is still arriving from the client.
    private(set) var capturing = false
    private var lastFailure = BackendFailure.unavailable
    /// Delete: the backup said DELETED (its line is kept while the primary's is awaited).
    private var backupDeleted = false
    /// Delete: the primary said NOT_FOUND while the backup's copy counts; its
    /// line is kept until the backup says whether it deleted the key.
    private var primaryNotFoundKept = false

    init(strategy: Strategy, isDelete: Bool, forgetsDeleteOnSuccess: Bool, valueFollows: Bool) {
        self.strategy = strategy
        self.isDelete = isDelete
        self.forgetsDeleteOnSuccess = forgetsDeleteOnSuccess
        self.valueFollows = valueFollows
    }

    private var primaryFirst: Bool { strategy != .parallel }

    var isFinished: Bool {
        resolved && !capturing && primary != .pending && primary != .held
            && backup != .pending && backup != .held && !checksKeptDeletes
    }

    /// While the key is restored, the backup's VA line must be checked for a
    /// kept delete (a key deleted while the backup was away is not restored).
    var checksKeptDeletes: Bool { isRestoring }

    private var isRestoring: Bool {
        switch state {
        case .restoring: return true
        case .idle, .writing: return false
        }
    }

    mutating func handle(_ event: JobEvent) -> JobActions {
        var actions = JobActions()
        switch (state, event) {
        case (.idle, .start(let status)):
            start(status, into: &actions)

        case (.restoring(var restore), _):
            if restore.handle(event, into: &actions), let status = event.routeStatus {
                restore.finish(status, into: &actions)
                state = .writing
                if status.primaryUp {
                    sendToPrimaryWhenValueComplete(into: &actions)
                } else {
                    // The primary went down meanwhile: never sent there, so the
                    // backup takes the write instead.
                    keepMissed(.primary, status, into: &actions)
                    primaryNotReached(status, into: &actions)
                }
            } else {
                state = .restoring(restore)
                handleValueEvent(event, into: &actions)
            }

        case (.writing, .itemStarted), (.writing, .itemBytes):
            // ma with v: the number comes as a value.
            if !resolved { actions.append(.pass) }

        case (.writing, .ended(let role, let status)):
            succeeded(role, into: &actions)
            replied(role, into: &actions)
            // A reply with a value (ma with v) has passed already: the copy follows it.
            if !resolved {
                resolved = true
                actions.append(.completeReply)
            }
            if role == .primary { replicate(status, into: &actions) }

        case (.writing, .line(let role, let line, let status)):
            if line == .success { succeeded(role, into: &actions) }
            replied(role, into: &actions)
            if isDelete && !resolved && decidedDelete(role, line, status, into: &actions) {
                break
            }
            if role == .primary {
                // Kept, not passed, while the read-back decides what the client hears.
                let handsOver = line == .success && !resolved && readsBack(status)
                if !resolved {
                    resolved = true
                    actions.append(handsOver ? .keepReply : .pass)
                    if !handsOver { actions.append(.completeReply) }
                }
                if line == .success { replicate(status, answersClient: handsOver, into: &actions) }
            } else if primary == .pending || primary == .replied || primary == .held {
                // Both were asked: the primary's reply is the one the client hears.
                if !resolved { actions.append(.keepReply) }
                resolve(into: &actions)
            } else if !resolved {
                resolved = true
                actions.append(.pass)
                actions.append(.completeReply)
            }

        case (.writing, .failed(let role, let reason, let status, _)):
            lastFailure = reason
            if role == .primary { primary = .failed } else { backup = .failed }
            // Not reached, or not known to be: what that server holds may be older.
            keepMissed(role, status, into: &actions)
            if !resolved { actions.append(.dropOpenItem) }
            if role == .backup && primaryNotFoundKept && !resolved {
                // The backup cannot say it deleted the key: the primary's NOT_FOUND stands.
                resolved = true
                actions.append(.passKeptReply)
                actions.append(.completeReply)
            } else if role == .primary && reason.requestWasNotSent {
                primaryNotReached(status, into: &actions)
            } else {
                resolve(into: &actions)
            }

        case (.writing, .valueCaptured), (.writing, .valueAbandoned):
            handleValueEvent(event, into: &actions)

        default:
            break  // nothing else can reach a write in this state
        }
        return actions
    }

    private mutating func start(_ status: RouteStatus, into actions: inout JobActions) {
        state = .writing
        if status.primaryUp {
            // A write that depends on the stored item, on a recovering primary:
            // the key is restored from the backup before the write is sent.
            let restoreFirst = status.backupUsable && primaryFirst && status.primaryRecovering
            if restoreFirst {
                primary = .held
            } else {
                primary = .pending
                actions.append(.send(.request, to: .primary))
            }
            // Kept for the backup: for a copy once the primary applied it, for
            // the backup alone if the primary cannot be reached, or for the
            // primary after the restore.
            if status.hasBackup && primaryFirst && valueFollows {
                capturing = true
                actions.append(.captureValue)
            }
            if restoreFirst {
                state = .restoring(KeyRestore())
                actions.append(.send(.lookupKey, to: .backup))
            }
        }
        if status.backupUsable && (!status.primaryUp || !primaryFirst) {
            if !status.primaryUp { actions.append(.count(.writesToBackup)) }
            backup = .pending
            actions.append(.send(.request, to: .backup))
        }
        // A server away misses this request: kept for when it is back.
        if !status.primaryUp { keepMissed(.primary, status, into: &actions) }
        if status.hasBackup && !status.backupUp { keepMissed(.backup, status, into: &actions) }
        if !status.primaryUp && !status.backupUsable {
            resolved = true
            actions.append(.passFailure(.unavailable))
            actions.append(.completeReply)
        }
    }

    /// The write never reached the primary, so it was not applied there: the
    /// backup takes it instead (a parallel write has it already).
    private mutating func primaryNotReached(_ status: RouteStatus, into actions: inout JobActions) {
        if primary == .held { primary = .failed }
        guard primaryFirst && backup == .unused && status.backupUsable else {
            resolve(into: &actions)
            return
        }
        actions.append(.count(.writesToBackup))
        if capturing {
            backup = .held
        } else {
            backup = .pending
            actions.append(.send(.keptRequest, to: .backup))
        }
    }

    /// A delete's reply while the backup's copy counts (the primary recovers,
    /// resyncs, or --miss-failover): the key existed if either copy had it, so
    /// DELETED from the backup wins over the primary's NOT_FOUND (a restarted
    /// primary lacks keys the backup keeps). Returns false when the usual rule
    /// (the primary's reply) decides.
    private mutating func decidedDelete(_ role: ServerRole, _ line: ReplyLine, _ status: RouteStatus,
                                        into actions: inout JobActions) -> Bool {
        if role == .backup {
            if line == .success { backupDeleted = true }
            guard primaryNotFoundKept else { return false }
            // The primary said NOT_FOUND: the backup's DELETED, else the primary's line.
            resolved = true
            actions.append(line == .success ? .pass : .passKeptReply)
            actions.append(.completeReply)
            return true
        }
        guard line == .refused && status.backupCopyCounts && status.hasBackup else { return false }
        if backupDeleted {
            resolved = true
            actions.append(.passKeptReply)
            actions.append(.completeReply)
            return true
        }
        guard backup == .pending else { return false }
        primaryNotFoundKept = true
        actions.append(.keepReply)
        return true
    }

    /// The server in `role` missed this request (or may have): a delete is
    /// kept for it; a write too, when there is another copy to give it later.
    private func keepMissed(_ role: ServerRole, _ status: RouteStatus, into actions: inout JobActions) {
        if isDelete {
            actions.append(.keepDelete(role))
        } else if status.hasBackup {
            actions.append(.keepMissedWrite(role))
        }
    }

    /// The client finished (or abandoned) the value this job keeps.
    private mutating func handleValueEvent(_ event: JobEvent, into actions: inout JobActions) {
        switch event {
        case .valueCaptured:
            capturing = false
            if backup == .held {
                backup = .pending
                actions.append(.send(.keptRequest, to: .backup))
            }
            if primary == .held && state == .writing {
                primary = .pending
                actions.append(.send(.keptRequest, to: .primary))
            }
        case .valueAbandoned:
            // The value is incomplete: what waited for it is never sent.
            capturing = false
            lastFailure = .uploadStalled
            if backup == .held { backup = .failed }
            if primary == .held { primary = .failed }
            if state == .writing { resolve(into: &actions) }
        default:
            break
        }
    }

    /// After a restore: the write goes to the primary once its value is whole.
    private mutating func sendToPrimaryWhenValueComplete(into actions: inout JobActions) {
        if capturing {
            primary = .held
        } else if primary == .held {
            primary = .pending
            actions.append(.send(.keptRequest, to: .primary))
        } else {
            resolve(into: &actions)  // the value was abandoned during the restore
        }
    }

    private mutating func replied(_ role: ServerRole, into actions: inout JobActions) {
        if role == .primary { primary = .replied } else { backup = .replied }
    }

    /// Written again: a delete kept for this server must not undo it.
    private func succeeded(_ role: ServerRole, into actions: inout JobActions) {
        if forgetsDeleteOnSuccess { actions.append(.keptKeyWritten(role)) }
    }

    /// The backup gets the primary's result by a read-back (the backup is
    /// in use and this write was not sent to it).
    private func readsBack(_ status: RouteStatus) -> Bool {
        guard case .primaryFirst(.readBack) = strategy else { return false }
        return backup == .unused && status.backupUsable
    }

    /// Once the primary applied a write the backup must not repeat blindly,
    /// the backup gets the primary's result. A read-back that `answersClient`
    /// completes the client's reply: it is not acknowledged while the only
    /// copy of the write is on the primary.
    private mutating func replicate(_ status: RouteStatus, answersClient: Bool = false, into actions: inout JobActions) {
        guard case .primaryFirst(let replication) = strategy, backup == .unused, status.hasBackup else { return }
        guard status.backupUp else {
            actions.append(.keepMissedWrite(.backup))  // the backup is away: it misses the copy
            return
        }
        switch replication {
        case .keptValueAsSet:
            // Written there now: a delete kept for the backup must not undo it.
            actions.append(.keptKeyWritten(.backup))
            actions.append(.send(.keptValueAsSet, to: .backup))
        case .readBack:
            actions.append(.startReplication(answersClient: answersClient))
        }
    }

    /// The primary's reply if it comes; the backup's if the primary is not
    /// there; an error if neither.
    private mutating func resolve(into actions: inout JobActions) {
        guard !resolved else { return }
        switch primary {
        case .pending, .replied, .held:
            return
        case .unused, .failed:
            switch backup {
            case .pending, .held:
                return
            case .replied:
                actions.append(.passKeptReply)
            case .unused, .failed:
                actions.append(.passFailure(lastFailure))
            }
            resolved = true
            actions.append(.completeReply)
        }
    }
}
