// The one place a job's decisions are carried out: it turns what backends and
// clients do into job events, runs the job's state machine, and performs the
// actions it returns: every request the proxy sends to memcached for a
// client's request leaves from here, and only here are the scratch buffers
// used and the jobs' counters bumped.

final class JobExecutor {
    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    let jobs = JobTable()
    let slots = ReplySlotTable()
    /// Later requests of a client waiting for an earlier one (see OrderingHolds).
    let orderingHolds = OrderingHolds()
    /// Copies sent without waiting: a failed one keeps its key for the server.
    let silentWrites = SilentWrites()
    /// A request being assembled (kept request and value, meta gets, copies).
    private let lineScratch = ByteBuffer(capacity: 256)
    /// A binary response packet, or a VALUE line rebuilt from a VA line.
    private let packetScratch = ByteBuffer(capacity: 300)
    /// The client whose request is being started: a streamed value is wired
    /// to it (only a job's first event sends a request whose value follows).
    private unowned(unsafe) var startingClient: ClientConnection?

    init(worker: Worker) { self.worker = worker }

    // MARK: - Jobs and slots

    /// A fresh job of `kind`, answering into `slot`.
    func newJob(_ kind: JobKind, slot: SlotHandle = .none) -> (JobHandle, JobRecord) {
        let (handle, record) = jobs.acquire(kind)
        record.slot = slot
        return (handle, record)
    }

    /// A fresh slot in `client`'s reply order.
    func newSlot(for client: ClientConnection) -> SlotHandle {
        let (handle, slot) = slots.acquire()
        slot.client = client
        client.enqueue(handle, slot: slot)
        return handle
    }

