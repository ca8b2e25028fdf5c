// The request path after parsing: splits a retrieval by server, sends a write
// to its primary and its backup, broadcasts flush_all, and answers what the
// proxy answers itself (version, stats, quit).

final class RequestForwarder {
    /// The worker owns this object and lives as long as the process: unowned(unsafe)
    /// spares the checked retain an unowned reference costs on every access.
    unowned(unsafe) let worker: Worker
    /// Retrieval parts being filled, one per (primary, backup) pair.
    private var groupParts: [ReplyPart?]
    private var groupsUsed: [Int] = []
    /// The group of each key of the retrieval being split, in request order,
    /// and each group's position among the groups used.
    private var keyGroups: [Int] = []
    private var groupShare: [Int32]
    /// A request line being assembled (broadcasts, meta reads).
    let lineScratch = ByteBuffer(capacity: 64)
    /// A meta request's raw key, and the line sent for it.
    let keyScratch = ByteBuffer(capacity: 256)
    let metaLine = ByteBuffer(capacity: 128)
    /// A binary response packet being assembled.
    let packetScratch = ByteBuffer(capacity: 64)
    /// A VALUE line rebuilt from a meta get's VA line.
    let headerScratch = ByteBuffer(capacity: 300)

    init(worker: Worker) {
        self.worker = worker
        groupParts = []
        groupShare = []
        fitGroups()
    }

    /// The worker's current topology (a reload replaces it between requests).
    var topology: ServerTopology { worker.topology }

