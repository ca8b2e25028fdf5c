// A read: one server's share of get/gets/gat/gats (VALUE blocks, no END), or
// a meta read (mg, me, and the binary gets translated into mg). The primary
// answers; the backup when the primary is down or fails before any byte of
// the reply left; keys a recovering primary lacks are asked of the backup.

struct RetrievalJob: Equatable, Sendable {
    enum Kind: Equatable, Sendable {
        /// A classic retrieval share. `missFailoverAllowed`: get or gets
        /// (a miss may be asked of the backup); `singleMetaSafeKey`: one key
        /// that can be written as a meta key token, so the share may travel
        /// as `mg` to a server that answers meta gets.
        case share(missFailoverAllowed: Bool, singleMetaSafeKey: Bool, keyCount: Int)
        /// A client's meta read. `replicatesOnHit`: mg with T (the backup gets
        /// the touched item); `missFailoverAllowed`: mg without N.
        case metaRead(replicatesOnHit: Bool, missFailoverAllowed: Bool)
    }

    enum State: Equatable, Sendable {
        case idle
        /// Waiting for `role`; `metaKeysLeft` > 0 when the share went as meta gets.
        case asking(ServerRole, metaKeysLeft: Int)
        /// A meta read missed on a recovering primary: the key is being
        /// restored from the backup, then the primary is asked again.
        case restoring(KeyRestore)
        case done
    }

    let kind: Kind
    private(set) var state = State.idle
    /// Share: VALUE lines from the primary are checked for skipped keys.
    private(set) var missFailover = false
    /// Meta read: asked again after a restore; that answer is final.
    private var retried = false

    init(_ kind: Kind) { self.kind = kind }

    var isFinished: Bool { state == .done }

    /// The backup's VA lines must be checked for kept deletes (a restore).
    var checksKeptDeletes: Bool {
        if case .restoring = state { return true }
        return false
    }

    mutating func handle(_ event: JobEvent) -> JobActions {
        var actions = JobActions()
        switch (state, event) {
        case (.idle, .start(let status)):
            if status.primaryUp && !((status.primaryResyncing || status.primaryCopyStale) && status.backupUsable) {
                if case .share(let allowed, _, _) = kind {
                    missFailover = allowed && status.hasBackup && (status.missFailoverAlways || status.primaryRecovering)
                }
                ask(.primary, status, into: &actions)
            } else if status.backupUsable {
                ask(.backup, status, into: &actions)
            } else {
                if case .metaRead = kind { actions.append(.passFailure(.unavailable)) }
                finish(into: &actions)
            }

        case (.asking(_, let keysLeft), .itemStarted(let role, _)):
            if case .share = kind {
                actions.append(.count(.getHits))
                if missFailover && role == .primary { actions.append(.noteAnswered) }
                actions.append(keysLeft > 0 ? .passAsValue : .pass)
            } else {
                actions.append(.pass)
            }

        case (.asking, .itemBytes):
            actions.append(.pass)

        case (.asking(let role, let keysLeft), .ended(_, let status)):
            switch kind {
            case .share:
                if keysLeft > 0 {
                    metaGetAnswered(role, keysLeft, into: &actions)
                } else if missFailover && role == .primary {
                    state = .done
                    actions.append(.startRepair)
                } else {
                    finish(into: &actions)
                }
            case .metaRead(let replicatesOnHit, _):
                finish(into: &actions)
                if role == .primary && replicatesOnHit && status.backupUsable { actions.append(.startReplication(answersClient: false)) }
            }

        case (.asking(let role, let keysLeft), .line(_, let line, let status)):
            switch kind {
            case .share:
                if keysLeft > 0 {
                    // An error for one key reads as a miss; ERROR means the
                    // server does not know mg after all.
                    if line == .unknownCommand { actions.append(.serverLacksMetaGets(role)) }
                    metaGetAnswered(role, keysLeft, into: &actions)
                } else {
                    // The executor turns an error where VALUE or END belong into
                    // `.failed` (with whether the reply started); a line here
                    // is taken as a failure after the reply began.
                    failOver(role, status, reason: .protocolError, replyStarted: true, into: &actions)
                }
            case .metaRead(let replicatesOnHit, let missFailoverAllowed):
                if role == .primary && line == .miss && missFailoverAllowed && !retried && status.backupUsable
                    && (status.missFailoverAlways || status.primaryRecovering) {
                    // The primary may not have the key back yet: restore it from
                    // the backup (never over anything newer) and ask again.
                    retried = true
                    state = .restoring(KeyRestore())
                    actions.append(.send(.lookupKey, to: .backup))
                    return actions
                }
                actions.append(.pass)
                finish(into: &actions)
                if role == .primary && line == .success && replicatesOnHit && status.backupUsable {
                    actions.append(.startReplication(answersClient: false))
                }
            }

        case (.asking(let role, _), .failed(_, let reason, let status, let replyStarted)):
            failOver(role, status, reason: reason, replyStarted: replyStarted, into: &actions)

        case (.restoring(var restore), _):
            if restore.handle(event, into: &actions), let status = event.routeStatus {
                restore.finish(status, into: &actions)
                if status.primaryUp {
                    state = .asking(.primary, metaKeysLeft: 0)
                    actions.append(.send(.request, to: .primary))
                } else {
                    // The primary went down meanwhile: the backup answers, or nobody.
                    state = .asking(.primary, metaKeysLeft: 0)
                    failOver(.primary, status, reason: .unavailable, replyStarted: false, into: &actions)
                }
            } else {
                state = .restoring(restore)
            }

        default:
            break  // nothing else can reach a read in this state
        }
        return actions
    }

    /// Sends the request to `role`.
    private mutating func ask(_ role: ServerRole, _ status: RouteStatus, into actions: inout JobActions) {
        if role == .backup { actions.append(.count(.backupReads)) }
        switch kind {
        case .share(_, let singleMetaSafeKey, let keyCount):
            let asMetaGets = singleMetaSafeKey && !missFailover && status.answersMetaGets(role)
            state = .asking(role, metaKeysLeft: asMetaGets ? keyCount : 0)
            actions.append(.send(.share(asMetaGets: asMetaGets), to: role))
        case .metaRead:
            state = .asking(role, metaKeysLeft: 0)
            actions.append(.send(.request, to: role))
        }
    }

    /// The primary failed (or a share's server answered an error instead of
    /// VALUE/END): the backup is asked instead, as long as nothing of the
    /// reply reached the client. Otherwise a share ends with the complete
    /// items it has (the rest read as misses), a meta read with an error.
    private mutating func failOver(_ role: ServerRole, _ status: RouteStatus, reason: BackendFailure, replyStarted: Bool,
                                   into actions: inout JobActions) {
        if role == .primary && status.backupUsable && !replyStarted {
            actions.append(.restartReply)
            missFailover = false
            ask(.backup, status, into: &actions)
            return
        }
        actions.append(.dropOpenItem)
        if case .metaRead = kind { actions.append(.passFailure(reason)) }
        finish(into: &actions)
    }

    /// One key of a share sent as meta gets is answered.
    private mutating func metaGetAnswered(_ role: ServerRole, _ keysLeft: Int, into actions: inout JobActions) {
        actions.append(.nextKey)
        if keysLeft > 1 {
            state = .asking(role, metaKeysLeft: keysLeft - 1)
        } else {
            finish(into: &actions)
        }
    }

    private mutating func finish(into actions: inout JobActions) {
        state = .done
        actions.append(.completeReply)
    }
}
