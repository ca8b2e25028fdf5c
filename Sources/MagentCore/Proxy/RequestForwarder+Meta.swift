// Meta commands (mg, ms, md, ma, me, mn) through the same routing as the
// classic ones: the raw key picks the servers, reads fail over to the backup,
// plain sets and deletes go to both servers at once, and every write that
// depends on the stored item goes to the primary first and reaches the backup
// as the primary's result. Binary requests arrive here translated into meta.

/// How a meta request travels.
enum MetaStrategy: UInt8 {
    /// mg, me: the primary answers; the backup when the primary cannot.
    case read
    /// ms in set mode, md without conditions: both servers at once.
    case parallelWrite
    /// Writes that depend on the stored item (add, replace, append, cas,
    /// arithmetic, conditional deletes): the primary first, then the backup
    /// gets the item as the primary holds it.
    case primaryFirst
}

/// How a binary client wants a reply framed.
struct BinaryFraming {
    var opcode: BinaryOpcode
    var opaque: UInt32
}

extension RequestForwarder {
    /// A text client's meta command, `request.forward` covering the whole line.
    func forwardMeta(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        if request.command == .metaNoop {
            client.reply("MN\r\n")
            return
        }
        let wireKey = UnsafeRawBufferPointer(rebasing: line[request.key.start..<request.key.end])
        keyScratch.clear()
        if request.meta.base64 { _ = Base64.decode(wireKey, into: keyScratch) } else { keyScratch.append(wireKey) }
        // The line memcached gets: as sent, less the q flag (the proxy always
        // needs the reply; it hides what memcached would have hidden).
        metaLine.clear()
        var tokens = KeyIterator(keys: request.forward)
        while let token = tokens.next(in: line) {
            if token.count == 1 && line[token.start] == UInt8(ascii: "q") { continue }
            if !metaLine.isEmpty { metaLine.append(byte: 32) }
            metaLine.append(UnsafeRawBufferPointer(rebasing: line[token.start..<token.end]))
        }
        dispatchMeta(request.command, flags: request.meta, key: keyScratch.readableBytes, line: metaLine.readableBytes,
                     inlineValue: nil, binary: nil, client: client)
    }

    /// Sends one meta request (`line` without its line end) for the raw `key`.
    /// `inlineValue` (without its \r\n) comes with binary sets; text clients
    /// stream theirs after the line.
    func dispatchMeta(_ command: Command, flags: MetaFlags, key: UnsafeRawBufferPointer, line: UnsafeRawBufferPointer,
                      inlineValue: UnsafeRawBufferPointer?, binary: BinaryFraming?, client: ClientConnection) {
        if binary != nil { worker.counters.count(command) }  // text requests were counted by forward()
        let route = topology.route(for: key)
        let part = worker.partPool.acquire(worker: worker, kind: .meta)
        part.holds += 1  // the forwarder's own, until the request is out
        part.route = route
        part.command = command
        part.clientID = client.id
        part.key.append(key)
        part.metaQuiet = flags.quiet
        part.binary = binary
        part.keptShape = .metaClient
        part.request.append(line)
        part.request.append("\r\n")
        switch command {
        case .metaGet, .metaDebug:
            part.metaStrategy = .read
        case .metaSet, .metaDelete:
            part.metaStrategy = flags.isPlainWrite(command) ? .parallelWrite : .primaryFirst
        default:
            part.metaStrategy = .primaryFirst
        }
        client.enqueue(part)

        let primaryUp = worker.isUp(route.primary)
        let backupUp = route.hasBackup && worker.isUp(route.backup)
        if part.metaStrategy == .read {
            part.metaReplicatesOnHit = flags.updatesTTL && route.hasBackup
            part.missFailover = command == .metaGet && !flags.vivify && backupUp
                && (worker.settings.missFailoverAlways || worker.isRecovering(route.primary))
            if primaryUp {
                part.primaryState = .pending
                sendMeta(part, inlineValue: inlineValue, to: route.primary, role: .primary, client: client)
            } else if backupUp {
                part.backupState = .pending
                sendMeta(part, inlineValue: inlineValue, to: route.backup, role: .backup, client: client)
            } else {
                part.resolveWrite()
            }
            worker.partPool.release(part)
            return
        }

        let afterPrimary = part.metaStrategy == .primaryFirst
        if primaryUp {
            part.primaryState = .pending
            let restoreFirst = backupUp && afterPrimary && worker.isRecovering(route.primary)
            if !restoreFirst {
                sendMeta(part, inlineValue: inlineValue, to: route.primary, role: .primary, client: client)
            }
            if route.hasBackup && afterPrimary && command == .metaSet {
                // Kept in case the primary cannot be reached, or waits for a restore.
                if let inlineValue {
                    part.replica.append(inlineValue)
                    part.replica.append("\r\n")
                } else {
                    client.captureValue(into: part)
                }
            }
            if restoreFirst { part.restoreKeyThenWrite() }
        }
        if backupUp && (!primaryUp || !afterPrimary) {
            part.backupState = .pending
            sendMeta(part, inlineValue: inlineValue, to: route.backup, role: .backup, client: client)
        }
        if command == .metaDelete && !afterPrimary {
            if !primaryUp { part.keepDeleteFor(role: .primary) }
            if route.hasBackup && !backupUp { part.keepDeleteFor(role: .backup) }
        }
        if !primaryUp && !backupUp { part.resolveWrite() }
        worker.partPool.release(part)
    }

    /// The part's request line (and value) to one server.
    private func sendMeta(_ part: ReplyPart, inlineValue: UnsafeRawBufferPointer?, to server: Int, role: ServerRole,
                          client: ClientConnection) {
        let connection = worker.pools[server].connection(forClient: client.id)
        let request = part.request.readableBytes
        if part.command == .metaSet && inlineValue == nil {
            // The data block follows from the client; the reply is due once it is complete.
            let entry = PendingReply(part: part, role: role, shape: .metaClient, deadline: .max)
            client.addStreamTarget(connection, entry: entry, line: UnsafeRawBufferPointer(rebasing: request[0..<(request.count - 2)]))
            return
        }
        let entry = PendingReply(part: part, role: role, shape: .metaClient, deadline: worker.replyDeadline())
        if let inlineValue {
            lineScratch.clear()
            lineScratch.append(request)
            lineScratch.append(inlineValue)
            lineScratch.append("\r\n")
            connection.submit(lineScratch.readableBytes, appendLineEnd: false, entry: entry)
        } else {
            connection.submit(request, appendLineEnd: false, entry: entry)
        }
    }
}