    /// Room for every (primary, backup) pair of the current topology.
    private func fitGroups() {
        let count = topology.groupCount
        guard groupParts.count < count else { return }
        groupParts = Array(repeating: nil, count: count)
        groupShare = Array(repeating: 0, count: count)
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
                } else {
                    client.reply(ClientError.unknownCommand.replyText)
                }
            } else {
                var text = AgentStatsBlock.render(topology: topology, stats: worker.context.stats)
                text.withUTF8 { client.reply(UnsafeRawBufferPointer($0)) }
            }
        }
    }

    // MARK: - Retrieval

    /// Keys are grouped by (primary, backup): one request per group, each
    /// answered with its VALUE blocks, and one END after all of them.
    private func forwardRetrieval(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        fitGroups()
        let topology = self.topology  // one reference for the whole request, not one per key
        var keys = KeyIterator(keys: request.keys)
        var keyCount = 0
        while let range = keys.next(in: line) {
            let key = UnsafeRawBufferPointer(rebasing: line[range.start..<range.end])
            keyCount += 1
            let route = topology.route(for: key)
            let group = route.group
            let part: ReplyPart
            if let existing = groupParts[group] {
                part = existing
            } else {
                part = worker.partPool.acquire(worker: worker, kind: .retrieval)
                part.route = route
                part.command = request.command
                part.request.append(request.command.verb)
                if request.command == .gat || request.command == .gats {
                    part.request.append(byte: 32)
                    part.request.append(UnsafeRawBufferPointer(rebasing: line[request.argument.start..<request.argument.end]))
                }
                groupParts[group] = part
                groupsUsed.append(group)
            }
            part.request.append(byte: 32)
            part.request.append(key)
            part.keyCount += 1
            // Control bytes (--allow-control-keys) cannot be a meta key token.
            if worker.settings.allowControlKeys && !KeyToken.isTextSafe(key) { part.metaSafeKeys = false }
            keyGroups.append(group)
        }
        worker.counters.add(.getKeys, keyCount)
        // Several servers: their shares are merged back into request order.
        var merge: ReplyPart? = nil
        if groupsUsed.count > 1 {
            let mergePart = worker.partPool.acquire(worker: worker, kind: .merge)
            mergePart.request.append(UnsafeRawBufferPointer(rebasing: line[request.keys.start..<request.keys.end]))
            mergePart.command = request.command
            // Each key's share, as an index into mergedParts (groupsUsed order).
            for (share, group) in groupsUsed.enumerated() { groupShare[group] = Int32(share) }
            for group in keyGroups { mergePart.mergeKeyShares.append(groupShare[group]) }
            client.enqueue(mergePart)
            merge = mergePart
        }
        keyGroups.removeAll(keepingCapacity: true)
        // Every share is registered before any is sent: one may complete at
        // once (its servers are down), and the merge must not finish early.
        for group in groupsUsed {
            let part = groupParts[group]!
            part.request.append("\r\n")
            if let merge {
                part.mergeInto = merge
                part.holds += 1  // the merge's, until it has taken the items
                merge.holds += 1  // the share's, until it completes
                merge.mergedParts.append(part)
                merge.partsPending += 1
            } else {
                client.enqueue(part)
            }
        }
        for group in groupsUsed {
            let part = groupParts[group]!
            groupParts[group] = nil
            if worker.isUp(part.route.primary) {
                part.clientID = client.id
                // Keys a recovering primary lacks are asked of the backup.
                part.missFailover = (request.command == .get || request.command == .gets) && part.route.hasBackup
                    && (worker.settings.missFailoverAlways || worker.isRecovering(part.route.primary))
                part.keyCursor = request.command.verb.utf8CodeUnitCount
                sendRetrieval(part, to: part.route.primary, role: .primary)
            } else if part.route.hasBackup && worker.isUp(part.route.backup) {
                sendRetrieval(part, to: part.route.backup, role: .backup)
            } else {
                part.complete()
            }
        }
        groupsUsed.removeAll(keepingCapacity: true)
        client.reply("END\r\n")
    }

    func sendRetrieval(_ part: ReplyPart, to server: Int, role: ServerRole) {
        guard let client = part.owner else {
            part.complete()
            return
        }
        if role == .backup { worker.counters.add(.backupReads) }
        let connection = worker.pools[server].connection(forClient: client.id)
        if part.canSendAsMetaGets(to: topology.known[server]) {
            metaLine.clear()
            part.appendMetaGets(to: metaLine)
            var entry = PendingReply(part: part, role: role, shape: .meta, deadline: worker.replyDeadline())
            entry.repliesLeft = Int32(part.keyCount)
            connection.submit(metaLine.readableBytes, appendLineEnd: false, entry: entry)
            return
        }
        part.metaKeysLeft = 0
        connection.submit(part.request.readableBytes, appendLineEnd: false,
                          entry: PendingReply(part: part, role: role, shape: .retrieval, deadline: worker.replyDeadline()))
    }

    // MARK: - Writes

    /// To the primary and, at the same time, to the backup; to the backup
    /// alone when the primary is down. The part decides what the client hears.
    private func forwardWrite(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        let key = UnsafeRawBufferPointer(rebasing: line[request.key.start..<request.key.end])
        let route = topology.route(for: key)
        let part = worker.partPool.acquire(worker: worker, kind: .write)
        part.holds += 1  // the forwarder's own, until the request is out
        part.route = route
        part.command = request.command
        part.clientID = client.id
        part.key.append(key)
        if !request.noreply { client.enqueue(part) }
        let forwarded = UnsafeRawBufferPointer(rebasing: line[request.forward.start..<request.forward.end])

        let primaryUp = worker.isUp(route.primary)
        let backupUp = route.hasBackup && worker.isUp(route.backup)
        if primaryUp {
            part.primaryState = .pending
            // A write that depends on the stored item, on a recovering primary:
            // the key is restored from the backup before the write is sent.
            let restoreFirst = backupUp && request.command.replicatesAfterPrimary && worker.isRecovering(route.primary)
            if !restoreFirst {
                send(part, forwarded, request, to: route.primary, role: .primary, client: client)
            }
            if route.hasBackup && request.command.replicatesAfterPrimary {
                // Kept for the backup: for a copy once the primary applied it,
                // or for the backup alone if the primary cannot be reached.
                part.request.append(forwarded)
                part.request.append("\r\n")
                if request.command.hasDataBlock { client.captureValue(into: part) }
            }
            if restoreFirst { part.restoreKeyThenWrite() }
        }
        // set and delete go to both at once; the others reach the backup once
        // the primary applied them (replicateAfterPrimary), unless the primary is down.
        if backupUp && !primaryUp { worker.counters.add(.writesToBackup) }
        if backupUp && (!primaryUp || !request.command.replicatesAfterPrimary) {
            part.backupState = .pending
            send(part, forwarded, request, to: route.backup, role: .backup, client: client)
        }
        if request.command == .delete {
            if !primaryUp { part.keepDeleteFor(role: .primary) }
            if route.hasBackup && !backupUp { part.keepDeleteFor(role: .backup) }
        }
        if !primaryUp && !backupUp { part.resolveWrite() }
        worker.partPool.release(part)
    }

    /// `mg <key> s v f t[ c]`: the value, flags and remaining TTL of one key,
    /// answered to `part` (read repair, restore before a write, read-back).
    func submitMetaGet(_ key: UnsafeRawBufferPointer, withCas: Bool, to server: Int, role: ServerRole, for part: ReplyPart) {
        lineScratch.clear()
        lineScratch.append("mg ")
        if KeyToken.append(key, to: lineScratch) { lineScratch.append(" b") }
        lineScratch.append(withCas ? " s v f t c\r\n" : " s v f t\r\n")
        worker.pools[server].connection(forClient: part.clientID).submit(
            lineScratch.readableBytes, appendLineEnd: false,
            entry: PendingReply(part: part, role: role, shape: .meta, deadline: worker.replyDeadline()))
    }

    /// A request whose reply nobody waits for (write-backs and replica copies).
    func submitSilently(_ bytes: UnsafeRawBufferPointer, to server: Int, clientID: Int) {
        let part = worker.partPool.acquire(worker: worker, kind: .write)
        part.route = Route(primary: server, backup: -1)
        part.primaryState = .pending
        worker.pools[server].connection(forClient: clientID).submit(
            bytes, appendLineEnd: false,
            entry: PendingReply(part: part, role: .primary, shape: .line, deadline: worker.replyDeadline()))
    }

    private func send(_ part: ReplyPart, _ line: UnsafeRawBufferPointer, _ request: ParsedRequest,
                      to server: Int, role: ServerRole, client: ClientConnection) {
        let connection = worker.pools[server].connection(forClient: client.id)
        if request.command.hasDataBlock {
            // The data block follows from the client; the reply is due once it is complete.
            let entry = PendingReply(part: part, role: role, shape: .line, deadline: .max)
            client.addStreamTarget(connection, entry: entry, line: line)
        } else {
            let entry = PendingReply(part: part, role: role, shape: .line, deadline: worker.replyDeadline())
            connection.submit(line, appendLineEnd: true, entry: entry)
        }
    }

    // MARK: - Broadcast

    /// flush_all and verbosity go to every distinct server; OK only if all say OK.
    private func forwardBroadcast(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        if request.command == .verbosity && request.argument.count == 0 { return }  // `verbosity noreply`
        lineScratch.clear()
        lineScratch.append(request.command.verb)
        if request.argument.count > 0 {
            lineScratch.append(byte: 32)
            lineScratch.append(UnsafeRawBufferPointer(rebasing: line[request.argument.start..<request.argument.end]))
        }
        lineScratch.append("\r\n")
        broadcast(lineScratch, replied: !request.noreply, binary: nil, client: client)
    }

    /// Sends `line` (complete, with its line end) to every distinct server.
    func broadcast(_ line: ByteBuffer, replied: Bool, binary: BinaryFraming?, client: ClientConnection) {
        let part = worker.partPool.acquire(worker: worker, kind: .broadcast)
        part.holds += 1
        part.binary = binary
        if replied { client.enqueue(part) }
        for server in topology.broadcastTargets {
            guard worker.isUp(server) else {
                part.refusals += 1
                continue
            }
            part.outstanding += 1
            worker.pools[server].connection(forClient: client.id).submit(
                line.readableBytes, appendLineEnd: false,
                entry: PendingReply(part: part, role: topology.known[server].role, shape: .line, deadline: worker.replyDeadline()))
        }
        if part.outstanding == 0 { part.resolveBroadcast() }
        worker.partPool.release(part)
    }
}
