// What one job holds besides its state machine: for whom it answers, where
// its key goes, and the bytes it keeps (request line, value copy, a backup's
// reply, the keys a share missed). Recycled by the worker's `JobTable`.

/// Which machine a record runs.
enum JobKind: UInt8, Sendable {
    case retrieval, write, broadcast, merge, replication, repair, statsShare, keyLocation
}

final class JobRecord {
    /// Bumped each time the record is recycled: a `JobHandle` made before is stale.
    var generation: UInt32 = 0
    var kind = JobKind.retrieval
    var retrieval = RetrievalJob(.metaRead(replicatesOnHit: false, missFailoverAllowed: false))
    var write = WriteJob(strategy: .parallel, isDelete: false, forgetsDeleteOnSuccess: false, valueFollows: false)
    var broadcast = BroadcastJob(sent: 0, down: 0)
    var merge = MergeJob(shares: 0)
    var replication = ReplicationJob()
    var repair = RepairJob(keys: 0)
    var statsShare = StatsShareJob()
    var keyLocation = KeyLocationJob()

    /// Where the reply goes (`.none`: nobody waits for it).
    var slot = SlotHandle.none
    var route = Route(primary: -1, backup: -1)
    /// The client's id: its requests to one server share a connection, in order.
    var clientID = 0
    var command = Command.get
    var framing = ReplyFraming.text

    /// The request line as sent (with its line end): a write's, a meta
    /// request's, a share's, the keys of a merge.
    let request = ByteBuffer()
    /// The request's value (with its \r\n), kept whole: captured from the
    /// client, or a binary request's inline value.
    let value = ByteBuffer()
    /// The raw key of a keyed request.
    let key = ByteBuffer()
    /// A kept copy (`keepCopy`): a storage line and its value.
    let copy = ByteBuffer()
    /// A reply line kept for later (`keepReply`): the backup's, used if the
    /// primary does not answer; binary framing collects a counter's digits here.
    let keptReply = ByteBuffer()
    /// Share: keys the primary lacked, each preceded by a space; repair: the keys asked.
    let missingKeys = ByteBuffer()
    /// Where the key the next reply answers starts (in `request` for a
    /// share, in `missingKeys` for a repair).
    var keyCursor = 0
    /// The client is still to stream the request's value (text data blocks).
    var valueFollows = false
    /// A flush_all broadcast: when it takes effect (unix seconds, see
    /// MissedFlush), for the servers that do not take it, and which did not.
    var flushDeadline = 0
    var flush = FlushBroadcast()

    /// Merge: the share slots, and for each requested key the index of its share.
    var shareSlots: [SlotHandle] = []
    var keyShares: [Int32] = []

    /// A write of a key kept for its primary / its backup, counted there
    /// while in flight (`PendingDeletes.writeStarted`).
    var writeKeptOnPrimary = false
    var writeKeptOnBackup = false
    /// The key is kept for the primary: this write goes to the backup alone.
    var bypassesPrimary = false

    /// Binary framing: value bytes of the current VA still to pass (its \r\n
    /// is not), and the CAS of that VA.
    var binaryValueRemaining = 0
    var binaryCas: UInt64 = 0

    /// Back to the state of a fresh record, keeping buffer capacity.
    func reset() {
        generation &+= 1
        slot = .none
        route = Route(primary: -1, backup: -1)
        clientID = 0
        command = .get
        framing = .text
        request.clear()
        value.clear()
        if value.capacity > 64 * 1024 { value.releaseStorage() }
        key.clear()
        copy.clear()
        if copy.capacity > 64 * 1024 { copy.releaseStorage() }
        keptReply.clear()
        missingKeys.clear()
        keyCursor = 0
        valueFollows = false
        if flushDeadline != 0 {
            flushDeadline = 0
            flush.reset()
        }
        // Only merges use these: most records skip the uniqueness check.
        if !shareSlots.isEmpty { shareSlots.removeAll(keepingCapacity: true) }
        if !keyShares.isEmpty { keyShares.removeAll(keepingCapacity: true) }
        binaryValueRemaining = 0
        binaryCas = 0
        writeKeptOnPrimary = false
        writeKeptOnBackup = false
        bypassesPrimary = false
    }

    var isFinished: Bool {
        switch kind {
        case .retrieval: return retrieval.isFinished
        case .write: return write.isFinished
        case .broadcast: return broadcast.isFinished
        case .merge: return merge.isFinished
        case .replication: return replication.isFinished
        case .repair: return repair.isFinished
        case .statsShare: return statsShare.isFinished
        case .keyLocation: return keyLocation.isFinished
        }
    }

    /// Whether a VA line from the backup needs a kept-delete lookup.
    var checksKeptDeletes: Bool {
        switch kind {
        case .retrieval: return retrieval.checksKeptDeletes
        case .write: return write.checksKeptDeletes
        case .repair: return true
        case .broadcast, .merge, .replication, .statsShare, .keyLocation: return false
        }
    }

    /// Runs the record's machine on one event.
    func handle(_ event: JobEvent) -> JobActions {
        switch kind {
        case .retrieval: return retrieval.handle(event)
        case .write: return write.handle(event)
        case .broadcast: return broadcast.handle(event)
        case .merge: return merge.handle(event)
        case .replication: return replication.handle(event)
        case .repair: return repair.handle(event)
        case .statsShare: return statsShare.handle(event)
        case .keyLocation: return keyLocation.handle(event)
        }
    }
}
