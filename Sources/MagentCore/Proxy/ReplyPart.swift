// One slot in a client's reply order: a local reply, one server's share of a
// multi-get, a replicated write or a broadcast. It collects what its backends
// answer and decides what the client hears: the primary's reply, else the
// backup's, else an error.

/// Why a backend request produced no reply.
public enum BackendFailure: UInt8, Sendable {
    case unavailable
    case timeout
    case protocolError
    /// The client stopped sending in the middle of a value; the value was dropped.
    case uploadStalled
    /// The connection never opened (refused, or not in time): the request
    /// surely did not reach the server.
    case notSent
    case connectTimeout

    var requestWasNotSent: Bool { self == .notSent || self == .connectTimeout }

    var replyText: StaticString {
        switch self {
        case .timeout, .connectTimeout: return "SERVER_ERROR backend timeout\r\n"
        case .uploadStalled: return "SERVER_ERROR value not received in time\r\n"
        case .unavailable, .protocolError, .notSent: return "SERVER_ERROR backend unavailable\r\n"
        }
    }
}

final class ReplyPart {
    enum Kind: UInt8 {
        /// Bytes made by the proxy (errors, version, stats, the END of a multi-get).
        case local
        /// One server's share of get/gets/gat/gats: VALUE blocks, END stripped.
        case retrieval
        /// A keyed write sent to the primary and copied to the backup.
        case write
        /// flush_all / verbosity sent to every server.
        case broadcast
        /// quit, or an error after which the stream cannot continue.
        case close
        /// Copies a key from the primary to the backup after a write the
        /// backup cannot simply repeat (append, incr, touch...). Silent.
        case replicator
        /// A get whose keys live on several servers: once every server's
        /// share is in, the VALUE blocks go out in the order the keys were
        /// asked for, as memcached answers.
        case merge
        /// A meta command, or a binary request translated into one.
        case meta
    }

    enum SourceState: UInt8 {
        case unused, pending, replied, failed
    }

    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    var kind: Kind = .local
    /// The client waiting for this reply; nil for noreply requests and after
    /// the client went away (late replies are then dropped).
    var client: ClientConnection?
    /// A server's share of a multi-server get: the merge its items go to.
    var mergeInto: ReplyPart?
    /// Merge: the servers' shares, and how many are still incomplete.
    var mergedParts: [ReplyPart] = []
    var partsPending = 0
    /// Merge: for each requested key in order, the index of its share.
    var mergeKeyShares: [Int32] = []
    /// Share: where in `buffer` the next VALUE block is likely to be (a
    /// server answers in request order, so the merge rarely searches).
    var mergeCursor = 0

    /// The client this part works for, directly or through its merge.
    var owner: ClientConnection? { client ?? mergeInto?.client }
    /// Reply bytes held until every earlier reply has gone to the client.
    let buffer = ByteBuffer()
    /// Retrieval: the request line, kept to resend it to the backup.
    let request = ByteBuffer()
    /// Write: the backup's reply, used if the primary fails.
    let backupReply = ByteBuffer()
    var isComplete = false
    /// At the head of the client's order: bytes go straight to its output.
    var isStreaming = false
    /// References from the client's order and from backend pending queues.
    var holds = 0
    var route = Route(primary: -1, backup: -1)
    var primaryState = SourceState.unused
    var backupState = SourceState.unused
    var failure = BackendFailure.unavailable
    /// Retrieval: some of this part's bytes already reached the client.
    var emittedToClient = false
    /// Retrieval: a VALUE block began and has not ended; `itemStart` is where
    /// it began in `buffer`.
    var itemOpen = false
    var itemStart = 0
    /// Broadcast: replies still expected, and how many were not OK.
    var outstanding = 0
    var refusals = 0

    /// Write: what was asked, for whom, on which key (replication needs them).
    var command = Command.get
    var clientID = 0
    let key = ByteBuffer()
    /// Data kept for later: the value of a write replicated after the primary
    /// (its command line is in `request`), a repaired item's write-back, a
    /// replicator's set.
    let replica = ByteBuffer()
    /// The client is still sending the value being kept in `replica`.
    var capturing = false
    /// The primary could not be reached: the request goes to the backup as
    /// soon as its value is complete.
    var fallbackPending = false
    /// A value-dependent write on a recovering primary waits while the key is
    /// first restored from the backup (`restore` holds the add to send).
    var restoringKey = false
    let restore = ByteBuffer()
    /// The key is restored; the write goes to the primary once its value is complete.
    var primarySendPending = false

