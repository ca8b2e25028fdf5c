// How a meta request's part decides what its client hears: the primary's
// reply, else the backup's, else an error; a miss on a recovering primary is
// first restored from the backup and asked again; writes the backup cannot
// repeat reach it as the primary's result. Quiet (q) replies are hidden the
// way memcached hides them; binary clients get their reply framed as packets.

extension ReplyPart {
    /// A VA header or value bytes from the server answering this request.
    func metaReceiveItem(_ bytes: UnsafeRawBufferPointer, startsItem: Bool, endsItem: Bool) {
        if startsItem {
            itemOpen = true
            itemStart = buffer.readableCount
        }
        deliverItem(bytes, startsItem: startsItem, endsItem: endsItem)
        if endsItem { itemOpen = false }
    }

    /// A VA reply is over: the request succeeded on `role`.
    func metaValueEnded(from role: ServerRole) {
        guard !isComplete else { return }
        if role == .primary { primaryState = .replied } else { backupState = .replied }
        forgetKeptDelete(on: role)
        complete()
        if role == .primary { metaReplicate() }
    }

    /// A one-line reply: HD, NF, NS, EX, EN, ME or an error.
    func metaReceiveLine(_ line: UnsafeRawBufferPointer, from role: ServerRole, isError: Bool) {
        if restoringKey && role == .backup {
            finishRestore()  // the backup could not say (no meta commands): the request goes on
            return
        }
        let succeeded = !isError && line.starts(with: "HD")
        if succeeded && command != .metaDelete && command != .metaGet { forgetKeptDelete(on: role) }
        if role == .primary {
            if missFailover && !metaRetried && line.starts(with: "EN") && route.hasBackup && worker.isUp(route.backup) {
                // The primary may not have the key back yet: restore it from
                // the backup (never over anything newer) and ask again.
                metaRetried = true
                restoreKeyThenWrite()
                return
            }
            primaryState = .replied
            if !isComplete {
                deliverLine(line)
                complete()
            }
            if succeeded { metaReplicate() }
            return
        }
        backupState = .replied
        if primaryState == .pending || primaryState == .replied {
            // Both were asked: the primary's reply is the one the client hears.
            if !isComplete { backupReply.append(line) }
            resolveWrite()
        } else if !isComplete {
            deliverLine(line)
            complete()
        }
    }

    /// The connection to `role` broke or timed out before it replied.
    func metaSourceFailed(role: ServerRole, reason: BackendFailure) {
        if restoringKey && role == .backup {
            finishRestore()
            return
        }
        if role == .primary { primaryState = .failed } else { backupState = .failed }
        if command == .metaDelete && metaStrategy == .parallelWrite { keepDeleteFor(role: role) }
        guard !isComplete else { return }
        if metaStrategy == .read && role == .primary && backupState == .unused && !emittedToClient
            && route.hasBackup && worker.isUp(route.backup) {
            buffer.clear()
            itemOpen = false
            binaryValueRemaining = 0
            backupState = .pending
            submitKeptRequest(to: .backup)
            return
        }
        dropOpenItem()
        if role == .primary && reason.requestWasNotSent && fallBackToBackup() { return }
        resolveWrite()
    }

    /// After the primary applied a write the backup cannot repeat (or an mg
    /// with T hit), the backup gets the item as the primary now holds it.
    private func metaReplicate() {
        guard metaStrategy == .primaryFirst || metaReplicatesOnHit, backupState == .unused,
              route.hasBackup, worker.isUp(route.backup) else { return }
        readBackToBackup()
    }

    /// Written again: a delete kept for this server must not undo it.
    private func forgetKeptDelete(on role: ServerRole) {
        guard command == .metaSet || command == .metaArithmetic else { return }
        worker.context.pendingDeletes.forget(server: role == .primary ? route.primary : route.backup, key: key.readableBytes)
    }

    // MARK: - Toward the client
    // Every part's one-line reply and failure go through these: text writes
    // (no framing, never quiet) are emitted as they are.

    func deliverLine(_ line: UnsafeRawBufferPointer) {
        if let binary {
            binaryDeliverLine(line, framing: binary)
            return
        }
        if metaQuiet && hiddenWhenQuiet(line) { return }
        emit(line)
    }

    private func deliverItem(_ bytes: UnsafeRawBufferPointer, startsItem: Bool, endsItem: Bool) {
        if let binary {
            binaryDeliverItem(bytes, startsItem: startsItem, endsItem: endsItem, framing: binary)
            return
        }
        // memcached 1.6 hides ma's value too under q.
        if metaQuiet && command == .metaArithmetic { return }
        emit(bytes)
    }

    func deliverFailure() {
        if let binary {
            binaryDeliverStatus(.temporaryFailure, framing: binary)
            return
        }
        emit(failure.replyText)
    }

    /// What memcached leaves out under q: EN for mg, HD for ms, md and ma.
    private func hiddenWhenQuiet(_ line: UnsafeRawBufferPointer) -> Bool {
        command == .metaGet ? line.starts(with: "EN") : line.starts(with: "HD")
    }
}
