// What a reply part does so that a restarted memcached loses nothing: misses
// on a recovering primary are asked of the backup and written back, writes
// the backup cannot repeat are copied from the primary after it applied them,
// and deletes a server missed are kept for it.

extension ReplyPart {
    // MARK: - Miss failover and read repair

    /// A VALUE line from the primary: every requested key before its key was a miss.
    func noteAnswered(valueHeader: UnsafeRawBufferPointer) {
        guard valueHeader.count > 6 else { return }
        var end = 6
        while end < valueHeader.count && valueHeader[end] != 32 && valueHeader[end] != 13 { end += 1 }
        let answered = UnsafeRawBufferPointer(rebasing: valueHeader[6..<end])
        collectMisses(until: answered)
    }

    /// Moves `keyCursor` past `answered` (memcached answers in request order),
    /// noting the keys skipped as misses; nil collects every remaining key.
    private func collectMisses(until answered: UnsafeRawBufferPointer?) {
        let line = request.readableBytes
        var position = keyCursor
        while let range = Self.nextKey(in: line, from: &position) {
            let key = UnsafeRawBufferPointer(rebasing: line[range])
            if let answered, key.elementsEqual(answered) {
                keyCursor = position
                return
            }
            missingKeys.append(byte: 32)
            missingKeys.append(key)
        }
        keyCursor = position
    }

    /// After the primary's END: asks the backup for each key the primary
    /// lacked, one `mg` each. Returns false when there is nothing to ask.
    func startRepair() -> Bool {
        collectMisses(until: nil)
        guard !missingKeys.isEmpty, route.hasBackup, worker.isUp(route.backup), owner != nil else { return false }
        repairing = true
        let keys = missingKeys.readableBytes
        var iterator = KeyIterator(keys: ByteRange(start: 0, count: keys.count))
        while let range = iterator.next(in: keys) {
            repairOutstanding += 1
            worker.forwarder.submitMetaGet(UnsafeRawBufferPointer(rebasing: keys[range.start..<range.end]), withCas: command == .gets,
                                           to: route.backup, role: .backup, for: self)
        }
        return true
    }

    /// The key the next backup reply answers.
    private var currentRepairKey: UnsafeRawBufferPointer {
        let keys = missingKeys.readableBytes
        var position = repairCursor
        while position < keys.count && keys[position] == 32 { position += 1 }
        var end = position
        while end < keys.count && keys[end] != 32 { end += 1 }
        return UnsafeRawBufferPointer(rebasing: keys[position..<end])
    }

    /// A VA header or value bytes from the backup: passed to the client as a
    /// VALUE block, and kept for the write-back.
    func repairReceive(_ bytes: UnsafeRawBufferPointer, startsItem: Bool, endsItem: Bool) {
        if startsItem {
            repairItemStarted = true
            let key = currentRepairKey
            let header = MetaValueHeader(bytes)
            repairSkip = worker.context.pendingDeletes.contains(server: route.backup, key: key)
            guard !repairSkip else { return }
            worker.counters.add(.missFailoverHits)
            worker.counters.add(.getHits)
            let line = backupReply
            line.clear()
            line.append("VALUE ")
            line.append(key)
            line.append(byte: 32)
            line.appendDecimal(Int(header.flags))
            line.append(byte: 32)
            line.appendDecimal(header.size)
            if command == .gets {
                line.append(byte: 32)
                line.appendDecimal(Int(truncatingIfNeeded: header.cas))
            }
            line.append("\r\n")
            itemOpen = true
            itemStart = buffer.readableCount
            emit(line.readableBytes)
            Self.writeStorageLine("add ", key: key, header: header, into: replica)
            return
        }
        guard !repairSkip else { return }
        emit(bytes)
        replica.append(bytes)
        if endsItem { itemOpen = false }
    }

    /// One backup reply is over (value, miss, error or failure).
    func repairEntryDone() {
        if itemOpen {
            dropOpenItem()  // the backup failed in the middle of a value
        } else if repairItemStarted && !repairSkip && worker.isUp(route.primary) {
            // Written back without overwriting anything newer.
            worker.forwarder.submitSilently(replica.readableBytes, to: route.primary, clientID: clientID)
        }
        let keys = missingKeys.readableBytes
        while repairCursor < keys.count && keys[repairCursor] == 32 { repairCursor += 1 }
        while repairCursor < keys.count && keys[repairCursor] != 32 { repairCursor += 1 }
        repairItemStarted = false
        repairSkip = false
        repairOutstanding -= 1
        if repairOutstanding == 0 { complete() }
    }

    // MARK: - Replication the backup cannot get wrong

