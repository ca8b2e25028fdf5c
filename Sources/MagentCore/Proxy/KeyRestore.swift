// Restoring one key from the backup before the primary acts on it: the
// backup's copy is read with `mg` and written to the primary with `add`
// (nothing newer is overwritten). A step of the write and retrieval jobs.

/// The part of a job's state while the backup's copy of its key is read.
struct KeyRestore: Equatable, Sendable {
    /// The backup had the key (and no delete is kept for it there): its copy
    /// is being kept, to be added to the primary.
    private(set) var keptCopy = false
    /// The copy's value has not ended yet: a failure now leaves it cut off.
    private var valueOpen = false
    /// The backup's copy is not to be restored: the key was deleted while the
    /// backup was away.
    private var skipping = false

    /// An event of the backup's reply. Returns true once the reply is over (a
    /// value, a miss, an error or a failure).
    mutating func handle(_ event: JobEvent, into actions: inout JobActions) -> Bool {
        switch event {
        case .itemStarted(_, let keptDelete):
            skipping = keptDelete
            valueOpen = true
            if !keptDelete {
                keptCopy = true
                actions.append(.keepCopy(.add))
            }
            return false
        case .itemBytes(_, let endsItem):
            if endsItem { valueOpen = false }
            if !skipping { actions.append(.keepCopy(.add)) }
            return false
        case .ended, .line, .failed:
            // A value cut off by a failure is never written: the primary would
            // read what follows it as the rest of the value.
            if valueOpen { keptCopy = false }
            return true
        case .start, .statLine, .valueCaptured, .valueAbandoned, .shareCompleted:
            return false
        }
    }

    /// After the backup's reply: its copy goes to the primary first.
    func finish(_ status: RouteStatus, into actions: inout JobActions) {
        if keptCopy && status.primaryUp { actions.append(.send(.keptCopy, to: .primary)) }
    }
}