    /// Retrieval: keys the primary lacks are asked of the backup (the primary
    /// is recovering, or --miss-failover).
    var missFailover = false
    /// Offset in `request` of the first key no VALUE has answered yet.
    var keyCursor = 0
    /// Retrieval: the keys in `request`, and whether all of them can be
    /// written as a meta command's key token.
    var keyCount = 0
    var metaSafeKeys = true
    /// Retrieval sent as meta gets (ReplyPart+MetaGets): replies still to come.
    var metaKeysLeft = 0
    /// Keys the primary lacked, each preceded by a space.
    let missingKeys = ByteBuffer()
    var repairing = false
    var repairOutstanding = 0
    /// Offset in `missingKeys` of the key the next backup reply is for.
    var repairCursor = 0
    var repairItemStarted = false
    /// The backup's copy of a key deleted while the backup was away: dropped.
    var repairSkip = false

    /// Meta: how the request travels, and what the client asked for.
    var metaStrategy = MetaStrategy.read
    var metaQuiet = false
    /// mg with T: the backup gets the touched item once the primary hit.
    var metaReplicatesOnHit = false
    /// A miss on a recovering primary was answered by restoring the key and
    /// asking again: the second answer is final.
    var metaRetried = false
    /// The shape of the reply to the kept request (`request` + `replica`).
    var keptShape = ReplyShape.line
    /// Binary clients: how the reply is framed; nil for text.
    var binary: BinaryFraming? = nil
    /// Binary: value bytes of the current VA still to pass (its \r\n is not).
    var binaryValueRemaining = 0
    /// Binary: the CAS of the VA being passed on.
    var binaryCas: UInt64 = 0

    init(worker: Worker) { self.worker = worker }

    /// Back to the state of a fresh part, keeping buffer capacity.
    func reset() {
        kind = .local
        client = nil
        mergeInto = nil
        mergedParts.removeAll(keepingCapacity: true)
        partsPending = 0
        mergeKeyShares.removeAll(keepingCapacity: true)
        mergeCursor = 0
        buffer.clear()
        request.clear()
        backupReply.clear()
        if buffer.capacity > 64 * 1024 { buffer.releaseStorage() }
        isComplete = false
        isStreaming = false
        holds = 0
        route = Route(primary: -1, backup: -1)
        primaryState = .unused
        backupState = .unused
        failure = .unavailable
        emittedToClient = false
        itemOpen = false
        itemStart = 0
        outstanding = 0
        refusals = 0
        command = .get
        clientID = 0
        key.clear()
        replica.clear()
        if replica.capacity > 64 * 1024 { replica.releaseStorage() }
        capturing = false
        fallbackPending = false
        restoringKey = false
        restore.clear()
        primarySendPending = false
        missFailover = false
        keyCursor = 0
        keyCount = 0
        metaSafeKeys = true
        metaKeysLeft = 0
        missingKeys.clear()
        repairing = false
        repairOutstanding = 0
        repairCursor = 0
        repairItemStarted = false
        repairSkip = false
        metaStrategy = .read
        metaQuiet = false
        metaReplicatesOnHit = false
        metaRetried = false
        keptShape = .line
        binary = nil
        binaryValueRemaining = 0
        binaryCas = 0
    }

    // MARK: - Toward the client

    /// Passes bytes on: straight to the client when at the head of its order,
    /// otherwise into `buffer`.
    func emit(_ bytes: UnsafeRawBufferPointer) {
        if mergeInto != nil {
            buffer.append(bytes)  // held until the merge puts the keys in order
            return
        }
        guard let client else { return }
        if isStreaming {
            client.appendToOutput(bytes)
            emittedToClient = true
            client.markOutputPending()
        } else {
            buffer.append(bytes)
        }
    }

