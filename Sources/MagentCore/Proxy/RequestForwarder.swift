// The request path after parsing: routes each request to its servers and
// hands it to a job (retrieval shares and their merge, writes, broadcasts),
// which the executor runs; answers what the proxy answers itself (version,
// stats, quit).
import Glibc

final class RequestForwarder {
    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    /// Retrieval shares being filled, one per (primary, backup) pair.
    private var groupJobs: [JobHandle?]
    private var groupsUsed: [Int] = []
    /// The group of each key of the retrieval being split, in request order,
    /// and each group's position among the groups used.
    private var keyGroups: [Int] = []
    private var groupShare: [Int32]
    /// Each share's key count, and whether all its keys can be a meta key token.
    private var groupKeyCount: [Int]
    private var groupMetaSafe: [Bool]
    /// A binary request translated into a meta line, and its raw key.
    let metaLine = ByteBuffer(capacity: 128)
    let keyScratch = ByteBuffer(capacity: 256)
    /// A binary response packet made by the proxy itself.
    let packetScratch = ByteBuffer(capacity: 64)

    init(worker: Worker) {
        self.worker = worker
        groupJobs = []
        groupShare = []
        groupKeyCount = []
        groupMetaSafe = []
        fitGroups()
    }

    /// The worker's current topology (a reload replaces it between requests).
    var topology: ServerTopology { worker.topology }

    private var executor: JobExecutor { worker.executor }

    /// Room for every (primary, backup) pair of the current topology.
    private func fitGroups() {
        let count = topology.groupCount
        guard groupJobs.count < count else { return }
        groupJobs = Array(repeating: nil, count: count)
        groupShare = Array(repeating: 0, count: count)
        groupKeyCount = Array(repeating: 0, count: count)
        groupMetaSafe = Array(repeating: true, count: count)
        groupsUsed.reserveCapacity(count)
    }

    func forward(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        worker.counters.count(request.command)
        switch request.command {
        case .get, .gets, .gat, .gats:
            forwardRetrieval(request, line: line, client: client)
        case .set, .add, .replace, .append, .prepend, .cas, .incr, .decr, .delete, .touch:
            forwardWrite(request, line: line, client: client)
        case .flushAll, .verbosity:
            forwardBroadcast(request, line: line, client: client)
        case .metaGet, .metaSet, .metaDelete, .metaArithmetic, .metaNoop, .metaDebug:
            forwardMeta(request, line: line, client: client)
        case .version:
            worker.context.versionReply.withUnsafeBytes { client.reply($0) }
        case .quit:
            client.closeAfterReplies()
        case .stats:
            if request.hasArguments {
                let argument = UnsafeRawBufferPointer(rebasing: line[request.argument.start..<request.argument.end])
                if argument.elementsEqual("servers".utf8) {
                    var text = ServerStatsBlock.render(context: worker.context)
                    text.withUTF8 { client.reply(UnsafeRawBufferPointer($0)) }
                } else if argument.elementsEqual("proxy".utf8) {
                    var text = ProxyStatsBlock.render(context: worker.context)
                    text.withUTF8 { client.reply(UnsafeRawBufferPointer($0)) }
                } else if argument.elementsEqual("limits".utf8) {
                    var text = worker.context.stats.limits.render(configuration: worker.settings)
                    text.withUTF8 { client.reply(UnsafeRawBufferPointer($0)) }
                } else if KeyLocationJob.isKeyGroup(argument) {
                    forwardKeyLocation(argument, client: client)
                } else {
                    client.reply(ClientError.unknownCommand.replyText)
                }
            } else if worker.settings.statsFormat == .memcached {
                forwardMemcachedStats(client: client)
            } else {
                var text = AgentStatsBlock.render(topology: topology, stats: worker.context.stats)
                text.withUTF8 { client.reply(UnsafeRawBufferPointer($0)) }
            }
        }
    }

    // MARK: - Retrieval