    /// Once the primary has applied a write the backup must not repeat blindly,
    /// the backup gets the primary's result: the stored value of an add,
    /// replace or cas, or the item read back after append, prepend, incr,
    /// decr or touch.
    func replicateAfterPrimary(_ line: UnsafeRawBufferPointer) {
        guard command.replicatesAfterPrimary, backupState == .unused, route.hasBackup, worker.isUp(route.backup) else { return }
        let succeeded: Bool
        switch command {
        case .incr, .decr:
            succeeded = line.count > 2 && line[0] >= 48 && line[0] <= 57
        case .touch:
            succeeded = line.starts(with: "TOUCHED")
        default:
            succeeded = line.starts(with: "STORED")
        }
        guard succeeded else { return }
        if command.capturesValue {
            // "add|replace|cas <key> <flags> <exptime> <bytes>[ <cas>]\r\n" becomes a set.
            let line = request.readableBytes
            let scratch = worker.forwarder.lineScratch
            scratch.clear()
            scratch.append("set")
            scratch.append(UnsafeRawBufferPointer(rebasing: line[command.verb.utf8CodeUnitCount..<Self.endOfLengthToken(line, command: command)]))
            scratch.append("\r\n")
            scratch.append(replica.readableBytes)
            worker.forwarder.submitSilently(scratch.readableBytes, to: route.backup, clientID: clientID)
        } else {
            readBackToBackup()
        }
    }

    /// Reads the key back from the primary, for a replicator part that sets
    /// it on the backup (or deletes it there when the primary no longer has it).
    func readBackToBackup() {
        let replicator = worker.partPool.acquire(worker: worker, kind: .replicator)
        replicator.route = route
        replicator.clientID = clientID
        replicator.key.append(key.readableBytes)
        // On the write's own connection: the read comes after the write.
        worker.forwarder.submitMetaGet(key.readableBytes, withCas: false, to: route.primary, role: .primary, for: replicator)
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

    /// The primary was never reached, so the write cannot have happened there:
    /// it goes to the backup instead, once. Returns false when there is no
    /// backup to go to.
    func fallBackToBackup() -> Bool {
        guard writesAfterPrimary, backupState == .unused, !request.isEmpty,
              route.hasBackup, worker.isUp(route.backup) else { return false }
        backupState = .pending
        worker.counters.add(.writesToBackup)
        if capturing {
            fallbackPending = true
        } else {
            submitKeptRequest(to: .backup)
        }
        return true
    }

    /// Sends the kept command line and value (`request` + `replica`) to the
    /// primary or the backup, this part hearing the reply.
    func submitKeptRequest(to role: ServerRole) {
        if role == .primary { primarySendPending = false } else { fallbackPending = false }
        let scratch = worker.forwarder.lineScratch
        scratch.clear()
        scratch.append(request.readableBytes)
        scratch.append(replica.readableBytes)
        worker.pools[role == .primary ? route.primary : route.backup].connection(forClient: clientID).submit(
            scratch.readableBytes, appendLineEnd: false,
            entry: PendingReply(part: self, role: role, shape: keptShape, deadline: worker.replyDeadline()))
    }

    /// Writes the backup gets only once the primary applied them.
    var writesAfterPrimary: Bool { kind == .meta ? metaStrategy == .primaryFirst : command.replicatesAfterPrimary }

    /// The client finished sending the kept value.
    func captureFinished() {
        capturing = false
        if fallbackPending { submitKeptRequest(to: .backup) }
        if primarySendPending { submitKeptRequest(to: .primary) }
    }

    // MARK: - Writes on a key a recovering primary may not have yet

    /// incr, append, touch, replace, add... act on what the primary holds. On a
    /// recovering primary the key may still be only on the backup, so it is
    /// first restored from there (add: nothing newer is overwritten), then the
    /// write is sent; both travel the same connection, in that order.
    func restoreKeyThenWrite() {
        restoringKey = true
        worker.forwarder.submitMetaGet(key.readableBytes, withCas: false, to: route.backup, role: .backup, for: self)
    }

    /// The backup's copy of the key, turned into an add for the primary.
    func restoreReceive(_ bytes: UnsafeRawBufferPointer, startsItem: Bool) {
        guard startsItem else {
            if !repairSkip { restore.append(bytes) }
            return
        }
        // A key deleted while the backup was away must not come back.
        repairSkip = worker.context.pendingDeletes.contains(server: route.backup, key: key.readableBytes)
        guard !repairSkip else { return }
        Self.writeStorageLine("add ", key: key.readableBytes, header: MetaValueHeader(bytes), into: restore)
    }

    /// The backup answered (value, miss, error) or failed: restore what it had,
    /// then send the write.
    func finishRestore() {
        restoringKey = false
        repairSkip = false
        if !restore.isEmpty && worker.isUp(route.primary) {
            worker.forwarder.submitSilently(restore.readableBytes, to: route.primary, clientID: clientID)
        }
        restore.clear()
        if capturing {
            primarySendPending = true
        } else {
            submitKeptRequest(to: .primary)
        }
    }

    /// The item read back from the primary, turned into a set for the backup.
    func replicatorReceive(_ bytes: UnsafeRawBufferPointer, startsItem: Bool) {
        if startsItem {
            Self.writeStorageLine("set ", key: key.readableBytes, header: MetaValueHeader(bytes), into: replica)
            itemOpen = true
            return
        }
        replica.append(bytes)
    }

    /// The read-back is over: the backup gets the value, or loses a key the
    /// primary no longer has.
    func replicatorEnd() {
        guard worker.isUp(route.backup) else { return }
        if itemOpen {
            worker.forwarder.submitSilently(replica.readableBytes, to: route.backup, clientID: clientID)
        } else {
            Self.writeDeleteLine(key: key.readableBytes, into: replica)
            worker.forwarder.submitSilently(replica.readableBytes, to: route.backup, clientID: clientID)
        }
    }

    // MARK: - Deletes

    /// A delete the server of `role` did not get is kept for when it is back.
    func keepDeleteFor(role: ServerRole) {
        let server = role == .primary ? route.primary : route.backup
        guard server >= 0 else { return }
        worker.context.pendingDeletes.add(server: server, key: key.readableBytes)
    }
}

extension ReplyPart {
    /// "<verb><key> <flags> <exptime> <bytes>\r\n" for an item read with `mg`,
    /// its remaining TTL turned back into an exptime; replaces what `line` held.
    /// A key that cannot sit on a text line becomes the meta equivalent:
    /// `ms <base64 key> <bytes> b F<flags> T<exptime>[ ME]` (ME: add).
    static func writeStorageLine(_ verb: StaticString, key: UnsafeRawBufferPointer, header: MetaValueHeader, into line: ByteBuffer) {
        line.clear()
        guard KeyToken.isTextSafe(key) else {
            line.append("ms ")
            Base64.encode(key, into: line)
            line.append(byte: 32)
            line.appendDecimal(header.size)
            line.append(" b F")
            line.appendDecimal(Int(header.flags))
            line.append(" T")
            line.appendDecimal(ServerRefiller.exptime(remaining: header.ttl))
            if verb.utf8Start[0] == UInt8(ascii: "a") { line.append(" ME") }
            line.append("\r\n")
            return
        }
        line.append(verb)
        line.append(key)
        line.append(byte: 32)
        line.appendDecimal(Int(header.flags))
        line.append(byte: 32)
        line.appendDecimal(ServerRefiller.exptime(remaining: header.ttl))
        line.append(byte: 32)
        line.appendDecimal(header.size)
        line.append("\r\n")
    }
}

extension ReplyPart {
    /// `delete <key>`, or `md <base64 key> b` for a key a text line cannot hold.
    static func writeDeleteLine(key: UnsafeRawBufferPointer, into line: ByteBuffer) {
        line.clear()
        if KeyToken.isTextSafe(key) {
            line.append("delete ")
            line.append(key)
        } else {
            line.append("md ")
            Base64.encode(key, into: line)
            line.append(" b")
        }
        line.append("\r\n")
    }
}

/// The fields of a meta "VA <size> f<flags> t<ttl> c<cas> ..." line.
struct MetaValueHeader {
    var size = 0
    var flags: UInt32 = 0
    /// Remaining seconds; -1 when the item never expires.
    var ttl = -1
    var cas: UInt64 = 0

