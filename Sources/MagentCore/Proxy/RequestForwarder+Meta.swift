// Meta commands (mg, ms, md, ma, me, mn) through the same jobs as the classic
// ones: the raw key picks the servers, reads are retrieval jobs, writes are
// write jobs (plain sets and deletes to both servers at once, the rest to the
// primary first). Binary requests arrive here translated into meta.

extension RequestForwarder {
    /// A text client's meta command, `request.forward` covering the whole line.
    func forwardMeta(_ request: ParsedRequest, line: UnsafeRawBufferPointer, client: ClientConnection) {
        if request.command == .metaNoop {
            client.reply("MN\r\n")
            return
        }
        let wireKey = line[request.key]
        keyScratch.clear()
        if request.meta.base64 { _ = Base64.decode(wireKey, into: keyScratch) } else { keyScratch.append(wireKey) }
        // The line memcached gets: as sent, less the q flag (the proxy always
        // needs the reply; it hides what memcached would have hidden).
        metaLine.clear()
        var tokens = LineTokens(range: request.forward)
        while let token = tokens.next(in: line) {
            if token.count == 1 && line[token.start] == UInt8(ascii: "q") { continue }
            if !metaLine.isEmpty { metaLine.append(byte: 32) }
            metaLine.append(line[token])
        }
        dispatchMeta(request.command, flags: request.meta, key: keyScratch.readableBytes, line: metaLine.readableBytes,
                     inlineValue: nil, framing: .meta(quiet: request.meta.quiet), client: client)
    }

    /// Starts the job for one meta request (`line` without its line end) on
    /// the raw `key`. `inlineValue` (without its \r\n) comes with binary sets;
    /// text clients stream theirs after the line.
    func dispatchMeta(_ command: Command, flags: MetaFlags, key: UnsafeRawBufferPointer, line: UnsafeRawBufferPointer,
                      inlineValue: UnsafeRawBufferPointer?, framing: ReplyFraming, client: ClientConnection) {
        if case .binary = framing { worker.counters.count(command) }  // text requests were counted by forward()
        let isRead = command == .metaGet || command == .metaDebug
        let (handle, record) = worker.executor.newJob(isRead ? .retrieval : .write, slot: worker.executor.newSlot(for: client))
        record.route = topology.route(for: key)
        record.command = command
        record.clientID = client.id
        record.framing = framing
        record.key.append(key)
        record.request.append(line)
        record.request.append("\r\n")
        if let inlineValue {
            record.value.append(inlineValue)
            record.value.append("\r\n")
        }
        if isRead {
            record.retrieval = RetrievalJob(.metaRead(replicatesOnHit: flags.updatesTTL,
                                                      missFailoverAllowed: command == .metaGet && !flags.vivify))
        } else {
            let plain = (command == .metaSet || command == .metaDelete) && flags.isPlainWrite(command)
            record.valueFollows = command == .metaSet && inlineValue == nil
            record.write = WriteJob(strategy: plain ? .parallel : .primaryFirst(.readBack),
                                    isDelete: command == .metaDelete,
                                    forgetsDeleteOnSuccess: command == .metaSet || command == .metaArithmetic,
                                    valueFollows: record.valueFollows)
        }
        worker.executor.start(handle, record: record, client: client)
    }
}