    /// Keys are grouped by (primary, backup): one share per group, each
    /// answered with its VALUE blocks, and one END after all of them.
    private func forwardRetrieval(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        fitGroups()
        let topology = self.topology  // one reference for the whole request, not one per key
        let jobs = executor.jobs
        var keys = LineTokens(range: request.keys)
        var keyCount = 0
        while let range = keys.next(in: line) {
            let key = line[range]
            keyCount += 1
            let route = topology.route(for: key)
            let group = route.group
            let record: JobRecord
            if let existing = groupJobs[group], let found = jobs.record(existing) {
                record = found
            } else {
                let (handle, created) = executor.newJob(.retrieval)
                record = created
                record.route = route
                record.command = request.command
                record.clientID = client.id
                record.request.append(request.command.verb)
                if request.command == .gat || request.command == .gats {
                    record.request.append(byte: 32)
                    record.request.append(line[request.argument])
                }
                groupJobs[group] = handle
                groupKeyCount[group] = 0
                groupMetaSafe[group] = true
                groupsUsed.append(group)
            }
            record.request.append(byte: 32)
            record.request.append(key)
            groupKeyCount[group] += 1
            // Control bytes (--allow-control-keys) cannot be a meta key token.
            if worker.settings.allowControlKeys && !KeyToken.isTextSafe(key) { groupMetaSafe[group] = false }
            keyGroups.append(group)
        }
        worker.counters.add(.getKeys, keyCount)
        // Several servers: their shares are merged back into request order.
        var merge: (handle: JobHandle, record: JobRecord)? = nil
        if groupsUsed.count > 1 {
            let (handle, record) = executor.newJob(.merge, slot: executor.newSlot(for: client))
            record.merge = MergeJob(shares: groupsUsed.count)
            record.request.append(line[request.keys])
            record.command = request.command
            // Each key's share, as an index into shareSlots (groupsUsed order).
            for (share, group) in groupsUsed.enumerated() { groupShare[group] = Int32(share) }
            for group in keyGroups { record.keyShares.append(groupShare[group]) }
            merge = (handle, record)
        }
        keyGroups.removeAll(keepingCapacity: true)
        // Every share has its slot before any starts: one may complete at once
        // (its servers are down), and the merge must not finish early.
        for group in groupsUsed {
            let record = jobs.record(groupJobs[group]!)!
            record.request.append("\r\n")
            let keyCount = groupKeyCount[group]
            // Only single keys go as meta gets: memcached spends more per key on
            // a run of `mg` lines than on one multi-key get, which is one write anyway.
            let classicGet = request.command == .get || request.command == .gets
            record.retrieval = RetrievalJob(.share(missFailoverAllowed: classicGet,
                                                   singleMetaSafeKey: classicGet && keyCount == 1 && groupMetaSafe[group],
                                                   keyCount: keyCount))
            if let merge {
                let (slotHandle, slot) = executor.slots.acquire()
                slot.merge = merge.handle
                record.slot = slotHandle
                merge.record.shareSlots.append(slotHandle)
            } else {
                record.slot = executor.newSlot(for: client)
            }
        }
        for group in groupsUsed {
            let handle = groupJobs[group]!
            groupJobs[group] = nil
            executor.start(handle, record: jobs.record(handle)!, client: client)
        }
        groupsUsed.removeAll(keepingCapacity: true)
        client.reply("END\r\n")
    }

    // MARK: - Writes

    /// To the primary and the backup at once (set, delete), or to the primary
    /// first and then its result to the backup; the write job decides.
    private func forwardWrite(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        let key = line[request.key]
        let command = request.command
        let strategy: WriteJob.Strategy
        if command.replicatesAfterPrimary {
            strategy = .primaryFirst(command.capturesValue ? .keptValueAsSet : .readBack)
        } else {
            strategy = .parallel
        }
        let (handle, record) = executor.newJob(.write, slot: request.noreply ? .none : executor.newSlot(for: client))
        record.write = WriteJob(strategy: strategy, isDelete: command == .delete, forgetsDeleteOnSuccess: command != .delete,
                                valueFollows: command.hasDataBlock)
        record.route = topology.route(for: key)
        record.command = command
        record.clientID = client.id
        record.key.append(key)
        record.request.append(line[request.forward])
        record.request.append("\r\n")
        record.valueFollows = command.hasDataBlock
        executor.start(handle, record: record, client: client)
    }

