// Read repair: after a primary's END, each key it lacked is asked of the
// backup (`mg`, one reply each); a copy the backup has is passed to the client
// as a VALUE block and written back to the primary with `add` (nothing newer
// is overwritten). Takes over the reply of the share that missed.

struct RepairJob: Equatable, Sendable {
    /// Backup replies still to come, one per missing key.
    private(set) var keysLeft: Int
    /// The current reply carries the key's item.
    private var itemStarted = false
    /// Its value has not ended yet.
    private var itemOpen = false
    /// The backup's copy of the current key is not to be believed: the key
    /// was deleted while the backup was away.
    private var skipping = false

    init(keys: Int) { keysLeft = keys }

    var isFinished: Bool { keysLeft == 0 }

    /// Every VA line of the backup is checked for a kept delete.
    var checksKeptDeletes: Bool { true }

    mutating func handle(_ event: JobEvent) -> JobActions {
        var actions = JobActions()
        switch event {
        case .start:
            actions.append(.send(.lookupMissingKeys, to: .backup))
        case .itemStarted(_, let keptDelete):
            itemStarted = true
            itemOpen = true
            skipping = keptDelete
            if !keptDelete {
                actions.append(.count(.missFailoverHits))
                actions.append(.count(.getHits))
                actions.append(.passAsValue)
                actions.append(.keepCopy(.add))
            }
        case .itemBytes(_, let endsItem):
            if endsItem { itemOpen = false }
            if !skipping {
                actions.append(.pass)
                actions.append(.keepCopy(.add))
            }
        case .ended(_, let status), .line(_, _, let status), .failed(_, _, let status, _):
            guard keysLeft > 0 else { break }
            if itemOpen {
                actions.append(.dropOpenItem)  // the backup failed in the middle of a value
            } else if itemStarted && !skipping && status.primaryUp {
                actions.append(.send(.keptCopy, to: .primary))
            }
            itemStarted = false
            itemOpen = false
            skipping = false
            keysLeft -= 1
            actions.append(.nextKey)
            if keysLeft == 0 { actions.append(.completeReply) }
        case .statLine, .valueCaptured, .valueAbandoned, .shareCompleted:
            break
        }
        return actions
    }
}