    /// Runs the job's first event: it sends its first requests. `client` is
    /// the one that made the request (a streamed value comes from it).
    func start(_ handle: JobHandle, record: JobRecord, client: ClientConnection?) {
        let outer = startingClient  // a job started by another job's actions
        startingClient = client
        var status = status(record.route)
        if record.kind == .retrieval && status.backupUsable {
            status.primaryCopyStale = primaryCopyIsStale(record, recovering: status.primaryRecovering)
            status.primaryUnsettled = !worker.topology.known[record.route.primary].health
                .hasSettled(settleMilliseconds: worker.settings.settleMilliseconds)
        }
        if record.kind == .write && record.route.primary >= 0 {
            trackKeptKey(record, backupUsable: status.backupUsable, primaryRecovering: status.primaryRecovering)
            if record.bypassesPrimary { status.primaryUp = false }
        }
        dispatch(handle, record: record, .start(status), bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        startingClient = outer
        guard let client, jobs.record(handle) != nil else { return }
        if record.kind == .write, holdsLaterRequests(record.write, status) {
            orderingHolds.add(job: handle, key: record.key.readableBytes, client: client)
        } else if record.kind == .retrieval, readMayAskTheBackupLater(status) {
            holdLaterRequests(onKeysOf: record, handle: handle, client: client)
        }
    }

    /// A read the primary answers first and the backup only for what the
    /// primary missed (it recovers, or --miss-failover) or if the primary
    /// fails (it failed lately): the backup is asked after the client's later
    /// requests went out, so a later write of the key would reach the backup
    /// first and be read back as if it came before. The client's later
    /// requests on its keys wait for it.
    private func readMayAskTheBackupLater(_ status: RouteStatus) -> Bool {
        status.primaryUp && status.backupUsable && !status.primaryCopyStale && !status.primaryResyncing
            && (status.primaryRecovering || status.missFailoverAlways || status.primaryUnsettled)
    }

    private func holdLaterRequests(onKeysOf record: JobRecord, handle: JobHandle, client: ClientConnection) {
        if record.command.isMeta {
            orderingHolds.add(job: handle, key: record.key.readableBytes, client: client)
            return
        }
        let line = record.request.readableBytes
        var keys = LineTokens(from: firstKeyOffset(record))
        while let key = keys.next(in: line) { orderingHolds.add(job: handle, key: line[key], client: client) }
    }

    /// A write of a key kept for one of its servers: counted there while in
    /// flight (the refiller does not forget the entry under it). A key kept
    /// for the primary is written to the backup alone while the backup is
    /// in use: the primary's copy is older, and it may still run a request
    /// that failed there; the refiller gives it the backup's state later.
    /// So is a key the refill is copying to a recovering primary right now
    /// (its older copy may land there after this write): it becomes kept.
    private func trackKeptKey(_ record: JobRecord, backupUsable: Bool, primaryRecovering: Bool) {
        let kept = worker.context.pendingDeletes
        let key = record.key.readableBytes
        record.writeKeptOnPrimary = kept.writeStarted(server: record.route.primary, key: key)
        let beingCopied = primaryRecovering && worker.context.keysBeingCopied.contains(server: record.route.primary, key: key)
        record.bypassesPrimary = (record.writeKeptOnPrimary || beingCopied) && backupUsable
        if record.route.hasBackup { record.writeKeptOnBackup = kept.writeStarted(server: record.route.backup, key: key) }
    }

    /// The write `trackKeptKey` counted is over.
    private func finishKeptKeyWrite(_ record: JobRecord) {
        let kept = worker.context.pendingDeletes
        let key = record.key.readableBytes
        if record.writeKeptOnPrimary { kept.writeFinished(server: record.route.primary, key: key) }
        if record.writeKeptOnBackup { kept.writeFinished(server: record.route.backup, key: key) }
    }

    /// What the job's servers look like now, as this job uses them.
    private func status(for record: JobRecord) -> RouteStatus {
        var status = status(record.route)
        if record.bypassesPrimary { status.primaryUp = false }
        return status
    }

    /// Whether the primary missed a write or delete of a key this read asks
    /// for (kept, not yet given to it), or is being given one by the refill
    /// while it recovers: one load when nothing is kept for it.
    private func primaryCopyIsStale(_ record: JobRecord, recovering: Bool) -> Bool {
        let primary = record.route.primary
        let kept = worker.context.pendingDeletes
        let copying = worker.context.keysBeingCopied
        let anyKept = kept.count(server: primary) > 0
        guard anyKept || recovering else { return false }
        func stale(_ key: UnsafeRawBufferPointer) -> Bool {
            (anyKept && kept.contains(server: primary, key: key)) || (recovering && copying.contains(server: primary, key: key))
        }
        if record.command.isMeta { return stale(record.key.readableBytes) }
        let line = record.request.readableBytes
        var keys = LineTokens(from: firstKeyOffset(record))
        while let key = keys.next(in: line) {
            if stale(line[key]) { return true }
        }
        return false
    }

    /// Whether the client's later requests on the key must wait for this
    /// write: one whose key is restored first (they would read the state
    /// before it), and any write the backup gets only after the primary's
    /// reply (an add, replace or cas as a set, the rest by read-back): a
    /// later write or delete of the key would reach the backup first and be
    /// undone by the copy, and a read that goes to the backup would miss it.
    private func holdsLaterRequests(_ write: WriteJob, _ status: RouteStatus) -> Bool {
        if write.checksKeptDeletes { return true }
        guard status.hasBackup, status.primaryUp, case .primaryFirst = write.strategy else { return false }
        return true
    }

    /// What the job's servers look like now.
    /// A key `server` missed did not fit its kept list: it is out of use
    /// until the refiller has flushed it (see ServerHealth.keptKeysOverflowed).
    private func keptKeysOverflowed(_ server: Int) {
        let known = worker.topology.known[server]
        guard !known.health.keptKeysOverflowed else { return }
        known.health.markKeptKeysOverflowed()
        worker.context.logger.notice("\(worker.topology.describe(known)): missed more keys than its list holds "
                                     + "(\(worker.context.pendingDeletes.limitPerServer)); out of use until flushed and refilled")
    }

    func status(_ route: Route) -> RouteStatus {
        var status = RouteStatus()
        status.missFailoverAlways = worker.settings.missFailoverAlways
        guard route.primary >= 0 else { return status }
        let known = worker.topology.known
        let primary = known[route.primary].health
        status.primaryUp = primary.isUp && !primary.keptKeysOverflowed
        // Not yet known to be the process it was (a connection failed or
        // closed): its misses may be keys a restart lost.
        status.primaryRecovering = primary.isRecovering || primary.mayHaveRestarted
        status.primaryResyncing = primary.isResyncing
        status.primaryAnswersMetaGets = primary.answersMetaGets
        if route.hasBackup {
            let backup = known[route.backup].health
            status.hasBackup = true
            status.backupUp = backup.isUp && !backup.keptKeysOverflowed
            status.backupAnswersMetaGets = backup.answersMetaGets
        }
        return status
    }

    // MARK: - Events from backends (BackendConnection calls these)

    /// A VALUE or VA line.
    func itemStarted(_ entry: PendingReply, _ bytes: UnsafeRawBufferPointer) {
        guard let record = record(entry) else { return }
        var keptDelete = false
        if entry.role == .backup && record.checksKeptDeletes {
            keptDelete = worker.context.pendingDeletes.isKeptDelete(server: record.route.backup, key: copiedKey(record))
        }
        dispatch(entry.job, record: record, .itemStarted(entry.role, keptDelete: keptDelete), bytes: bytes)
    }

    func itemBytes(_ entry: PendingReply, _ bytes: UnsafeRawBufferPointer, endsItem: Bool) {
        guard let record = record(entry) else { return }
        dispatch(entry.job, record: record, .itemBytes(entry.role, endsItem: endsItem), bytes: bytes)
    }

    /// END, EN of the proxy's own meta get, or the end of a meta reply's value.
    func ended(_ entry: PendingReply) {
        if entry.job.silentWriteIndex != nil { return silentWriteAnswered(entry, .other) }
        guard let record = record(entry) else { return }
        dispatch(entry.job, record: record, .ended(entry.role, status(for: record)), bytes: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// A STAT line of a `stats` reply.
    func statLine(_ entry: PendingReply, _ bytes: UnsafeRawBufferPointer) {
        guard let record = record(entry) else { return }
        dispatch(entry.job, record: record, .statLine(entry.role), bytes: bytes)
    }

    /// A one-line reply from `server`.
    func line(_ entry: PendingReply, _ bytes: UnsafeRawBufferPointer, from server: Int) {
        if entry.job.silentWriteIndex != nil { return silentWriteAnswered(entry, ReplyLine(bytes)) }
        guard let record = record(entry) else { return }
        if record.flushDeadline != 0 { noteFlush(record, server: server, took: ReplyLine(bytes) == .ok) }
        if entry.shape == .retrieval {
            // An error where VALUE blocks or END belong: the server failed this request.
            let replyStarted = slots.slot(record.slot)?.emitted ?? false
            dispatch(entry.job, record: record, .failed(entry.role, .protocolError, status(for: record), replyStarted: replyStarted),
                     bytes: UnsafeRawBufferPointer(start: nil, count: 0))
            return
        }
        dispatch(entry.job, record: record, .line(entry.role, ReplyLine(bytes), status(for: record)), bytes: bytes)
    }

    /// The request got no reply: the connection failed or timed out, or its
    /// value was abandoned (it never left, or memcached refused the padding).
    /// `server`: where it went (-1 when it never left the proxy).
    func failed(_ entry: PendingReply, _ reason: BackendFailure, from server: Int = -1) {
        if entry.job.silentWriteIndex != nil { return silentWriteAnswered(entry, nil) }
        guard let record = record(entry) else { return }
        if record.flushDeadline != 0 && server >= 0 { noteFlush(record, server: server, took: false) }
        let replyStarted = slots.slot(record.slot)?.emitted ?? false
        dispatch(entry.job, record: record, .failed(entry.role, reason, status(for: record), replyStarted: replyStarted),
                 bytes: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    /// A silent write's reply (nil: it failed). Failed, or refused with an
    /// error (not stored): it may or may not have run, and may still run
    /// late, so the key is kept as a write the server missed.
    private func silentWriteAnswered(_ entry: PendingReply, _ line: ReplyLine?) {
        let failed = line == nil || line == .error || line == .unknownCommand
        let kept = worker.context.pendingDeletes
        silentWrites.finish(entry.job, failed: failed) { server, key in
            if !kept.add(server: server, key: key, missedWrite: true) { keptKeysOverflowed(server) }
        }
    }

    private func record(_ entry: PendingReply) -> JobRecord? {
        if let record = jobs.record(entry.job) { return record }
        if !entry.job.isDetached { worker.counters.add(.staleReplies) }
        return nil
    }

    // MARK: - Events from clients (ClientConnection calls these)

    /// Bytes of the value a job keeps a copy of.
    func captured(_ handle: JobHandle, _ bytes: UnsafeRawBufferPointer, isLast: Bool) {
        guard let record = jobs.record(handle) else { return }
        record.value.append(bytes)
        if isLast { dispatch(handle, record: record, .valueCaptured, bytes: bytes) }
    }

    /// The client went away in the middle of that value.
    func captureAbandoned(_ handle: JobHandle) {
        guard let record = jobs.record(handle) else { return }
        record.value.clear()
        dispatch(handle, record: record, .valueAbandoned, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
    }

    // MARK: - Running a machine

    private func dispatch(_ handle: JobHandle, record: JobRecord, _ event: JobEvent, bytes: UnsafeRawBufferPointer) {
        let actions = record.handle(event)
        for index in 0..<actions.count {
            perform(actions[index], handle: handle, record: record, event: event, bytes: bytes)
        }
        if record.isFinished {
            if record.writeKeptOnPrimary || record.writeKeptOnBackup { finishKeptKeyWrite(record) }
            if !orderingHolds.isEmpty { orderingHolds.release(job: handle) }
            if record.flushDeadline != 0 { worker.context.flushes.end() }
            jobs.release(handle)
        }
    }

    private func perform(_ action: JobAction, handle: JobHandle, record: JobRecord, event: JobEvent, bytes: UnsafeRawBufferPointer) {
        switch action {
        case .send(let request, let role):
            send(request, to: role, handle: handle, record: record)
        case .captureValue:
            if record.valueFollows { startingClient?.captureValue(for: handle) }
        case .pass:
            pass(event, bytes, record: record)
        case .passAsValue:
            passAsValue(bytes, record: record)
        case .passKeptReply:
            passLine(record.keptReply.readableBytes, record: record)
        case .passFailure(let reason):
            guard let slot = slots.slot(record.slot) else { return }
            if case .binary(let framing) = record.framing {
                BinaryReplyEncoder.status(.temporaryFailure, framing: framing, key: record.key.readableBytes, packet: packetScratch, into: slot)
            } else {
                slot.append(reason.replyText)
            }
        case .passBroadcastResult(let allOK):
            guard let slot = slots.slot(record.slot) else { return }
            if case .binary(let framing) = record.framing {
                BinaryReplyEncoder.status(allOK ? .success : .temporaryFailure, framing: framing, key: record.key.readableBytes,
                                          packet: packetScratch, into: slot)
            } else {
                slot.append(allOK ? "OK\r\n" : "SERVER_ERROR not every server answered OK\r\n")
            }
        case .keepReply:
            record.keptReply.clear()
            record.keptReply.append(bytes)
        case .restartReply:
            slots.slot(record.slot)?.restart()
            record.binaryValueRemaining = 0
        case .dropOpenItem:
            slots.slot(record.slot)?.dropOpenItem()
        case .completeReply:
            complete(record.slot)
        case .assembleMerge:
            assembleMerge(record)
        case .assembleStatsTotals:
            assembleStatsTotals(record)
        case .passKeyLocation:
            passKeyLocation(record)
        case .count(let counter):
            worker.counters.add(counter)
        case .keepDelete(let role):
            let server = role == .primary ? record.route.primary : record.route.backup
            if server >= 0 && !worker.context.pendingDeletes.add(server: server, key: record.key.readableBytes) {
                keptKeysOverflowed(server)
            }
        case .keepMissedWrite(let role):
            let server = role == .primary ? record.route.primary : record.route.backup
            if server >= 0 && !worker.context.pendingDeletes.add(server: server, key: record.key.readableBytes, missedWrite: true) {
                keptKeysOverflowed(server)
            }
        case .keptKeyWritten(let role):
            let server = role == .primary ? record.route.primary : record.route.backup
            // The refiller gives the server the other copy's state (which holds
            // this write) once it has settled.
            if server >= 0 { worker.context.pendingDeletes.keptKeyWritten(server: server, key: record.key.readableBytes) }
        case .serverLacksMetaGets(let role):
            let server = role == .primary ? record.route.primary : record.route.backup
            worker.topology.known[server].health.setAnswersMetaGets(false)
        case .noteAnswered:
            // "VALUE <key> ...": every key asked before it was a miss.
            if let key = LineTokens.token(1, of: bytes) { collectMisses(record, until: bytes[key]) }
        case .nextKey:
            var keys = LineTokens(from: record.keyCursor)
            _ = keys.next(in: keySource(record).readableBytes)
            record.keyCursor = keys.offset
        case .keepCopy(let verb):
            if case .itemStarted = event {
                StorageLine.write(verb == .add ? "add " : "set ", key: copiedKey(record), header: MetaValueHeader(bytes), into: record.copy)
            } else {
                record.copy.append(bytes)
            }
        case .startReplication(let answersClient):
            let (replication, copy) = newJob(.replication, slot: answersClient ? record.slot : .none)
            if answersClient {
                record.slot = .none
                copy.framing = record.framing
                copy.command = record.command
                copy.keptReply.append(record.keptReply.readableBytes)
            }
            copy.replication = ReplicationJob(answersClient: answersClient)
            copy.route = record.route
            copy.clientID = record.clientID
            copy.key.append(record.key.readableBytes)
            if !orderingHolds.isEmpty { orderingHolds.inherit(child: replication, from: handle) }
            start(replication, record: copy, client: nil)
        case .startRepair:
            startRepair(record)
        }
    }

    // MARK: - Sending

    private func send(_ request: SendRequest, to role: ServerRole, handle: JobHandle, record: JobRecord) {
        if request == .everyServer {
            sendToEveryServer(handle: handle, record: record)
            return
        }
        let server = role == .primary ? record.route.primary : record.route.backup
        let connection = worker.pools[server].connection(forClient: record.clientID)
        let clientShape: ReplyShape = record.command.isMeta ? .metaClient : .line
        var entry = PendingReply(job: handle, role: role, shape: clientShape, deadline: worker.replyDeadline())
        switch request {
        case .request:
            let line = record.request.readableBytes
            if record.valueFollows, let client = startingClient {
                // The data block follows from the client; the reply is due once it is complete.
                entry.deadline = .max
                client.addStreamTarget(connection, entry: entry, line: line[ByteRange(start: 0, count: line.count - 2)])
            } else if record.value.isEmpty {
                connection.submit(line, appendLineEnd: false, entry: entry)
            } else {
                submitKeptRequest(record, on: connection, entry: entry)
            }
        case .keptRequest:
            submitKeptRequest(record, on: connection, entry: entry)
        case .share(let asMetaGets):
            record.keyCursor = firstKeyOffset(record)
            if asMetaGets {
                lineScratch.clear()
                let returned: StaticString = record.command == .gets ? " v f c\r\n" : " v f\r\n"
                let line = record.request.readableBytes
                var keys = LineTokens(from: record.keyCursor)
                var count: Int32 = 0
                while let key = keys.next(in: line) {
                    lineScratch.append("mg ")
                    lineScratch.append(line[key])
                    lineScratch.append(returned)
                    count += 1
                }
                entry.shape = .meta
                entry.repliesLeft = count
                connection.submit(lineScratch.readableBytes, appendLineEnd: false, entry: entry)
            } else {
                entry.shape = .retrieval
                connection.submit(record.request.readableBytes, appendLineEnd: false, entry: entry)
            }
        case .lookupKey:
            entry.shape = .meta
            submitMetaGet(record.key.readableBytes, withCas: false, on: connection, entry: entry)
        case .lookupMissingKeys:
            entry.shape = .meta
            record.keyCursor = 0
            let keys = record.missingKeys.readableBytes
            var tokens = LineTokens(from: 0)
            while let key = tokens.next(in: keys) {
                submitMetaGet(keys[key], withCas: record.command == .gets, on: connection, entry: entry)
            }
        case .keptCopy:
            submitSilently(record.copy.readableBytes, on: connection, server: server, key: copiedKey(record))
        case .keptValueAsSet:
            // "add|replace|cas <key> <flags> <exptime> <bytes>[ <cas>]\r\n" becomes a set.
            let line = record.request.readableBytes
            lineScratch.clear()
            lineScratch.append("set")
            lineScratch.append(line[ByteRange(start: record.command.verb.utf8CodeUnitCount,
                                              count: Self.endOfLengthToken(line, command: record.command) - record.command.verb.utf8CodeUnitCount)])
            lineScratch.append("\r\n")
            lineScratch.append(record.value.readableBytes)
            submitSilently(lineScratch.readableBytes, on: connection, server: server, key: record.key.readableBytes)
        case .deleteKey:
            StorageLine.writeDelete(key: record.key.readableBytes, into: lineScratch)
            submitSilently(lineScratch.readableBytes, on: connection, server: server, key: record.key.readableBytes)
        case .stats:
            let line: StaticString = "stats\r\n"
            entry.shape = .stats
            connection.submit(UnsafeRawBufferPointer(start: line.utf8Start, count: line.utf8CodeUnitCount), appendLineEnd: false, entry: entry)
        case .probeKey(let asMetaGet):
            packetScratch.clear()
            if asMetaGet {
                // No flags: HD or EN, and the item's LRU position and TTL are left as they are.
                entry.shape = .meta
                packetScratch.append("mg ")
                if KeyToken.append(record.key.readableBytes, to: packetScratch) { packetScratch.append(" b") }
            } else {
                entry.shape = .retrieval
                packetScratch.append("get ")
                packetScratch.append(record.key.readableBytes)
            }
            packetScratch.append("\r\n")
            connection.submit(packetScratch.readableBytes, appendLineEnd: false, entry: entry)
        case .everyServer:
            break
        }
    }

    /// The kept line and value, whole.
    private func submitKeptRequest(_ record: JobRecord, on connection: BackendConnection, entry: PendingReply) {
        lineScratch.clear()
        lineScratch.append(record.request.readableBytes)
        lineScratch.append(record.value.readableBytes)
        connection.submit(lineScratch.readableBytes, appendLineEnd: false, entry: entry)
    }

    /// `mg <key> s v f t[ c]`: the value, flags and remaining TTL of one key.
    private func submitMetaGet(_ key: UnsafeRawBufferPointer, withCas: Bool, on connection: BackendConnection, entry: PendingReply) {
        packetScratch.clear()
        packetScratch.append("mg ")
        if KeyToken.append(key, to: packetScratch) { packetScratch.append(" b") }
        packetScratch.append(withCas ? " s v f t c\r\n" : " s v f t\r\n")
        connection.submit(packetScratch.readableBytes, appendLineEnd: false, entry: entry)
    }

    /// A request whose reply nobody waits for (write-backs and copies of
    /// `key` to `server`): if it fails, the key is kept for the server.
    private func submitSilently(_ bytes: UnsafeRawBufferPointer, on connection: BackendConnection, server: Int,
                                key: UnsafeRawBufferPointer) {
        let handle = silentWrites.track(server: server, key: key)
        connection.submit(bytes, appendLineEnd: false,
                          entry: PendingReply(job: handle, role: .primary, shape: .line, deadline: worker.replyDeadline()))
    }

    /// The broadcast line to every distinct server that is up (the job was
    /// told how many: `BroadcastJob(sent:down:)` from `broadcastCounts`). A
    /// server left out misses a flush_all.
    private func sendToEveryServer(handle: JobHandle, record: JobRecord) {
        let topology = worker.topology
        for server in topology.broadcastTargets {
            guard worker.isUp(server) else {
                if record.flushDeadline != 0 { noteFlush(record, server: server, took: false) }
                continue
            }
            worker.pools[server].connection(forClient: record.clientID).submit(
                record.request.readableBytes, appendLineEnd: false,
                entry: PendingReply(job: handle, role: topology.known[server].role, shape: .line, deadline: worker.replyDeadline()))
        }
    }

    /// One server's outcome of a flush_all: once some server took it, every
    /// server that did not is kept out of use until it takes it too (FlushBroadcast).
    private func noteFlush(_ record: JobRecord, server: Int, took: Bool) {
        switch record.flush.outcome(server: server, took: took) {
        case .nothing:
            break
        case .this:
            markMissedFlush(server, record.flushDeadline)
        case .waiting:
            for missed in record.flush.waiting { markMissedFlush(Int(missed), record.flushDeadline) }
            record.flush.forgetWaiting()
        }
    }

    private func markMissedFlush(_ server: Int, _ deadline: Int) {
        let known = worker.topology.known
        guard server < known.count else { return }
        if known[server].health.noteMissedFlush(MissedFlush(deadline: deadline)) {
            worker.context.logger.notice("\(worker.topology.describe(known[server])) is down: it missed a flush_all other servers took; " +
                                         "out of use until it takes it")
        }
    }

    /// How many distinct servers a broadcast goes to now, and how many are down.
    func broadcastCounts() -> (sent: Int, down: Int) {
        var sent = 0
        var down = 0
        for server in worker.topology.broadcastTargets {
            if worker.isUp(server) { sent += 1 } else { down += 1 }
        }
        return (sent, down)
    }

    /// Where "<verb> <key> <flags> <exptime> <bytes>" ends in a kept command
    /// line (a cas line has its unique after it; the line ends in \r\n).
    static func endOfLengthToken(_ line: UnsafeRawBufferPointer, command: Command) -> Int {
        var end = line.count
        while end > 0 && (line[end - 1] == 13 || line[end - 1] == 10) { end -= 1 }
        guard command == .cas else { return end }
        while end > 0 && line[end - 1] != 32 { end -= 1 }
        return end - 1
    }

    // MARK: - Toward the client

    /// The event's bytes, through the job's framing.
    private func pass(_ event: JobEvent, _ bytes: UnsafeRawBufferPointer, record: JobRecord) {
        guard let slot = slots.slot(record.slot) else { return }
        switch event {
        case .itemStarted, .itemBytes(_, _):
            let starts: Bool
            let ends: Bool
            if case .itemBytes(_, let endsItem) = event {
                starts = false
                ends = endsItem
            } else {
                starts = true
                ends = false
            }
            switch record.framing {
            case .binary(let framing):
                BinaryReplyEncoder.item(bytes, startsItem: starts, endsItem: ends, framing: framing, record: record,
                                        packet: packetScratch, into: slot)
            case .text, .meta:
                if record.framing.hidesItem(command: record.command) { return }
                if starts {
                    let keyLength = slot.merge.isDetached ? 0 : (LineTokens.token(1, of: bytes)?.count ?? 0)
                    slot.beginItem(keyLength: keyLength)
                }
                slot.append(bytes)
                if ends { slot.endItem() }
            }
        case .line, .statLine:
            passLine(bytes, record: record)
        default:
            break
        }
    }

    private func passLine(_ line: UnsafeRawBufferPointer, record: JobRecord) {
        guard let slot = slots.slot(record.slot) else { return }
        switch record.framing {
        case .binary(let framing):
            BinaryReplyEncoder.line(line, framing: framing, key: record.key.readableBytes, packet: packetScratch, into: slot)
        case .text, .meta:
            if record.framing.hides(line: line, command: record.command) { return }
            slot.append(line)
        }
    }

    /// `VA <bytes> f<flags> ...[ c<cas>]` as `VALUE <key> <flags> <bytes>[ <cas>]`,
    /// the key being the one this reply answers.
    private func passAsValue(_ header: UnsafeRawBufferPointer, record: JobRecord) {
        guard let slot = slots.slot(record.slot) else { return }
        let key = copiedKey(record)
        let fields = MetaValueHeader(header)
        let line = packetScratch
        line.clear()
        line.append("VALUE ")
        line.append(key)
        line.append(byte: 32)
        line.appendDecimal(Int(fields.flags))
        line.append(byte: 32)
        line.appendDecimal(fields.size)
        if record.command == .gets {
            line.append(byte: 32)
            line.appendDecimal(UInt64: fields.cas)
        }
        line.append("\r\n")
        slot.beginItem(keyLength: key.count)
        slot.append(line.readableBytes)
    }

    /// The slot's reply is whole: its client may send it, or its merge use it.
    private func complete(_ handle: SlotHandle) {
        guard let slot = slots.slot(handle), !slot.isComplete else { return }
        slot.markComplete()
        if let client = slot.client {
            client.slotCompleted(handle)
        } else if let merge = jobs.record(slot.merge) {
            dispatch(slot.merge, record: merge, .shareCompleted, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }

    // MARK: - Keys

    /// The keys the next reply is matched against: a share's request line, a repair's missing keys.
    private func keySource(_ record: JobRecord) -> ByteBuffer {
        record.kind == .repair ? record.missingKeys : record.request
    }

    /// The key the current reply is about: for a share or a repair, the key
    /// at the cursor; for the others, the job's own key.
    private func copiedKey(_ record: JobRecord) -> UnsafeRawBufferPointer {
        guard record.kind == .repair || (record.kind == .retrieval && !record.command.isMeta) else { return record.key.readableBytes }
        let keys = keySource(record).readableBytes
        var tokens = LineTokens(from: record.keyCursor)
        guard let key = tokens.next(in: keys) else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return keys[key]
    }

    /// Where a share's keys start in its request line (after the verb, and
    /// the exptime of gat and gats).
    private func firstKeyOffset(_ record: JobRecord) -> Int {
        var tokens = LineTokens()
        _ = tokens.skip(record.command == .gat || record.command == .gats ? 2 : 1, in: record.request.readableBytes)
        return tokens.offset
    }

    /// Moves the cursor past `answered` (memcached answers in request order),
    /// noting the keys skipped as misses; nil collects every remaining key.
    private func collectMisses(_ record: JobRecord, until answered: UnsafeRawBufferPointer?) {
        let line = record.request.readableBytes
        var tokens = LineTokens(from: record.keyCursor)
        while let range = tokens.next(in: line) {
            let key = line[range]
            if let answered, key.elementsEqual(answered) { break }
            record.missingKeys.append(byte: 32)
            record.missingKeys.append(key)
        }
        record.keyCursor = tokens.offset
    }

    // MARK: - Jobs that start jobs

    /// After a primary's END: the keys it lacked are asked of the backup by a
    /// repair job, which takes over the share's reply. Nothing to ask: the
    /// reply is complete.
    private func startRepair(_ record: JobRecord) {
        collectMisses(record, until: nil)
        var count = 0
        var tokens = LineTokens()
        while tokens.next(in: record.missingKeys.readableBytes) != nil { count += 1 }
        guard count > 0, status(record.route).backupUsable, slots.slot(record.slot) != nil else {
            complete(record.slot)
            return
        }
        let (handle, repair) = newJob(.repair, slot: record.slot)
        record.slot = .none
        repair.repair = RepairJob(keys: count)
        repair.route = record.route
        repair.clientID = record.clientID
        repair.command = record.command
        repair.missingKeys.append(record.missingKeys.readableBytes)
        start(handle, record: repair, client: nil)
    }

    /// Emits every found key's VALUE block in request order, then frees the shares.
    private func assembleMerge(_ record: JobRecord) {
        let target = slots.slot(record.slot)
        let keys = record.request.readableBytes
        var tokens = LineTokens(from: 0)
        var index = 0
        while let range = tokens.next(in: keys) {
            let share = record.keyShares[index]
            index += 1
            guard let target, let slot = slots.slot(record.shareSlots[Int(share)]),
                  let item = slot.takeItem(for: keys[range]) else { continue }
            target.append(item)
        }
        for share in record.shareSlots { slots.release(share) }
        record.shareSlots.removeAll(keepingCapacity: true)
    }

    /// `stats key`: what each server said of the key, with its state and what
    /// is kept for the key there as they are now.
    private func passKeyLocation(_ record: JobRecord) {
        guard let slot = slots.slot(record.slot) else { return }
        let known = worker.topology.known
        let kept = worker.context.pendingDeletes
        let key = record.key.readableBytes
        func server(_ id: Int, _ role: ServerRole) -> KeyLocationBlock.Server? {
            guard id >= 0 else { return nil }
            let health = known[id].health
            let keptHere: KeyLocationBlock.Kept
            switch kept.missedWrite(server: id, key: Array(key)) {
            case nil: keptHere = .none
            case false?: keptHere = .delete
            case true?: keptHere = .write
            }
            return KeyLocationBlock.Server(address: known[id].address.displayName, state: health.stateName,
                                           resyncing: health.isResyncing, has: record.keyLocation.presence(role), kept: keptHere)
        }
        var text = KeyLocationBlock.render(key: String(decoding: key, as: UTF8.self),
                                           primary: server(record.route.primary, .primary)!,
                                           backup: server(record.route.backup, .backup))
        text.withUTF8 { slot.append(UnsafeRawBufferPointer($0)) }
    }

    /// Sums the STAT lines each primary's share holds (an empty share: the
    /// server failed) into memcached-format `stats`, then frees the shares.
    private func assembleStatsTotals(_ record: JobRecord) {
        var totals = BackendStatsTotals()
        for share in record.shareSlots {
            if let slot = slots.slot(share) { totals.add(reply: slot.buffer.readableBytes) }
            slots.release(share)
        }
        record.shareSlots.removeAll(keepingCapacity: true)
        guard let target = slots.slot(record.slot) else { return }
        var text = MemcachedStatsBlock.render(StatsSnapshot(context: worker.context), backends: totals)
        text.withUTF8 { target.append(UnsafeRawBufferPointer($0)) }
    }
}