    // MARK: - Stats

    /// Plain `stats` under `stats-format = memcached`: every primary is asked
    /// for its own `stats` (one share each, as a get split by server), and the
    /// merge sums them into memcached's STAT lines once each has answered,
    /// failed or timed out. Nothing waits on the worker's loop meanwhile.
    private func forwardMemcachedStats(client: ClientConnection) {
        let (mergeHandle, merge) = executor.newJob(.merge, slot: executor.newSlot(for: client))
        merge.merge = MergeJob(shares: topology.primaries.count, assembly: .statsTotals)
        merge.command = .stats
        // Every share has its slot before any starts: one whose server is down
        // completes at once, and the merge must not finish early.
        var shares: [(handle: JobHandle, record: JobRecord)] = []
        shares.reserveCapacity(topology.primaries.count)
        for server in topology.primaries {
            let (handle, share) = executor.newJob(.statsShare)
            share.statsShare = StatsShareJob()
            share.route = Route(primary: server.id, backup: -1)
            share.command = .stats
            share.clientID = client.id
            let (slotHandle, slot) = executor.slots.acquire()
            slot.merge = mergeHandle
            share.slot = slotHandle
            merge.shareSlots.append(slotHandle)
            shares.append((handle, share))
        }
        for share in shares { executor.start(share.handle, record: share.record, client: client) }
    }

    /// `stats key <key>`: the key's primary and backup are asked whether each
    /// holds it (a job, like any request to servers: nothing waits on the
    /// worker's loop, and the reply keeps its place among the client's).
    private func forwardKeyLocation(_ argument: UnsafeRawBufferPointer, client: ClientConnection) {
        guard let key = KeyLocationJob.requestedKey(in: argument, allowControlKeys: worker.settings.allowControlKeys) else {
            client.reply(ClientError.badCommandLine.replyText)
            return
        }
        let (handle, record) = executor.newJob(.keyLocation, slot: executor.newSlot(for: client))
        record.keyLocation = KeyLocationJob()
        record.key.append(UnsafeRawBufferPointer(rebasing: argument[key.start..<key.end]))
        record.route = topology.route(for: record.key.readableBytes)
        record.command = .stats
        record.clientID = client.id
        executor.start(handle, record: record, client: client)
    }

    // MARK: - Broadcast

    /// flush_all and verbosity go to every distinct server; OK only if all say
    /// OK. With `flush-all = refuse`, flush_all is answered here and goes nowhere.
    private func forwardBroadcast(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        if request.command == .verbosity && request.argument.count == 0 { return }  // `verbosity noreply`
        if request.command == .flushAll && worker.settings.flushAll == .refuse {
            if !request.noreply { client.reply(FlushAllMode.refusalReply) }
            return
        }
        let (handle, record) = executor.newJob(.broadcast, slot: request.noreply ? .none : executor.newSlot(for: client))
        record.request.append(request.command.verb)
        if request.argument.count > 0 {
            record.request.append(byte: 32)
            record.request.append(line[request.argument])
        }
        record.request.append("\r\n")
        record.command = request.command
        if request.command == .flushAll {
            let delay = request.argument.count > 0 ? MissedFlush.delay(line[request.argument]) : 0
            record.flushDeadline = MissedFlush.deadline(delay: delay, now: Int(time(nil)))
        }
        startBroadcast(handle, record: record, client: client)
    }

    /// Sends the record's request line (complete, with its line end) to every distinct server.
    func startBroadcast(_ handle: JobHandle, record: JobRecord, client: ClientConnection) {
        if record.flushDeadline != 0 { worker.context.flushes.begin() }  // ended with the job (JobExecutor.dispatch)
        let counts = executor.broadcastCounts()
        record.broadcast = BroadcastJob(sent: counts.sent, down: counts.down)
        record.clientID = client.id
        executor.start(handle, record: record, client: client)
    }
}