    func emit(_ text: StaticString) {
        emit(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    func complete() {
        guard !isComplete else { return }
        isComplete = true
        if let merge = mergeInto {
            merge.mergedPartCompleted()
        } else {
            client?.partCompleted(self)
        }
    }

    // MARK: - From backends (BackendConnection calls these)

    /// Part of a VALUE block of a retrieval reply.
    func receiveItemBytes(_ bytes: UnsafeRawBufferPointer, startsItem: Bool, endsItem: Bool) {
        if kind == .replicator {
            replicatorReceive(bytes, startsItem: startsItem)
            return
        }
        if restoringKey {
            restoreReceive(bytes, startsItem: startsItem)
            return
        }
        guard !isComplete else { return }
        if kind == .meta {
            metaReceiveItem(bytes, startsItem: startsItem, endsItem: endsItem)
            return
        }
        if repairing {
            repairReceive(bytes, startsItem: startsItem, endsItem: endsItem)
            return
        }
        if startsItem {
            worker.counters.add(.getHits)
            if missFailover { noteAnswered(valueHeader: bytes) }
            itemOpen = true
            itemStart = buffer.readableCount
            if metaKeysLeft > 0 {
                emitValueHeader(translating: bytes)
                return
            }
        }
        emit(bytes)
        if endsItem { itemOpen = false }
    }

    /// The END of a retrieval reply, EN or the end of a VA value of a meta reply.
    func receiveEnd(from role: ServerRole) {
        switch kind {
        case .retrieval:
            guard !isComplete else { return }
            if metaKeysLeft > 0 {
                metaGetAnswered()
            } else if repairing {
                repairEntryDone()
            } else if !(missFailover && role == .primary && startRepair()) {
                complete()
            }
        case .replicator:
            replicatorEnd()
        case .write:
            if restoringKey { finishRestore() }
        case .meta:
            if restoringKey { finishRestore() } else { metaValueEnded(from: role) }
        default:
            break
        }
    }

    /// A one-line reply.
    func receiveLine(_ line: UnsafeRawBufferPointer, from role: ServerRole, isError: Bool) {
        switch kind {
        case .retrieval:
            if metaKeysLeft > 0 {
                // An error for one key reads as a miss; ERROR means the server
                // does not know mg after all, and gets classic gets from now on.
                if line.count == 7 && line.starts(with: "ERROR") {
                    worker.topology.known[role == .primary ? route.primary : route.backup].health.setAnswersMetaGets(false)
                }
                if !isComplete { metaGetAnswered() }
            } else if repairing {
                repairEntryDone()  // the backup could not answer this key: a miss
            } else {
                // An error instead of VALUE/END: treat it like a failed server.
                retrievalFailed(role: role, reason: .unavailable)
            }
        case .write:
            if restoringKey && role == .backup {
                finishRestore()  // the backup could not say (no meta commands): the write goes on
                return
            }
            if command != .delete && (line.starts(with: "STORED") || line.starts(with: "TOUCHED") || (line.count > 2 && line[0] >= 48 && line[0] <= 57)) {
                // Written again: a delete kept for this server must not undo it.
                worker.context.pendingDeletes.forget(server: role == .primary ? route.primary : route.backup, key: key.readableBytes)
            }
            if role == .primary {
                primaryState = .replied
                if !isComplete {
                    emit(line)
                    complete()
                }
                replicateAfterPrimary(line)
            } else {
                backupState = .replied
                if !isComplete { backupReply.append(line) }
                resolveWrite()
            }
        case .broadcast:
            outstanding -= 1
            if !(line.count == 4 && line.starts(with: "OK")) { refusals += 1 }
            resolveBroadcast()
        case .meta:
            metaReceiveLine(line, from: role, isError: isError)
        case .local, .close, .replicator, .merge:
            break
        }
    }

    /// The backend connection broke or timed out before replying.
    func sourceFailed(role: ServerRole, reason: BackendFailure) {
        failure = reason
        switch kind {
        case .retrieval:
            if repairing {
                repairEntryDone()
            } else {
                retrievalFailed(role: role, reason: reason)
            }
        case .write:
            if restoringKey && role == .backup {
                finishRestore()
                return
            }
            if role == .primary { primaryState = .failed } else { backupState = .failed }
            if command == .delete { keepDeleteFor(role: role) }
            if role == .primary && reason.requestWasNotSent && fallBackToBackup() { return }
            resolveWrite()
        case .broadcast:
            outstanding -= 1
            refusals += 1
            resolveBroadcast()
        case .meta:
            metaSourceFailed(role: role, reason: reason)
        case .local, .close, .replicator, .merge:
            break
        }
    }

    // MARK: - Decisions

    /// A primary that fails is replaced by the backup, as long as nothing of
    /// this part has reached the client; otherwise the part ends with the
    /// complete items it has (the rest read as misses).
    private func retrievalFailed(role: ServerRole, reason: BackendFailure) {
        guard !isComplete else { return }
        if role == .primary && route.hasBackup && !emittedToClient && worker.isUp(route.backup) {
            buffer.clear()
            itemOpen = false
            worker.forwarder.sendRetrieval(self, to: route.backup, role: .backup)
            return
        }
        dropOpenItem()
        complete()
    }

    /// A value cut off in the middle: if part of it is already on its way, the
    /// client's stream is broken (it is aborted); otherwise the partial value
    /// is taken out of `buffer`.
    func dropOpenItem() {
        guard itemOpen else { return }
        if isStreaming { owner?.abort() } else { buffer.truncate(toReadable: itemStart) }
        itemOpen = false
    }

    /// The client hears the primary's reply; if the primary is not there, the
    /// backup's; if neither, an error (writes and meta requests alike).
    func resolveWrite() {
        guard !isComplete else { return }
        switch primaryState {
        case .replied, .pending:
            return
        case .unused, .failed:
            switch backupState {
            case .pending:
                return
            case .replied:
                deliverLine(backupReply.readableBytes)
            case .unused, .failed:
                deliverFailure()
            }
            complete()
        }
    }

    func resolveBroadcast() {
        guard outstanding == 0, !isComplete else { return }
        if let binary {
            binaryDeliverStatus(refusals == 0 ? .success : .temporaryFailure, framing: binary)
        } else if refusals == 0 {
            emit("OK\r\n")
        } else {
            emit("SERVER_ERROR not every server answered OK\r\n")
        }
        complete()
    }
}