    init(_ line: UnsafeRawBufferPointer) {
        var index = 0
        var token = 0
        while index < line.count && line[index] != 13 && line[index] != 10 {
            while index < line.count && line[index] == 32 { index += 1 }
            let start = index
            while index < line.count && line[index] != 32 && line[index] != 13 && line[index] != 10 { index += 1 }
            guard index > start else { break }
            let field = UnsafeRawBufferPointer(rebasing: line[start..<index])
            if token == 1 {
                size = Int(Self.number(field) ?? 0)
            } else if token > 1 {
                let value = UnsafeRawBufferPointer(rebasing: field[1...])
                switch field[0] {
                case UInt8(ascii: "f"): flags = UInt32(truncatingIfNeeded: Self.number(value) ?? 0)
                case UInt8(ascii: "t"): ttl = Int(Self.number(value) ?? -1)
                case UInt8(ascii: "c"): cas = UInt64(Self.number(value) ?? 0)
                default: break
                }
            }
            token += 1
        }
    }

    /// A signed decimal number.
    private static func number(_ bytes: UnsafeRawBufferPointer) -> Int64? {
        var value: Int64 = 0
        var negative = false
        for (index, byte) in bytes.enumerated() {
            if index == 0 && byte == 45 { negative = true; continue }
            guard byte >= 48 && byte <= 57 else { return nil }
            value = value &* 10 &+ Int64(byte - 48)
        }
        return negative ? -value : value
    }
}
